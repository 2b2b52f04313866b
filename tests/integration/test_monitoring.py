"""Monitoring over the real broker and database: stage durations and the handoff histogram."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from supplychain_contracts import (
    InvoiceIssued,
    InvoiceLine,
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    topic_for,
    topics,
)
from support import auth, poll_http, produce
from support.metrics import consumer_outcomes

pytestmark = pytest.mark.integration
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def chain(order_id: uuid.UUID, start: datetime) -> list:
    parties = {
        "order_id": order_id,
        "root_order_id": order_id,
        "producer": "test",
        "supplier": "WHEELS",
        "requester": "ASSEMBLY",
    }
    lines = (OrderLine(sku="WHEEL-28", quantity=2, unit_price="38.50"),)
    return [
        OrderPlaced(**parties, occurred_at=start, lines=lines),
        OrderAccepted(**parties, occurred_at=start + timedelta(seconds=30)),
        OrderShipped(**parties, occurred_at=start + timedelta(seconds=150)),
        OrderDelivered(**parties, occurred_at=start + timedelta(seconds=210), lines=lines),
        InvoiceIssued(
            **parties,
            occurred_at=start + timedelta(seconds=215),
            invoice_id=uuid.uuid4(),
            period="2026-11",
            currency="EUR",
            total="77.00",
            lines=(InvoiceLine(sku="WHEEL-28", quantity=2, unit_price="38.50", amount="77.00"),),
        ),
    ]


async def test_stage_durations_are_recorded_with_trace_exemplars(start_service, broker) -> None:
    monitoring = start_service("monitoring")
    order_id = uuid.uuid4()
    events = chain(order_id, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    for event in events:
        await produce(
            broker.bootstrap_servers,
            topic_for(event),
            event.model_dump_json().encode(),
            key=str(order_id).encode(),
            headers={
                "event_type": event.event_type,
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
        )
    async with httpx.AsyncClient(base_url=monitoring.url, headers=auth("ASSEMBLY")) as client:
        handoffs = await poll_http(
            client,
            f"/v1/orders/{order_id}/handoffs",
            until=lambda r: (
                r.status_code == 200 and sum(h["duration_s"] is not None for h in r.json()) == 5
            ),
        )
        metrics = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    durations = {h["stage"]: h["duration_s"] for h in handoffs.json()}
    assert durations == {
        "acceptance": 30.0,
        "fulfilment": 120.0,
        "delivery": 60.0,
        "invoicing": 5.0,
        "end_to_end": 210.0,
    }
    assert {h["trace_id"] for h in handoffs.json()} == {TRACE_ID}
    text = metrics.text
    for stage in durations:
        assert (
            f'supplychain_handoff_duration_seconds_count{{requester="ASSEMBLY",stage="{stage}",supplier="WHEELS"}} 1'
            in text
        )
    assert f'trace_id="{TRACE_ID}"' in text  # exemplar


async def test_redelivered_events_do_not_double_count(start_service, broker) -> None:
    monitoring = start_service("monitoring")
    order_id = uuid.uuid4()
    placed, accepted = chain(order_id, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))[:2]
    for event in (placed, accepted, accepted, placed):
        await produce(
            broker.bootstrap_servers,
            topic_for(event),
            event.model_dump_json().encode(),
            key=str(order_id).encode(),
        )
    async with httpx.AsyncClient(base_url=monitoring.url, headers=auth("ASSEMBLY")) as client:
        await poll_http(
            client,
            f"/v1/orders/{order_id}/handoffs",
            until=lambda r: r.status_code == 200 and any(h["duration_s"] for h in r.json()),
        )
        # all four records consumed: the two redeliveries recognised by the inbox (a stage's
        # own guard would absorb them too, so only the consumer's count tells them apart)
        metrics = (
            await poll_http(
                client,
                "/metrics",
                until=lambda r: sum(_outcomes(r.text, o) for o in ("applied", "duplicate")) >= 4,
            )
        ).text
    assert _outcomes(metrics, "duplicate") == 2
    assert _outcomes(metrics, "applied") == 2
    assert (
        'supplychain_handoff_duration_seconds_count{requester="ASSEMBLY",stage="acceptance",supplier="WHEELS"} 1.0'
        in metrics
    )


def _outcomes(metrics_text: str, outcome: str) -> int:
    """Records of the order flow (not reference data) monitoring counted with `outcome`."""
    return sum(
        consumer_outcomes(metrics_text, service="monitoring", outcome=outcome, topic=topic)
        for topic in (topics.ORDERS, topics.FULFILMENT)
    )
