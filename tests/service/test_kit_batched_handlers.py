"""Batch handlers: the kit's consumer hands a `Batched` handler each run of consecutive events
of a fetched batch at once, in order, and plain handlers one event at a time in between; order
intake's subscriber is such a handler. Real PostgreSQL, records built as the broker hands them."""

from __future__ import annotations

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
    OrderAccepted,
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
