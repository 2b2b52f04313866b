"""Fulfilment's commands and handlers in process on the real PostgreSQL: the production chain.

The sub-orders fulfilment raises (OrderPlaced) and its cancellation requests (OrderCancelled)
come back to it through its consumer of the orders topic; `consume` plays that part. A
sub-order's progress moves its parent in the transaction of the command that made it (no
topic in between). Its catalogue comes the same way: the owner's reference events, applied
by its handlers.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fulfilment import commands
from fulfilment.chain import UnknownCatalogueItem, sub_order_id
from fulfilment.domain import Command, WaitingForSubOrders, WorkStatus
from fulfilment.handlers import apply_event
from supplychain_contracts import (
    ComponentsRequested,
    Envelope,
    OrderAccepted,
    OrderBlocked,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    WorkCancelled,
    follow_up,
)
from supplychain_contracts.company import CatalogueItem, Component, sample_company
from supplychain_contracts.reference import catalogue_item_defined
from support import reference_events
from support.fulfilment_commands import command, work_through
from support.service import ServicePool, apply_events, outbox_events

# Two city frames: each is 3 aluminium tubes, 1 steel dropout and 1 paint job.
FRAMES_ORDER = (OrderLine(sku="FRAME-CITY", quantity=2, unit_price=Decimal("104.50")),)
COMPONENTS = {
    "TUBE-AL-6061": (6, "METALWORKS", Decimal("13.50")),
    "DROPOUT-STEEL": (2, "METALWORKS", Decimal("6.48")),
    "PAINT-FRAME": (2, "PAINTSHOP", Decimal("20.00")),
}


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Fulfilment with the sample company's catalogue, learnt from the owner's events."""
    pool = await service_pool("fulfilment")
    await consume(pool, *reference_events(sample_company()))
    return pool


async def consume(pool: asyncpg.Pool, *events: Envelope) -> None:
    """Apply each event in its own transaction, as the consumer does."""
    await apply_events(pool, apply_event, *events)


async def published(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def status_of(pool: asyncpg.Pool, order_id: uuid.UUID) -> str:
    async with pool.acquire() as conn:
        status: str = await conn.fetchval(
            "SELECT status FROM work_items WHERE order_id = $1", order_id
        )
        return status


async def sub_order_statuses(pool: asyncpg.Pool, parent: uuid.UUID) -> dict[str, str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT sku, status FROM sub_orders WHERE parent_order_id = $1", parent
        )
        return {row["sku"]: row["status"] for row in rows}


async def frames_order_accepted(pool: asyncpg.Pool) -> tuple[OrderPlaced, list[OrderPlaced]]:
    """ASSEMBLY orders two frames; FRAMES accepts; the sub-orders it raised reach their
    suppliers' queues (fulfilment consumes its own OrderPlaced)."""
    order_id = uuid.uuid4()
    parent = OrderPlaced(
        order_id=order_id,
        root_order_id=order_id,
        producer="order-intake",
        supplier="FRAMES",
        requester="ASSEMBLY",
        lines=FRAMES_ORDER,
    )
    await consume(pool, parent)
    await command(pool, order_id, Command.ACCEPT, "FRAMES")
    raised = [e for e in await published(pool) if isinstance(e, OrderPlaced)]
    await consume(pool, *raised)
    return parent, raised


async def test_accepting_an_item_with_a_bill_of_materials_raises_its_sub_orders(
    pool: asyncpg.Pool,
) -> None:
    order_id = uuid.uuid4()
    await consume(
        pool,
        OrderPlaced(
            order_id=order_id,
            root_order_id=order_id,
            producer="order-intake",
            supplier="FRAMES",
            requester="ASSEMBLY",
            lines=FRAMES_ORDER,
        ),
    )

    outcome = await command(pool, order_id, Command.ACCEPT, "FRAMES")

    assert outcome.status is WorkStatus.ACCEPTED
    assert {(s.sku, s.quantity, s.supplier) for s in outcome.sub_orders} == {
        (sku, quantity, supplier) for sku, (quantity, supplier, _) in COMPONENTS.items()
    }
    accepted, requested, *placed = await published(pool)
    assert isinstance(accepted, OrderAccepted)
    assert accepted.event_id == outcome.event.event_id
    assert isinstance(requested, ComponentsRequested)
    assert (requested.order_id, requested.causation_id) == (order_id, accepted.event_id)
    assert {c.order_id for c in requested.components} == {
        sub_order_id(order_id, sku) for sku in COMPONENTS
    }
    assert len(placed) == len(COMPONENTS)
    for sub in placed:
        assert isinstance(sub, OrderPlaced)
        [line] = sub.lines
        quantity, supplier, price = COMPONENTS[line.sku]
        assert sub.order_id == sub_order_id(order_id, line.sku)
        assert (sub.parent_order_id, sub.root_order_id) == (order_id, order_id)
        assert (sub.supplier, sub.requester) == (supplier, "FRAMES")
        assert (line.quantity, line.unit_price) == (quantity, price)
        assert sub.causation_id == requested.event_id
    assert await sub_order_statuses(pool, order_id) == dict.fromkeys(COMPONENTS, "received")
    assert await status_of(pool, order_id) == "accepted"


async def test_ship_is_refused_until_every_sub_order_is_delivered(pool: asyncpg.Pool) -> None:
    parent, raised = await frames_order_accepted(pool)
    await command(pool, parent.order_id, Command.START, "FRAMES")
    tube, *others = raised
    await work_through(pool, tube, until=Command.RECEIPT)

    with pytest.raises(WaitingForSubOrders) as refused:
        await command(pool, parent.order_id, Command.SHIP, "FRAMES")

    assert {s.order_id for s in refused.value.waiting} == {s.order_id for s in others}
    assert await status_of(pool, parent.order_id) == "in_progress"
    assert not any(
        isinstance(e, OrderShipped) and e.order_id == parent.order_id for e in await published(pool)
    )

    for sub_order in others:
        await work_through(pool, sub_order, until=Command.RECEIPT)
    shipped = await command(pool, parent.order_id, Command.SHIP, "FRAMES")
    assert shipped.status is WorkStatus.SHIPPED
    assert isinstance(shipped.event, OrderShipped)
    assert await status_of(pool, parent.order_id) == "shipped"


async def test_a_rejected_sub_order_blocks_its_parent(pool: asyncpg.Pool) -> None:
    parent, raised = await frames_order_accepted(pool)
    await command(pool, parent.order_id, Command.START, "FRAMES")
    tube = next(s for s in raised if s.lines[0].sku == "TUBE-AL-6061")

    rejected = await command(
        pool, tube.order_id, Command.REJECT, "METALWORKS", reason="alloy shortage"
    )
    assert isinstance(rejected.event, OrderRejected)

    # in the rejection's own transaction: no event travels back to fulfilment first
    assert await status_of(pool, parent.order_id) == "blocked"
    assert (await sub_order_statuses(pool, parent.order_id))["TUBE-AL-6061"] == "rejected"
    blocks = [e for e in await published(pool) if isinstance(e, OrderBlocked)]
    assert len(blocks) == 1
    [blocked] = blocks
    assert (blocked.order_id, blocked.root_order_id) == (parent.order_id, parent.order_id)
    assert (blocked.supplier, blocked.requester) == ("FRAMES", "ASSEMBLY")
    assert blocked.blocking_order_id == tube.order_id
    assert blocked.causation_id == rejected.event.event_id
    assert "alloy shortage" in blocked.reason


async def test_cancelling_an_order_compensates_the_sub_orders_that_can_be_stopped(
    pool: asyncpg.Pool,
) -> None:
    parent, raised = await frames_order_accepted(pool)
    paint = next(s for s in raised if s.lines[0].sku == "PAINT-FRAME")
    await work_through(pool, paint, until=Command.SHIP)
    cancellation = follow_up(parent, OrderCancelled, producer="order-intake", reason="no budget")

    await consume(pool, cancellation)

    assert await status_of(pool, parent.order_id) == "cancelled"
    settled = [e for e in await published(pool) if e.causation_id == cancellation.event_id]
    assert [type(e) for e in settled] == [WorkCancelled]
    assert settled[0].reason == "no budget"
    compensations = [
        e
        for e in await published(pool)
        if isinstance(e, OrderCancelled) and e.causation_id == settled[0].event_id
    ]
    stoppable = {s.order_id: s for s in raised if s is not paint}
    assert {c.order_id for c in compensations} == set(stoppable)
    for compensation in compensations:
        sub = stoppable[compensation.order_id]
        assert (compensation.supplier, compensation.requester) == (sub.supplier, "FRAMES")
        assert compensation.root_order_id == parent.order_id
        assert compensation.employee_id is None
        assert "no budget" in compensation.reason

    # The requests reach the sub-orders' suppliers through the consumer, which settle them:
    # their work stops, and the parent's records of them follow in the same transaction.
    await consume(pool, *compensations)
    for order_id in stoppable:
        assert await status_of(pool, order_id) == "cancelled"
    assert await sub_order_statuses(pool, parent.order_id) == {
        "TUBE-AL-6061": "cancelled",
        "DROPOUT-STEEL": "cancelled",
        "PAINT-FRAME": "shipped",  # on its way: it arrives
    }
    assert not any(isinstance(e, OrderBlocked) for e in await published(pool))


# --- the catalogue, as its owner defines it ------------------------------------------------


def frame_city(**changes: Any) -> CatalogueItem:
    item = sample_company().item("FRAME-CITY")
    assert item is not None
    return item.model_copy(update=changes)


async def receive_frames_order(pool: asyncpg.Pool) -> uuid.UUID:
    order_id = uuid.uuid4()
    await consume(
        pool,
        OrderPlaced(
            order_id=order_id,
            root_order_id=order_id,
            producer="order-intake",
            supplier="FRAMES",
            requester="ASSEMBLY",
            lines=FRAMES_ORDER,
        ),
    )
    return order_id


async def catalogue_row(pool: asyncpg.Pool, sku: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM catalogue_items WHERE sku = $1", sku)
        assert row is not None
        return dict(row)


def raised_components(outcome: commands.Outcome) -> dict[str, int]:
    return {s.sku: s.quantity for s in outcome.sub_orders}


async def test_a_changed_bill_of_materials_changes_the_sub_orders_of_orders_accepted_after_it(
    pool: asyncpg.Pool,
) -> None:
    before = await receive_frames_order(pool)
    first = await command(pool, before, Command.ACCEPT, "FRAMES")
    # the owner redesigns the frame: four tubes, no dropout
    redesigned = (
        Component(sku="TUBE-AL-6061", quantity=4),
        Component(sku="PAINT-FRAME", quantity=1),
    )
    await consume(
        pool,
        catalogue_item_defined(
            frame_city(bill_of_materials=redesigned), producer="order-intake", changed_by="admin-1"
        ),
    )
    after = await receive_frames_order(pool)
    second = await command(pool, after, Command.ACCEPT, "FRAMES")

    assert raised_components(first) == {"TUBE-AL-6061": 6, "DROPOUT-STEEL": 2, "PAINT-FRAME": 2}
    assert raised_components(second) == {"TUBE-AL-6061": 8, "PAINT-FRAME": 2}
    # the order accepted before keeps the sub-orders it raised
    assert set(await sub_order_statuses(pool, before)) == set(COMPONENTS)
    assert set(await sub_order_statuses(pool, after)) == {"TUBE-AL-6061", "PAINT-FRAME"}


async def test_a_removed_item_is_kept_inactive_and_still_explodes_for_orders_placed_before(
    pool: asyncpg.Pool,
) -> None:
    placed_while_active = await receive_frames_order(pool)
    await consume(pool, catalogue_item_defined(frame_city(), producer="order-intake", active=False))

    row = await catalogue_row(pool, "FRAME-CITY")
    assert row["active"] is False
    assert (row["supplier"], row["transfer_price"]) == ("FRAMES", Decimal("104.50"))
    outcome = await command(pool, placed_while_active, Command.ACCEPT, "FRAMES")
    assert raised_components(outcome) == {"TUBE-AL-6061": 6, "DROPOUT-STEEL": 2, "PAINT-FRAME": 2}


async def test_the_transfer_price_comes_from_the_event_and_a_late_older_change_is_ignored(
    pool: asyncpg.Pool,
) -> None:
    tube = sample_company().item("TUBE-AL-6061")
    assert tube is not None
    repriced = catalogue_item_defined(
        tube, producer="order-intake", transfer_price=Decimal("15.00")
    )
    older = catalogue_item_defined(
        tube,
        producer="order-intake",
        transfer_price=Decimal("1.00"),
        occurred_at=repriced.occurred_at - timedelta(minutes=5),
    )
    await consume(pool, repriced, older)

    assert (await catalogue_row(pool, "TUBE-AL-6061"))["transfer_price"] == Decimal("15.00")
    order_id = await receive_frames_order(pool)
    await command(pool, order_id, Command.ACCEPT, "FRAMES")
    tubes = [
        e
        for e in await published(pool)
        if isinstance(e, OrderPlaced) and e.lines[0].sku == "TUBE-AL-6061"
    ]
    assert [e.lines[0].unit_price for e in tubes] == [Decimal("15.00")]


async def test_accepting_an_order_whose_items_are_not_known_yet_is_refused_until_they_are(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("fulfilment")  # no catalogue yet: the order came first
    order_id = await receive_frames_order(pool)

    with pytest.raises(UnknownCatalogueItem) as refused:
        await command(pool, order_id, Command.ACCEPT, "FRAMES")
    assert refused.value.skus == ("FRAME-CITY",)
    # the frame is known, a component not yet: still no guessing
    await consume(pool, catalogue_item_defined(frame_city(), producer="order-intake"))
    with pytest.raises(UnknownCatalogueItem) as refused:
        await command(pool, order_id, Command.ACCEPT, "FRAMES")
    assert set(refused.value.skus) == set(COMPONENTS)
    assert await status_of(pool, order_id) == "received"
    assert await published(pool) == []

    await consume(pool, *reference_events(sample_company()))
    outcome = await command(pool, order_id, Command.ACCEPT, "FRAMES")
    assert outcome.status is WorkStatus.ACCEPTED
    assert raised_components(outcome) == {"TUBE-AL-6061": 6, "DROPOUT-STEEL": 2, "PAINT-FRAME": 2}
