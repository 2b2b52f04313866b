"""A sub-order's progress moves its parent in the transaction of the command that made it, in
process on the real PostgreSQL (no broker: fulfilment does not read its own topic), and a
record an older version left behind is brought forward at start, once."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from fulfilment import commands, progress
from fulfilment.domain import Command
from fulfilment.handlers import apply_event
from supplychain_contracts import ComponentsReceived, Envelope, OrderBlocked, OrderPlaced
from supplychain_contracts.company import sample_company
from support import reference_events
from support.events import order_placed
from support.fulfilment_commands import command, work_through
from support.service import ServicePool, apply_events, outbox_events


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Fulfilment with the sample company's catalogue, learnt from the owner's events."""
    pool = await service_pool("fulfilment")
    await apply_events(pool, apply_event, *reference_events(sample_company()))
    return pool


async def accepted(pool: asyncpg.Pool, order: OrderPlaced) -> list[OrderPlaced]:
    """The order received and accepted by its supplier; the sub-orders it raised received
    by theirs (through the orders topic, as deployed)."""
    await apply_events(pool, apply_event, order)
    outcome = await command(pool, order.order_id, Command.ACCEPT, order.supplier)
    raised = [
        event
        for event in await published(pool)
        if isinstance(event, OrderPlaced) and event.parent_order_id == order.order_id
    ]
    assert {s.order_id for s in outcome.sub_orders} == {s.order_id for s in raised}
    await apply_events(pool, apply_event, *raised)
    return raised


async def all_but_one_component_delivered(pool: asyncpg.Pool) -> tuple[OrderPlaced, OrderPlaced]:
    """FRAMES accepts a frame; its sub-orders are worked through by commands, all delivered
    but the last, which is shipped: the parent and that last sub-order."""
    parent = order_placed(supplier="FRAMES", requester="ASSEMBLY", sku="FRAME-CITY")
    *others, last = await accepted(pool, parent)
    for sub_order in others:
        await work_through(pool, sub_order, until=Command.RECEIPT)
    await work_through(pool, last, until=Command.SHIP)
    return parent, last


async def published(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def statuses(pool: asyncpg.Pool, table: str, *order_ids: uuid.UUID) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT order_id, status FROM {table} WHERE order_id = ANY($1)", order_ids
        )
    status = {row["order_id"]: row["status"] for row in rows}
    return [status.get(order_id, "missing") for order_id in order_ids]


def of_type(events: list[Envelope], kind: type[Envelope]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


async def components_received_by_a_rolled_back_receipt(
    pool: asyncpg.Pool, sub_order: OrderPlaced
) -> list[ComponentsReceived]:
    """What the sub-order's receipt wrote to the outbox, read in its transaction, which is
    then rolled back."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await commands.execute(
                conn, order_id=sub_order.order_id, command=Command.RECEIPT, department="FRAMES"
            )
            return of_type(await outbox_events(conn), ComponentsReceived)
        finally:
            await transaction.rollback()


async def test_the_last_receipt_tells_the_parent_its_components_are_in_its_own_transaction(
    pool: asyncpg.Pool,
) -> None:
    parent, last = await all_but_one_component_delivered(pool)
    assert await statuses(pool, "sub_orders", last.order_id) == ["shipped"]

    [inside] = await components_received_by_a_rolled_back_receipt(pool, last)
    assert inside.order_id == parent.order_id
    assert of_type(await published(pool), ComponentsReceived) == []
    assert await statuses(pool, "sub_orders", last.order_id) == ["shipped"]

    receipt = await command(pool, last.order_id, Command.RECEIPT, "FRAMES")

    [received] = of_type(await published(pool), ComponentsReceived)
    assert received.order_id == parent.order_id
    assert received.causation_id == receipt.event.event_id
    assert await statuses(pool, "sub_orders", last.order_id) == ["delivered"]


async def test_a_rejected_sub_order_blocks_a_three_level_chain_up_to_the_top(
    pool: asyncpg.Pool,
) -> None:
    bike = order_placed(supplier="ASSEMBLY", requester="RETAIL_OPS", sku="EBIKE-CITY")
    frame = next(s for s in await accepted(pool, bike) if s.lines[0].sku == "FRAME-CITY")
    tube = next(s for s in await accepted(pool, frame) if s.lines[0].sku == "TUBE-AL-6061")

    rejected = await command(
        pool, tube.order_id, Command.REJECT, "METALWORKS", reason="alloy shortage"
    )

    assert await statuses(pool, "work_items", tube.order_id, frame.order_id, bike.order_id) == [
        "rejected",
        "blocked",
        "blocked",
    ]
    assert await statuses(pool, "sub_orders", tube.order_id, frame.order_id) == [
        "rejected",
        "blocked",
    ]
    frame_blocked, bike_blocked = of_type(await published(pool), OrderBlocked)
    assert (frame_blocked.order_id, frame_blocked.blocking_order_id) == (
        frame.order_id,
        tube.order_id,
    )
    assert frame_blocked.causation_id == rejected.event.event_id
    assert "alloy shortage" in frame_blocked.reason
    assert (bike_blocked.order_id, bike_blocked.blocking_order_id) == (
        bike.order_id,
        frame.order_id,
    )
    assert bike_blocked.causation_id == frame_blocked.event_id
    assert bike_blocked.root_order_id == bike.order_id


async def test_a_record_an_older_version_left_behind_is_brought_forward_at_start_once(
    pool: asyncpg.Pool,
) -> None:
    parent, last = await all_but_one_component_delivered(pool)
    # An older version confirmed the receipt; its OrderDelivered, the parent's way of
    # learning it, was not consumed before it stopped.
    receipt_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE work_items SET status = 'delivered', last_event_id = $2
               WHERE order_id = $1""",
            last.order_id,
            receipt_id,
        )
        assert await progress.catch_up(conn) == 1
    assert await statuses(pool, "sub_orders", last.order_id) == ["delivered"]
    [received] = of_type(await published(pool), ComponentsReceived)
    assert (received.order_id, received.causation_id) == (parent.order_id, receipt_id)

    before = await published(pool)
    async with pool.acquire() as conn:
        assert await progress.catch_up(conn) == 0  # the next start: nothing is behind
    assert await published(pool) == before
