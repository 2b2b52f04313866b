"""Budgets and allowances read a running total (migration 0005) that follows every way an
order starts or stops committing money: placement, cancellation, rejection by the supplier.

A placement checks its budget against the running total read without a lock, and stores the
order in one statement that locks the total only while it runs: stored only if the total it
finds there gives the same outcome, else checked again with the total locked. The race tests
hold another placement's transaction open across that window, so the race always happens
(sample company: LOGISTICS has 30,000.00 a month and refuses orders over it; FACILITIES has
20,000.00 and only warns, naming what was committed; ASSEMBLY has room for small orders).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, replace
from decimal import Decimal
from uuid import uuid4

import asyncpg
import pytest
from order_intake import commands, company_commands, handlers, store
from order_intake.domain import (
    Limits,
    OrderRefused,
    OrderRequest,
    OrderStatus,
    RequestedLine,
    request_fingerprint,
)
from supplychain_contracts import OrderRejected, WorkCancelled, follow_up
from supplychain_contracts.company import sample_company
from supplychain_kit.http.auth import EVERY_ROW
from support.service import ServicePool

LIMITS = Limits(max_lines=50, max_quantity=10_000)
# 150 workshop cleans at 140.00 = 21,000.00: one fits LOGISTICS' 30,000.00, two do not
CLEANS = OrderRequest("LOGISTICS", "FACILITIES", (RequestedLine("WORKSHOP-CLEAN", 150),))
# 1,200 pallet moves at 18.00 = 21,600.00: over FACILITIES' 20,000.00, which only warns
PALLETS = OrderRequest("FACILITIES", "LOGISTICS", (RequestedLine("PALLET-MOVE", 1200),))
FEW_PALLETS = OrderRequest("FACILITIES", "LOGISTICS", (RequestedLine("PALLET-MOVE", 100),))
FRAMES = OrderRequest("ASSEMBLY", "FRAMES", (RequestedLine("FRAME-CITY", 2),))


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
    return pool


async def place(
    conn: asyncpg.Connection, request: OrderRequest, key: str | None = None
) -> commands.Placement:
    return await commands.place(
        conn,
        request,
        idempotency_key=key or f"key-{uuid4()}",
        fingerprint=request_fingerprint(asdict(request)),
        placed_by_key_id=f"{request.requester.lower()}-1",
        limits=LIMITS,
    )


async def _place(conn: asyncpg.Connection, sku: str, quantity: int, employee: str | None = None):
    supplier = "EMPLOYEE_SHOP" if employee else "WHEELS"
    request = OrderRequest(
        requester="ASSEMBLY",
        supplier=supplier,
        lines=(RequestedLine(sku, quantity),),
        employee_id=employee,
    )
    return await place(conn, request)


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


# --- races ---------------------------------------------------------------------------


async def waiting_for_a_lock(conn: asyncpg.Connection, other: asyncpg.Connection) -> None:
    """Until `other`'s statement waits for a lock a transaction holds."""
    pid = other.get_server_pid()
    deadline = time.monotonic() + 30
    while not await conn.fetchval("SELECT cardinality(pg_blocking_pids($1)) > 0", pid):
        assert time.monotonic() < deadline, "the second placement never waited for the lock"
        await asyncio.sleep(0.01)


async def racing(
    pool: asyncpg.Pool, first: OrderRequest, second: OrderRequest, *, same_key: bool = False
) -> tuple[commands.Placement, asyncio.Task[commands.Placement]]:
    """`first` placed in a transaction left open until `second`, checked meanwhile against
    the total without `first`, waits for the lock: then `first` commits."""
    key = f"key-{uuid4()}"
    async with pool.acquire() as holder, pool.acquire() as watcher, pool.acquire() as other:
        async with holder.transaction():
            placed = await place(holder, first, key)
            late = asyncio.create_task(place(other, second, key if same_key else None))
            await waiting_for_a_lock(watcher, other)
        with contextlib.suppress(OrderRefused):
            await late
    return placed, late


async def test_an_order_checked_before_another_was_stored_is_refused_against_it(
    pool: asyncpg.Pool,
) -> None:
    first, late = await racing(pool, CLEANS, CLEANS)

    assert first.created
    refused = late.exception()
    assert isinstance(refused, OrderRefused) and refused.field == "total"
    assert "(21000.00 EUR already committed, 9000.00 EUR left)" in refused.message
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1
        assert (
            await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'OrderPlaced'") == 1
        )
        assert await conn.fetchval(
            "SELECT committed FROM spending WHERE subject = 'department:LOGISTICS'"
        ) == Decimal("21000.00")


async def test_a_warning_names_the_total_committed_when_the_order_was_stored(
    pool: asyncpg.Pool,
) -> None:
    """Checked against 0.00 committed, stored after 1,800.00 were: it warns about 1,800.00."""
    first, late = await racing(pool, FEW_PALLETS, PALLETS)

    placed = late.result()
    assert placed.created and placed.status is OrderStatus.PLACED
    assert placed.order is not None
    [warning] = placed.order["warnings"]
    assert "takes FACILITIES to 23400.00 EUR" in warning, warning
    assert "(1800.00 EUR already committed, 18200.00 EUR left)" in warning, warning
    async with pool.acquire() as conn:
        stored = await store.get_order(conn, placed.order_id, visible=EVERY_ROW)
        assert stored is not None and stored["warnings"] == [warning]
        assert await conn.fetchval(
            "SELECT committed FROM spending WHERE subject = 'department:FACILITIES'"
        ) == Decimal("23400.00")
    assert first.created


async def test_the_same_key_is_a_replay_placed_meanwhile_or_now_refused(
    pool: asyncpg.Pool,
) -> None:
    first, late = await racing(pool, FRAMES, FRAMES, same_key=True)

    again = late.result()
    assert first.created and not again.created
    assert (again.order_id, again.status, again.event) == (first.order_id, first.status, None)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1
        # the key is claimed by the insert, not looked up first: a refusal looks it up
        cleans = await place(conn, CLEANS, key="po-logistics-1")
        with pytest.raises(OrderRefused):
            await place(conn, CLEANS)  # the budget has no room for a second one
        replayed = await place(conn, CLEANS, key="po-logistics-1")
        assert (replayed.created, replayed.order_id) == (False, cleans.order_id)
        more = replace(CLEANS, lines=(RequestedLine("WORKSHOP-CLEAN", 151),))
        with pytest.raises(commands.IdempotencyConflict):
            await place(conn, more, key="po-logistics-1")
