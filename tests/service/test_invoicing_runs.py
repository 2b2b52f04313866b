"""Invoicing applies a fetched batch as runs: the kit's consumer hands the order events over
together (their evidence one statement, then the deliveries of a run invoiced together), with
the same money as one event at a time: each delivered order charged once in full, a settled
cancellation never, a breach that waited credited right after its invoice, each invoice in
the trace of its delivery. Real PostgreSQL, records built as the broker hands them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing.evidence import recording
from invoicing.handlers import apply_event
from supplychain_contracts import (
    CreditNoteIssued,
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    WorkCancelled,
    follow_up,
    topics,
    utc_now,
)
from supplychain_contracts.company import sample_company
from supplychain_contracts.envelope import Event
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from support import fetched, reference_events
from support.events import order_placed, sla_breached
from support.service import ServicePool, apply_events, outbox_events, outbox_headers

GROUP = "invoicing"
BIKES = (OrderLine(sku="BIKE-CITY", quantity=2, unit_price=Decimal("299.00")),)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("invoicing")
    await apply_events(pool, apply_event, *reference_events(sample_company()))
    return pool


def placed(requester: str = "RETAIL_OPS") -> OrderPlaced:
    return order_placed(
        producer="order-intake", supplier="ASSEMBLY", requester=requester, lines=BIKES
    )


def delivered(order: OrderPlaced) -> OrderDelivered:
    return follow_up(order, OrderDelivered, producer="fulfilment", lines=order.lines)


async def consume_batch(pool: asyncpg.Pool, events: list[Event]) -> dict[uuid.UUID, str]:
    """The events as one fetched batch, each in a trace of its own; returns the traces."""
    traces = {event.event_id: uuid.uuid4().hex for event in events}
    consumer = ReliableConsumer(
        service="invoicing",
        topics=(topics.FULFILMENT, topics.SLA),
        pool=pool,
        broker=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
        apply=recording(apply_event),
        config=ConsumerConfig(group_id=GROUP),
    )
    await consumer.handle_batch(
        [
            fetched(
                event,
                offset,
                headers={
                    "traceparent": f"00-{traces[event.event_id]}-00f067aa0ba902b7-01",
                    "event_type": event.event_type,
                },
            )
            for offset, event in enumerate(events)
        ]
    )
    return traces


async def rows(pool: asyncpg.Pool, query: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(row) for row in await conn.fetch(query, *args)]


async def test_a_batch_of_deliveries_is_charged_as_one_at_a_time_would(pool: asyncpg.Pool) -> None:
    across, inside, cancelled, waited = placed(), placed("ELECTRONICS"), placed(), placed()
    breach = sla_breached(waited, deadline=utc_now(), service_credit_pct=Decimal("10"))
    first, again = delivered(across), delivered(across)  # the same order delivered twice
    inside_delivered, waited_delivered = delivered(inside), delivered(waited)
    batch: list[Event] = [
        follow_up(cancelled, WorkCancelled, producer="fulfilment", reason="not needed"),
        breach,
        follow_up(across, OrderShipped, producer="fulfilment"),
        first,
        inside_delivered,
        delivered(cancelled),
        again,
        waited_delivered,
        follow_up(inside, OrderAccepted, producer="fulfilment"),
    ]
    traces = await consume_batch(pool, batch)

    invoices = await rows(pool, "SELECT order_id, total, delivered_event_id FROM invoices")
    assert {(i["order_id"], i["total"]) for i in invoices} == {
        (across.order_id, Decimal("598.00")),
        (inside.order_id, Decimal("598.00")),
        (waited.order_id, Decimal("598.00")),
    }
    assert {i["order_id"]: i["delivered_event_id"] for i in invoices}[across.order_id] == (
        first.event_id
    )
    assert len(await rows(pool, "SELECT 1 FROM invoice_lines")) == 3
    # 4 lines across legal entities (two of them), 2 inside one; the credit note's 4
    postings = await rows(
        pool, "SELECT document_kind, sum(debit) - sum(credit) AS off FROM postings GROUP BY 1"
    )
    assert {p["document_kind"]: p["off"] for p in postings} == {
        "invoice": Decimal("0.00"),
        "credit_note": Decimal("0.00"),
    }
    assert len(await rows(pool, "SELECT 1 FROM postings")) == 4 + 2 + 4 + 4
    [note] = await rows(pool, "SELECT order_id, amount, cause_event_id FROM credit_notes")
    assert note == {
        "order_id": waited.order_id,
        "amount": Decimal("59.80"),
        "cause_event_id": breach.event_id,
    }
    assert await rows(pool, "SELECT 1 FROM pending_credits") == []
    assert await rows(pool, "SELECT 1 FROM shipments WHERE order_id = $1", across.order_id)

    # each document is published in the trace of the event that caused it
    async with pool.acquire() as conn:
        published = await outbox_events(conn)
        headers = await outbox_headers(conn)
    assert [type(e) for e in published] == [InvoiceIssued] * 3 + [CreditNoteIssued]
    caused_by = [first, inside_delivered, waited_delivered, waited_delivered]
    assert [h["traceparent"].split("-")[1] for h in headers] == [
        traces[e.event_id] for e in caused_by
    ]
    evidence = await rows(pool, "SELECT event_id, trace_id FROM order_evidence")
    assert {e["event_id"]: e["trace_id"] for e in evidence} == traces


async def test_a_delivery_fetched_again_in_a_later_batch_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    order = placed()
    await consume_batch(pool, [delivered(order)])
    await consume_batch(pool, [delivered(order), delivered(placed())])

    assert len(await rows(pool, "SELECT 1 FROM invoices WHERE order_id = $1", order.order_id)) == 1
    assert len(await rows(pool, "SELECT 1 FROM invoices")) == 2
    assert len(await rows(pool, "SELECT 1 FROM postings")) == 8


async def test_a_run_of_breaches_credits_as_one_at_a_time_would(pool: asyncpg.Pool) -> None:
    invoiced, waiting, cancelled = placed(), placed(), placed()
    await consume_batch(
        pool,
        [
            delivered(invoiced),
            follow_up(cancelled, WorkCancelled, producer="fulfilment", reason="not needed"),
        ],
    )
    deadline = utc_now()
    credited = sla_breached(invoiced, deadline=deadline, service_credit_pct=Decimal("10"))
    breaches: list[Event] = [
        credited,
        sla_breached(invoiced, deadline=deadline, service_credit_pct=Decimal("50")),  # 2nd
        sla_breached(waiting, deadline=deadline, service_credit_pct=Decimal("10")),
        sla_breached(cancelled, deadline=deadline, service_credit_pct=Decimal("10")),
    ]
    traces = await consume_batch(pool, breaches)

    # one SLA credit per invoice: the first breach's; the second changes nothing
    [note] = await rows(pool, "SELECT order_id, amount, cause_event_id FROM credit_notes")
    assert note == {
        "order_id": invoiced.order_id,
        "amount": Decimal("59.80"),
        "cause_event_id": credited.event_id,
    }
    # the order not invoiced yet keeps its claim; the cancelled one claims nothing
    waiting_claims = await rows(pool, "SELECT order_id FROM pending_credits")
    assert waiting_claims == [{"order_id": waiting.order_id}]
    async with pool.acquire() as conn:
        headers = await outbox_headers(conn)
    assert headers[-1]["traceparent"].split("-")[1] == traces[credited.event_id]
