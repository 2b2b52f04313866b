"""Batch handlers: the kit's consumer hands a `Batched` handler each run of consecutive events
of a fetched batch at once, in order, and plain handlers one event at a time in between; order
intake's subscriber is such a handler. Real PostgreSQL, records built as the broker hands them."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from order_intake import commands, company_commands, store
from order_intake.domain import Limits, OrderRequest, RequestedLine, request_fingerprint
from order_intake.handlers import apply_event as intake_apply
from supplychain_contracts import (
    InvoiceIssued,
    InvoiceLine,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.company import sample_company
from supplychain_contracts.envelope import Event
from supplychain_contracts.topics import FULFILMENT
from supplychain_kit.http.auth import EVERY_ROW
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.dispatch import Batched, dispatch
from support import fetched
from support.events import order_placed
from support.service import ServicePool

FROM_FULFILMENT = "fulfilment"


def consumer(pool: asyncpg.Pool, apply: Any, group: str) -> ReliableConsumer:
    # no broker: nothing here is dead-lettered
    return ReliableConsumer(
        service="test",
        topics=[FULFILMENT],
        pool=pool,
        broker=None,  # type: ignore[arg-type]
        apply=apply,
        config=ConsumerConfig(group_id=group),
    )


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
    return pool


async def placed(conn: asyncpg.Connection, key: str) -> OrderPlaced:
    request = OrderRequest("ASSEMBLY", "FRAMES", (RequestedLine("FRAME-CITY", 1),))
    placement = await commands.place(
        conn,
        request,
        idempotency_key=key,
        fingerprint=request_fingerprint(asdict(request)),
        placed_by_key_id="assembly-1",
        limits=Limits(max_lines=50, max_quantity=100),
    )
    assert placement.event is not None
    return placement.event


async def test_runs_of_a_batch_handler_are_handed_over_together_in_order(
    pool: asyncpg.Pool,
) -> None:
    calls: list[tuple[str, list[str]]] = []

    async def together(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
        calls.append(("batch", [e.event_type for e in events]))

    async def alone(conn: asyncpg.Connection, event: Event) -> None:
        calls.append(("one", [event.event_type]))

    apply = dispatch(
        {OrderAccepted: Batched(together), WorkStarted: Batched(together), OrderShipped: alone}
    )
    order = follow_up(
        OrderPlaced.model_validate(
            {
                "order_id": uuid4(),
                "root_order_id": uuid4(),
                "producer": "order-intake",
                "supplier": "FRAMES",
                "requester": "ASSEMBLY",
                "lines": [{"sku": "FRAME-CITY", "quantity": 1, "unit_price": "104.50"}],
            }
        ),
        OrderAccepted,
        producer=FROM_FULFILMENT,
    )
    started = follow_up(order, WorkStarted, producer=FROM_FULFILMENT)
    shipped = follow_up(started, OrderShipped, producer=FROM_FULFILMENT)
    again = follow_up(shipped, OrderAccepted, producer=FROM_FULFILMENT)
    events = [order, started, order, shipped, again]  # `order` twice: applied once
    await consumer(pool, apply, "g1").handle_batch(
        [fetched(e, offset, topic=FULFILMENT) for offset, e in enumerate(events)]
    )
    assert calls == [
        ("batch", ["OrderAccepted", "WorkStarted"]),
        ("one", ["OrderShipped"]),
        ("batch", ["OrderAccepted"]),
    ]
    # redelivered: every event is in the inbox, nothing is handed over again
    calls.clear()
    await consumer(pool, apply, "g1").handle_batch(
        [fetched(e, offset, topic=FULFILMENT) for offset, e in enumerate(events)]
    )
    assert calls == []


async def test_intake_applies_a_batch_of_handoffs_of_several_orders_as_one_at_a_time_would(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        a = await placed(conn, "po-batch-000001")
        b = await placed(conn, "po-batch-000002")
    a_accepted = follow_up(a, OrderAccepted, producer=FROM_FULFILMENT)
    b_accepted = follow_up(b, OrderAccepted, producer=FROM_FULFILMENT)
    a_started = follow_up(a_accepted, WorkStarted, producer=FROM_FULFILMENT)
    b_rejected = follow_up(b_accepted, OrderRejected, producer=FROM_FULFILMENT, reason="full")
    late = follow_up(a_accepted, OrderAccepted, producer=FROM_FULFILMENT)  # a new event id
    not_ours = follow_up(
        OrderPlaced.model_validate({**a.model_dump(), "order_id": uuid4()}),
        OrderShipped,
        producer=FROM_FULFILMENT,
    )
    events = [a_accepted, b_accepted, a_started, not_ours, b_rejected, late]
    await consumer(pool, intake_apply, "order-intake").handle_batch(
        [fetched(e, offset, topic=FULFILMENT) for offset, e in enumerate(events)]
    )
    async with pool.acquire() as conn:
        order_a = await store.get_order(conn, a.order_id, visible=EVERY_ROW)
        order_b = await store.get_order(conn, b.order_id, visible=EVERY_ROW)
        stray = await conn.fetchval(
            "SELECT count(*) FROM order_timeline WHERE order_id = $1", not_ours.order_id
        )
        unknown = await store.get_order(conn, not_ours.order_id, visible=EVERY_ROW)
    assert order_a is not None and order_b is not None
    assert order_a["status"] == "in_progress"  # the late acceptance does not move it back
    assert order_b["status"] == "rejected"
    assert [t["event_type"] for t in order_a["timeline"]] == [
        "OrderPlaced",
        "OrderAccepted",
        "WorkStarted",
        "OrderAccepted",
    ]
    assert [t["event_type"] for t in order_b["timeline"]] == [
        "OrderPlaced",
        "OrderAccepted",
        "OrderRejected",
    ]
    assert order_b["timeline"][-1]["detail"] == "full"
    # a handoff of an order intake has not seen placed is kept for it (a sub-order's OrderPlaced
    # comes on another topic and may arrive later), but makes no order of its own
    assert stray == 1 and unknown is None


def merged(rng: random.Random, *topics: list[Event]) -> list[Event]:
    """The events of several topics as one consumer may read them: each topic's in its order,
    the topics interleaved at random."""
    queues = [list(t) for t in topics if t]
    out: list[Event] = []
    while queues:
        queue = rng.choice(queues)
        out.append(queue.pop(0))
        queues = [q for q in queues if q]
    return out


def life(order: OrderPlaced, supplier: str) -> tuple[list[Event], list[Event]]:
    """An order's life after its placement: the supplier's events (fulfilment's topic), then
    its invoice (invoicing's topic)."""
    accepted = follow_up(order, OrderAccepted, producer=FROM_FULFILMENT)
    started = follow_up(accepted, WorkStarted, producer=FROM_FULFILMENT)
    shipped = follow_up(started, OrderShipped, producer=FROM_FULFILMENT)
    delivered = follow_up(shipped, OrderDelivered, producer=FROM_FULFILMENT, lines=order.lines)
    line = order.lines[0]
    invoiced = follow_up(
        delivered,
        InvoiceIssued,
        producer="invoicing",
        invoice_id=uuid4(),
        period=f"{delivered.occurred_at:%Y-%m}",
        currency="EUR",
        lines=(
            InvoiceLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.unit_price * line.quantity,
            ),
        ),
        total=line.unit_price * line.quantity,
    )
    assert supplier == order.supplier
    return [accepted, started, shipped, delivered], [invoiced]


async def test_intake_shows_every_invoiced_order_invoiced_whatever_order_its_topics_arrive_in(
    pool: asyncpg.Pool,
) -> None:
    """A root order and a sub-order fulfilment raised for it, each invoiced: whichever of the
    orders, fulfilment and invoicing topics the consumer reads first, in whatever batches
    (some fetched twice), intake ends with both invoiced and every event on their timelines
    once. A sub-order's handoffs (its invoice too) may come before its OrderPlaced."""
    rng = random.Random(7)
    intake = consumer(pool, intake_apply, "order-intake")
    offsets = itertools.count()
    for round_no in range(12):
        async with pool.acquire() as conn:
            root = await placed(conn, f"po-arrival-{round_no:06d}")
        sub = order_placed(parent=root, supplier="WHEELS", sku="WHEEL-28", producer=FROM_FULFILMENT)
        root_handoffs, root_invoice = life(root, "FRAMES")
        sub_handoffs, sub_invoice = life(sub, "WHEELS")
        events = merged(rng, [sub], root_handoffs + sub_handoffs, root_invoice + sub_invoice)
        records = [fetched(event, next(offsets)) for event in events]
        cuts = sorted(rng.sample(range(1, len(records)), rng.randint(0, 4)))
        batches = [records[a:b] for a, b in itertools.pairwise([0, *cuts, len(records)])]
        for batch in batches:
            await intake.handle_batch(batch)
            if rng.random() < 0.3:  # fetched again (a retry after an outage): no effect
                await intake.handle_batch(batch)
        async with pool.acquire() as conn:
            for order, handoffs in ((root, root_handoffs), (sub, sub_handoffs)):
                shown = await store.get_order(conn, order.order_id, visible=EVERY_ROW)
                assert shown is not None, (round_no, [e.event_type for e in events])
                assert shown["status"] == "invoiced", (round_no, [e.event_type for e in events])
                assert sorted(t["event_type"] for t in shown["timeline"]) == sorted(
                    ["OrderPlaced", *(e.event_type for e in handoffs), "InvoiceIssued"]
                )
