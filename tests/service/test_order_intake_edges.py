"""Order intake at its edges, on the real PostgreSQL: keyset pages over orders created at the
same instant, and two placements racing with the same idempotency key."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from order_intake import commands, company_commands, store
from order_intake.cursor import Position, decode_cursor, encode_cursor
from order_intake.domain import Limits, OrderRequest, RequestedLine, request_fingerprint
from supplychain_contracts import OrderPlaced
from supplychain_contracts.company import sample_company
from supplychain_kit.http.auth import Visibility
from support.service import ServicePool, outbox_events

LIMITS = Limits(max_lines=50, max_quantity=10_000)
REQUEST = OrderRequest(
    requester="ASSEMBLY", supplier="FRAMES", lines=(RequestedLine("FRAME-CITY", 1),)
)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
        await conn.execute("DELETE FROM outbox")
    return pool


async def place(conn: asyncpg.Connection, *, key: str | None = None) -> commands.Placement:
    return await commands.place(
        conn,
        REQUEST,
        idempotency_key=key or f"key-{uuid4()}",
        fingerprint=request_fingerprint(asdict(REQUEST)),
        placed_by_key_id="assembly-1",
        limits=LIMITS,
    )


async def walk(conn: asyncpg.Connection, *, limit: int) -> list[list[UUID]]:
    """The pages `GET /v1/orders` gives (limit + 1 rows read, the cursor through its text)."""
    pages: list[list[UUID]] = []
    cursor: str | None = None
    while True:
        rows = await store.list_orders(
            conn,
            visible=Visibility(party="ASSEMBLY"),
            status=None,
            supplier=None,
            since=None,
            after=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
        page = rows[:limit]
        pages.append([row["order_id"] for row in page])
        if len(rows) <= limit:
            return pages
        cursor = encode_cursor(Position(page[-1]["created_at"], page[-1]["order_id"]))


async def test_keyset_pages_cross_a_run_of_orders_created_at_the_same_instant(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        ids = [(await place(conn)).order_id for _ in range(7)]
        # five orders share one instant (one transaction's now()); two are older and newer
        tie = datetime(2026, 5, 4, 12, 0, 0, 123456, tzinfo=UTC)
        moments = [tie - timedelta(seconds=1), *[tie] * 5, tie + timedelta(seconds=1)]
        for order_id, moment in zip(ids, moments, strict=True):
            await conn.execute(
                "UPDATE orders SET created_at = $2 WHERE order_id = $1", order_id, moment
            )
        newest_first = sorted(
            zip(moments, ids, strict=True), key=lambda m: (m[0], m[1]), reverse=True
        )
        expected = [order_id for _, order_id in newest_first]

        for limit in (1, 2, 3, 5, 6, 7, 8):
            pages = await walk(conn, limit=limit)
            assert [o for page in pages for o in page] == expected, f"limit {limit}"
            assert all(len(page) == limit for page in pages[:-1]), f"limit {limit}"
            # a last page that is exactly full says so: no cursor to an empty page
            assert len(pages) == -(-len(expected) // limit), f"limit {limit}"

        # `since` is inclusive at the boundary, also for the tied run
        at_tie = await store.list_orders(
            conn,
            visible=Visibility(party="ASSEMBLY"),
            status=None,
            supplier=None,
            since=tie,
            after=None,
            limit=50,
        )
        assert [row["order_id"] for row in at_tie] == expected[:6]


async def waiting(conn: asyncpg.Connection) -> int:
    """Backends of this database waiting on a lock. `conn` is inside a transaction, which
    reads the activity view once unless its snapshot is cleared."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    count: int = await conn.fetchval(
        """SELECT count(*) FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'"""
    )
    return count


async def test_two_placements_racing_with_one_key_make_one_order(pool: asyncpg.Pool) -> None:
    """Both look the key up before either stores it (the test holds the lock a placement
    takes last), then race to store it: one order, one event, the other a replay."""
    async with pool.acquire() as holder:
        held = holder.transaction()
        await held.start()
        await holder.execute("LOCK TABLE spending IN EXCLUSIVE MODE")

        async def racer() -> commands.Placement:
            async with pool.acquire() as conn:
                return await place(conn, key="po-race-0001")

        racers = [asyncio.create_task(racer()) for _ in range(2)]
        deadline = time.monotonic() + 10
        while await waiting(holder) < len(racers):
            finished = [r for r in racers if r.done()]
            assert not finished, f"a placement did not wait: {finished[0].result()}"
            assert time.monotonic() < deadline, "the placements never reached the lock"
            await asyncio.sleep(0.02)
        await held.rollback()
    first, second = await asyncio.gather(*racers)

    assert sorted([first.created, second.created]) == [False, True]
    assert first.order_id == second.order_id
    async with pool.acquire() as conn:
        orders = await conn.fetch(
            "SELECT order_id FROM orders WHERE idempotency_key = 'po-race-0001'"
        )
        events = [e for e in await outbox_events(conn) if isinstance(e, OrderPlaced)]
    assert [row["order_id"] for row in orders] == [first.order_id]
    assert [event.order_id for event in events] == [first.order_id]
