"""A quiet idle (issue 24): the autopilot sleeps until its next item is due, read from the
work items (a parent waiting for its parts is not due), instead of polling."""

from __future__ import annotations

import asyncpg
import pytest
from fulfilment import store
from fulfilment.domain import WorkStatus
from fulfilment.handlers import apply_event
from supplychain_contracts.company import sample_company
from support import reference_events
from support.events import order_placed
from support.service import ServicePool, apply_events


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("fulfilment")
    await apply_events(pool, apply_event, *reference_events(sample_company()))
    return pool


async def test_the_next_due_time_is_the_first_waiting_item_plus_its_delay(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        assert await store.next_autopilot_due_s(conn, {WorkStatus.RECEIVED: 1.0}) is None
    placed = order_placed(
        producer="order-intake",
        supplier="METALWORKS",
        requester="FRAMES",
        sku="TUBE-AL-6061",
        quantity=3,
        unit_price="13.50",
    )
    async with pool.acquire() as conn, conn.transaction():
        await apply_event(conn, placed)
    async with pool.acquire() as conn:
        due_in = await store.next_autopilot_due_s(conn, {WorkStatus.RECEIVED: 3600.0})
        assert due_in is not None and 3500 < due_in <= 3600
        assert await store.next_autopilot_due_s(conn, {WorkStatus.RECEIVED: 0.0}) == 0
        # waiting in no state the autopilot moves: nothing due
        assert await store.next_autopilot_due_s(conn, {WorkStatus.SHIPPED: 0.0}) is None
