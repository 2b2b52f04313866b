"""The time split, the scorecards' split and the bottleneck ranking read over HTTP from
events applied by monitoring's real event applier on the real PostgreSQL (no broker), and the
live wait / work histograms with their trace exemplars.

A chain over a weekend: MARKETING asks FACILITIES (Monday to Friday, 7-18 Berlin) on a
Friday afternoon; FACILITIES waits on WHEELS (around the clock), whose delivery FACILITIES
confirms on Saturday; on Monday FACILITIES asks MARKETING a question, then ships."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from monitoring import metrics
from monitoring.analytics import scorecards
from monitoring.analytics.time_split_metrics import observe_wait_and_work
from monitoring.config import MonitoringSettings
from monitoring.main import create_app
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting, Silent
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    HelpAnswered,
    HelpAwaitingRequester,
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
    RequestedComponent,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.envelope import Envelope
from support.events import order_placed
from support.service import apply_events

# Friday 5 March 2027 (CET: FACILITIES works 06:00-17:00 UTC); the sample company's policies
# are in force from the service's start, before it
FRIDAY = datetime(2027, 3, 5, tzinfo=UTC)
SATURDAY, MONDAY = FRIDAY + timedelta(days=1), FRIDAY + timedelta(days=3)
H, M = 3600.0, 60.0
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
READER = {"Authorization": "Bearer dev-retail_ops-1"}  # any department reads the scorecards
ANALYST = {"Authorization": "Bearer dev-analyst-1"}  # company-wide process data


def at(day: datetime, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return day + timedelta(hours=hours, minutes=minutes)


@pytest.fixture
async def monitoring(database: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = MonitoringSettings(
        database_url=database.new_database(),
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing listens: no broker needed
        environment="test",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://monitoring") as client:
            yield app, client


async def apply_all(app: FastAPI, *events: Envelope, live: bool = True) -> None:
    """As the consumer applies (a replay, with `live` false), inside the chain's trace: one
    transaction per event, effects (the histograms) once it committed."""
    apply = event_applier(Emitting(observe=observe_wait_and_work) if live else Silent())
    context = SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(context)):
        await apply_events(app.state.runtime.pool, apply, *events)


def chain() -> tuple[OrderPlaced, OrderPlaced, list[Envelope]]:
    help_id = uuid.uuid4()
    root = order_placed(
        occurred_at=at(FRIDAY, "15:00"),
        producer="order-intake",
        supplier="FACILITIES",
        requester="MARKETING",
        sku="WORKSHOP-CLEAN",
        unit_price="90.00",
    )
    wheels = order_placed(
        parent=root,
        occurred_at=at(FRIDAY, "15:10"),
        producer="fulfilment",
        supplier="WHEELS",
        sku="WHEEL-28",
        quantity=2,
        unit_price="38.50",
    )
    wheels_id = wheels.order_id

    def on(order: OrderPlaced, model: type[Envelope], when: datetime, **fields: Any) -> Envelope:
        return follow_up(order, model, producer="fulfilment", occurred_at=when, **fields)

    component = RequestedComponent(
        order_id=wheels_id, sku="WHEEL-28", quantity=2, supplier="WHEELS"
    )
    lines = root.lines
    events = [
        root,
        on(root, OrderAccepted, at(FRIDAY, "15:10")),
        on(root, ComponentsRequested, at(FRIDAY, "15:10"), components=(component,)),
        wheels,
        on(root, WorkStarted, at(FRIDAY, "15:20")),
        on(wheels, OrderAccepted, at(FRIDAY, "15:15")),
        on(wheels, WorkStarted, at(FRIDAY, "16:10")),
        on(wheels, OrderShipped, at(FRIDAY, "17:10")),
        on(wheels, OrderDelivered, at(SATURDAY, "09:10"), lines=wheels.lines),
        on(root, ComponentsReceived, at(SATURDAY, "09:10"), sub_order_ids=(wheels_id,)),
        on(
            root,
            HelpAwaitingRequester,
            at(MONDAY, "08:00"),
            help_event_id=help_id,
            question="Which room?",
        ),
        on(root, HelpAnswered, at(MONDAY, "09:00"), help_event_id=help_id, answer="Workshop 2"),
        on(root, OrderShipped, at(MONDAY, "10:00")),
        on(root, OrderDelivered, at(MONDAY, "11:00"), lines=lines),
        on(
            root,
            InvoiceIssued,
            at(MONDAY, "11:05"),
            invoice_id=uuid.uuid4(),
            period="2027-03",
            currency="EUR",
            lines=(),
            total="90.00",
        ),
    ]
    return root, wheels, events


def histogram(family: str, supplier: str, requester: str) -> tuple[float, float]:
    labels = {"supplier": supplier, "requester": requester}
    count = REGISTRY.get_sample_value(f"{family}_count", labels) or 0.0
    return count, REGISTRY.get_sample_value(f"{family}_sum", labels) or 0.0


def exemplar_traces(supplier: str) -> set[str]:
    return {
        sample.exemplar.labels["trace_id"]
        for family in metrics.HANDOFF_WAIT.collect()
        for sample in family.samples
        if sample.exemplar and sample.labels.get("supplier") == supplier
    }


def split(row: dict[str, Any], kind: str = "wall_seconds") -> dict[str, float]:
    return {k: v for k, v in row["time_split"][kind].items() if v}


async def test_a_chain_over_a_weekend_split_scored_and_ranked(
    monitoring: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = monitoring
    root, wheels, events = chain()
    wait_before = histogram("supplychain_handoff_wait_seconds", "WHEELS", "FACILITIES")
    work_before = histogram("supplychain_handoff_work_seconds", "FACILITIES", "MARKETING")
    await apply_all(app, *events)

    # the live histograms: WHEELS waited an hour; FACILITIES worked from the frame's arrival
    # on Saturday to Monday 10:00, less the hour paused
    assert histogram("supplychain_handoff_wait_seconds", "WHEELS", "FACILITIES") == (
        wait_before[0] + 1,
        wait_before[1] + H,
    )
    assert histogram("supplychain_handoff_work_seconds", "FACILITIES", "MARKETING") == (
        work_before[0] + 1,
        work_before[1] + 46 * H + 50 * M + H,
    )
    assert format(TRACE_ID, "032x") in exemplar_traces("WHEELS")

    # the chain's handoffs are its parties' (the root's requester reads them all the way down)
    requester = {"Authorization": f"Bearer dev-{root.requester.lower()}-1"}
    response = await client.get(f"/v1/orders/{root.order_id}/handoffs", headers=requester)
    assert response.status_code == 200, response.text
    rows = {(r["order_id"], r["stage"]): r for r in response.json()}
    fulfilment = rows[(str(root.order_id), "fulfilment")]
    assert split(fulfilment) == {"blocked": 18 * H, "working": 46 * H + 50 * M + H, "paused": H}
    # FACILITIES' week: Friday until 17:00 UTC, nothing at the weekend, Monday from 06:00
    assert split(fulfilment, "business_seconds") == {
        "blocked": 110 * M,
        "working": 3 * H,
        "paused": H,
    }
    end_to_end = rows[(str(root.order_id), "end_to_end")]
    assert end_to_end["time_split"]["critical_path"] == [str(root.order_id), str(wheels.order_id)]
    assert split(end_to_end) == {
        "waiting": 10 * M + H,
        "working": H + 46 * H + 50 * M + H,
        "with_requester": 16 * H + H,
        "paused": H,
    }
    assert sum(split(end_to_end).values()) == 68 * H  # Friday 15:00 to Monday 11:00
    assert not end_to_end["time_split"]["open"]
    assert split(rows[(str(wheels.order_id), "delivery")]) == {"with_requester": 16 * H}
    assert split(rows[(str(wheels.order_id), "delivery")], "business_seconds") == {}

    cards = await client.get("/v1/scorecards", params={"period": "2027-03"}, headers=READER)
    assert cards.status_code == 200, cards.text
    by_supplier = {card["supplier"]: card for card in cards.json()}
    (pair,) = by_supplier["FACILITIES"]["time_split_by_requester"]
    assert (pair["requester"], pair["orders_delivered"]) == ("MARKETING", 1)
    assert pair["total_wall_seconds"]["blocked"] == 18 * H
    assert by_supplier["WHEELS"]["time_split"]["average_business_seconds"] == {
        "waiting": H,
        "working": H,
        "blocked": 0.0,
        "with_requester": 0.0,  # FACILITIES confirmed on a Saturday
        "paused": 0.0,
    }

    # the console's cards leave the split out (costly, not shown), nothing else
    async with app.state.runtime.pool.acquire() as conn:
        console_cards = await scorecards.for_period(
            conn, period="2027-03", now=datetime.now(UTC), with_time_split=False
        )
    assert {c.supplier for c in console_cards} == set(by_supplier)
    for card in console_cards:
        expected = {**by_supplier[card.supplier], "time_split": None, "time_split_by_requester": []}
        assert card.model_dump(mode="json") == expected

    ranked = await client.get(
        "/v1/analytics/bottlenecks", params={"period": "2027-03"}, headers=ANALYST
    )
    assert ranked.status_code == 200, ranked.text
    body = ranked.json()
    assert (body["root_orders"], body["lead_time_seconds"]) == (1, 68 * H)
    top = body["pairs"][0]
    assert (top["requester"], top["supplier"], top["waiting_seconds"]) == (
        "FACILITIES",
        "WHEELS",
        17 * H,
    )
    assert top["examples"][0]["root_order_id"] == str(root.order_id)
    assert top["examples"][0]["trace_id"] == format(TRACE_ID, "032x")
    assert [s["stage"] for s in body["stages"]][:1] == ["delivery"]
    elsewhere = await client.get(
        "/v1/analytics/bottlenecks", params={"period": "2027-04"}, headers=ANALYST
    )
    assert (elsewhere.json()["root_orders"], elsewhere.json()["pairs"]) == (0, [])
    # a replay rebuilds the same timelines and observes nothing
    _, _, again = chain()
    await apply_all(app, *again, live=False)
    assert histogram("supplychain_handoff_wait_seconds", "WHEELS", "FACILITIES")[0] == (
        wait_before[0] + 1
    )


async def test_a_bad_period_is_a_problem_naming_it(
    monitoring: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = monitoring
    bad = await client.get(
        "/v1/analytics/bottlenecks", params={"period": "2027-13"}, headers=ANALYST
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert "period" in json.dumps(bad.json())
    anonymous = await client.get("/v1/analytics/bottlenecks", params={"period": "2027-03"})
    assert anonymous.status_code == 401
    for key in ("dev-retail_ops-1", "dev-finance-1", "dev-operator-1", "dev-admin-1"):
        refused = await client.get(
            "/v1/analytics/bottlenecks",
            params={"period": "2027-03"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert refused.status_code == 403, key
        assert "analyst" in refused.json()["detail"]
