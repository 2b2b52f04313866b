"""The console's routes in process on the real PostgreSQL (no broker: the page says so):
who may see it outside local and test, and what its JSON shows of events applied the way
the consumer applies them (opened without a key, in the test environment: everything; what
each key sees: test_analyst_console_keys)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from monitoring.config import MonitoringSettings
from monitoring.main import create_app
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import (
    CancellationRefused,
    DisputeEscalated,
    DisputeOpened,
    DisputeSettled,
    OrderAccepted,
    OrderCancelled,
    OrderPlaced,
    OrderShipped,
    WorkCancelled,
    follow_up,
)
from supplychain_contracts.envelope import Envelope
from supplychain_kit.http.auth import key_digest
from support.events import order_placed
from support.service import apply_events

ADMIN_KEY, DEPARTMENT_KEY, FINANCE_KEY = "ops-admin-key", "wheels-key", "finance-key"


async def running(settings: MonitoringSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            yield app, client


def settings_for(database_url: str, **overrides: Any) -> MonitoringSettings:
    return MonitoringSettings(
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing listens: the broker is "down"
        **overrides,
    )


@pytest.fixture
async def staging(database: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        database.new_database(),
        environment="staging",
        department_api_keys=json.dumps(
            [{"key_id": "w", "department": "WHEELS", "sha256": key_digest(DEPARTMENT_KEY)}]
        ),
        admin_api_keys=json.dumps([{"key_id": "ops", "sha256": key_digest(ADMIN_KEY)}]),
        finance_api_keys=json.dumps([{"key_id": "fin", "sha256": key_digest(FINANCE_KEY)}]),
    )
    async for _, client in running(settings):
        yield client


@pytest.fixture
async def local(database: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = settings_for(database.new_database(), environment="test")
    async for app, client in running(settings):
        yield app, client


@pytest.mark.parametrize(
    "path",
    [
        "/console",
        "/console/fragments/overview",
        "/console/fragments/chains/0827e283-4e29-4931-a495-44bd818786be",
        "/v1/console/overview",
        "/v1/console/chains/9563a64d-2a3d-4169-9bbf-5a81aad2dbc9",
    ],
)
async def test_outside_local_and_test_the_console_needs_a_key_and_not_finances(
    staging: httpx.AsyncClient, path: str
) -> None:
    anonymous = await staging.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    finance = await staging.get(path, headers={"Authorization": f"Bearer {FINANCE_KEY}"})
    assert finance.status_code == 403
    # a department opens it too, and sees what it is party to (a chain it is not: 404)
    department = await staging.get(path, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"})
    assert department.status_code == (404 if "chains" in path else 200)


async def test_an_admin_sees_the_console_and_learns_the_broker_is_down(
    staging: httpx.AsyncClient,
) -> None:
    page = await staging.get("/console", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "The broker is not reachable." in page.text
    assert "No order seen yet" in page.text
    # the assets hold no data: no key needed, and only the console's own files
    assert (await staging.get("/console/static/console.js")).status_code == 200
    assert (await staging.get("/console/static/console.css")).status_code == 200
    missing = await staging.get("/console/static/..%2Fconsole.py")
    assert missing.status_code == 404


async def apply_all(app: FastAPI, *events: Envelope) -> None:
    await apply_events(app.state.runtime.pool, event_applier(Emitting()), *events)


def placed(at: datetime, *, supplier: str = "WHEELS") -> OrderPlaced:
    return order_placed(
        occurred_at=at,
        producer="order-intake",
        supplier=supplier,
        sku="WHEEL-28",
        quantity=2,
        unit_price="38.50",
    )


async def test_the_console_shows_chains_newest_first_and_stages_by_time_to_breach(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    now = datetime.now(UTC)
    # WHEELS' sample policy: acceptance within 30 s (24/7)
    overdue = placed(now - timedelta(seconds=100))
    accepted = placed(now - timedelta(seconds=20))
    fresh = placed(now - timedelta(seconds=1))
    await apply_all(
        app,
        overdue,
        accepted,
        OrderAccepted(
            order_id=accepted.order_id,
            root_order_id=accepted.order_id,
            occurred_at=now - timedelta(seconds=19),
            producer="fulfilment",
            supplier="WHEELS",
            requester="ASSEMBLY",
        ),
        fresh,
    )

    view = (await client.get("/v1/console/overview")).json()
    chains = [(c["order_id"], c["state"]) for c in view["chains"]]
    assert chains == [
        (str(fresh.order_id), "placed"),
        (str(accepted.order_id), "accepted"),
        (str(overdue.order_id), "placed"),
    ]
    # running: acceptance and end to end; once accepted, fulfilment and end to end
    assert [(c["open_stages"], c["sub_orders"]) for c in view["chains"]] == [(2, 0)] * 3
    board = [(s["order_id"], s["stage"], s["status"]) for s in view["sla"]["open_stages"]]
    acceptance = [entry for entry in board if entry[1] == "acceptance"]
    assert acceptance == [
        (str(overdue.order_id), "acceptance", "breached"),
        (str(fresh.order_id), "acceptance", "open"),
    ]
    breach_in = {
        (s["order_id"], s["stage"]): s["seconds_to_breach"] for s in view["sla"]["open_stages"]
    }
    assert breach_in[(str(overdue.order_id), "acceptance")] < -60
    assert 0 < breach_in[(str(fresh.order_id), "acceptance")] <= 30
    assert view["dead_letters"] is None  # the broker is down
    assert [card["supplier"] for card in view["scorecards"]] == ["WHEELS"]

    chain = (await client.get(f"/v1/console/chains/{accepted.order_id}")).json()
    assert chain["state"] == "accepted"
    stages = {bar["stage"]: bar for bar in chain["bars"]}
    assert stages["acceptance"]["status"] == "met"
    assert stages["acceptance"]["target_seconds"] == 30  # named as the handoffs API names it
    assert stages["fulfilment"]["status"] == "open"

    page = await client.get("/console")  # no key in the test environment
    assert page.status_code == 200
    assert str(fresh.order_id) in page.text

    unknown = await client.get(f"/v1/console/chains/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "order_id"
    assert (await client.get("/v1/console/chains/not-an-id")).status_code == 422


async def test_the_console_follows_settled_cancellations_and_shows_open_disputes(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    now = datetime.now(UTC)

    def then(order: OrderPlaced, event_class: Any, seconds: float, **fields: Any) -> Any:
        at = order.occurred_at + timedelta(seconds=seconds)
        return follow_up(order, event_class, producer="fulfilment", occurred_at=at, **fields)

    pending, refused, cancelled = (placed(now - timedelta(seconds=s)) for s in (30, 20, 10))
    await apply_all(
        app,
        pending,
        then(pending, OrderCancelled, 1, reason="not needed"),
        refused,
        then(refused, OrderAccepted, 1),
        then(refused, OrderShipped, 2),
        then(refused, OrderCancelled, 3, reason="changed my mind"),
        then(refused, CancellationRefused, 4, reason="already shipped"),
        cancelled,
        then(cancelled, OrderAccepted, 1),
        then(cancelled, OrderCancelled, 2),
        then(cancelled, WorkCancelled, 3, reason="cancelled by the requester"),
    )
    view = (await client.get("/v1/console/overview")).json()
    chains = {c["order_id"]: c for c in view["chains"]}
    shown = {
        order.order_id: (
            chains[str(order.order_id)]["state"],
            chains[str(order.order_id)]["open_stages"],
        )
        for order in (pending, refused, cancelled)
    }
    # a request ends nothing; a refusal leaves the order going on; cancelled work ends it
    assert shown == {
        pending.order_id: ("cancellation requested", 2),
        refused.order_id: ("shipped", 2),  # delivery and end to end run on
        cancelled.order_id: ("cancelled", 0),
    }
    assert chains[str(refused.order_id)]["cancellation_refused"]
    chain = (await client.get(f"/v1/console/chains/{refused.order_id}")).json()
    assert [(n["label"], n["reason"]) for n in chain["notes"]] == [
        ("cancellation requested", "changed my mind"),
        ("cancellation refused", "already shipped"),
    ]
    bars = {
        b["stage"]: b
        for b in (await client.get(f"/v1/console/chains/{cancelled.order_id}")).json()["bars"]
    }
    assert bars["fulfilment"]["ended_at"] == bars["end_to_end"]["ended_at"] is not None

    disputed = [uuid.uuid4() for _ in range(3)]
    invoice = uuid.uuid4()

    def dispute(event_class: Any, dispute_id: uuid.UUID, seconds: float, **fields: Any) -> Any:
        return then(
            refused, event_class, seconds, dispute_id=dispute_id, invoice_id=invoice, **fields
        )

    await apply_all(
        app,
        *(
            dispute(DisputeOpened, d, 5 + i, amount="12.50", currency="EUR", reason="scratched")
            for i, d in enumerate(disputed)
        ),
        dispute(DisputeEscalated, disputed[1], 9, opened_at=now),
        dispute(DisputeSettled, disputed[2], 9, outcome="rejected", amount="12.50", currency="EUR"),
    )
    view = (await client.get("/v1/console/overview")).json()
    assert [(d["dispute_id"], d["status"], d["amount"]) for d in view["disputes"]] == [
        (str(disputed[0]), "open", "12.50"),
        (str(disputed[1]), "escalated", "12.50"),
    ]
    assert all(d["invoice_id"] == str(invoice) and d["age_s"] > 0 for d in view["disputes"])
    page = (await client.get("/console")).text
    assert "Open disputes" in page and "cancellation refused" in page
    fragment = (await client.get(f"/console/fragments/chains/{refused.order_id}")).text
    assert "already shipped" in fragment and "dispute rejected" in fragment
