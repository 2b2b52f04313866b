"""Budgets and allowances read a running total (migration 0005) that follows every way an
order starts or stops committing money: placement, cancellation, rejection by the supplier."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from uuid import uuid4

import asyncpg
import pytest
from order_intake import commands, company_commands, handlers, store
from order_intake.domain import Limits, OrderRequest, RequestedLine, request_fingerprint
from service_support import ServicePool
from supplychain_contracts import OrderRejected, WorkCancelled, follow_up
from supplychain_contracts.company import sample_company
from supplychain_kit.auth import EVERY_ROW

LIMITS = Limits(max_lines=50, max_quantity=10_000)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
    return pool


async def _place(conn: asyncpg.Connection, sku: str, quantity: int, employee: str | None = None):
    supplier = "EMPLOYEE_SHOP" if employee else "WHEELS"
    request = OrderRequest(
        requester="ASSEMBLY",
        supplier=supplier,
        lines=(RequestedLine(sku, quantity),),
        employee_id=employee,
    )
    return await commands.place(
        conn,
        request,
        idempotency_key=f"key-{uuid4()}",
        fingerprint=request_fingerprint(asdict(request)),
        placed_by_key_id="assembly-1",
        limits=LIMITS,
    )


async def _summed(conn: asyncpg.Connection, where: str, value: str) -> Decimal:
    """What the running total replaced: the sum over the period's live orders."""
    total: Decimal = await conn.fetchval(
        f"""SELECT COALESCE(sum(total), 0) FROM orders WHERE {where} = $1
            AND status NOT IN ('cancelled', 'rejected')""",
        value,
    )
    return total


async def test_the_running_total_follows_placement_cancellation_and_rejection(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        placed = [await _place(conn, "WHEEL-28", n) for n in (1, 2, 3, 4)]
        helmet = await _place(conn, "SHOP-HELMET", 1, employee="E-1001")
        cancelling = await commands.cancel(
            conn, placed[0].order_id, department="ASSEMBLY", reason="not needed"
        )
        assert cancelling.event is not None
        async with conn.transaction():  # the supplier settles the request
            await handlers.apply_event(
                conn, follow_up(cancelling.event, WorkCancelled, producer="fulfilment")
            )
        rejected = placed[1]
        order = await store.get_order(conn, rejected.order_id, visible=EVERY_ROW)
        assert order is not None
        event = OrderRejected(
            order_id=rejected.order_id,
            root_order_id=rejected.order_id,
            producer="fulfilment",
            supplier="WHEELS",
            requester="ASSEMBLY",
            reason="no capacity",
        )
        async with conn.transaction():
            await handlers.apply_event(conn, event)
        async with conn.transaction():
            committed = await store.lock_spending(conn, department="ASSEMBLY", employee_id=None)
        # WHEEL-28 at 38.50: the orders of 3 and 4 wheels are still live
        assert (
            committed
            == Decimal("269.50")
            == await _summed(conn, "employee_id IS NULL AND requester", "ASSEMBLY")
        )
        async with conn.transaction():
            spent = await store.lock_spending(conn, department="ASSEMBLY", employee_id="E-1001")
        assert spent == await _summed(conn, "employee_id", "E-1001") > 0
        assert helmet.created
        # a department that ordered nothing this month has committed nothing
        async with conn.transaction():
            assert await store.lock_spending(conn, department="MARKETING", employee_id=None) == 0
