"""Inbox retention: rows older than the retention go, recent ones stay, and a redelivery
within the window is still a duplicate."""

from __future__ import annotations

from supplychain_contracts.company import sample_company
from supplychain_contracts.reference import department_defined
from supplychain_kit.messaging import inbox
from support.service import ServicePool


async def test_old_inbox_rows_are_purged_and_recent_ones_still_deduplicate(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("order_intake")
    old, recent = (
        department_defined(d, producer="order-intake") for d in sample_company().departments[:2]
    )
    async with pool.acquire() as conn, conn.transaction():
        assert await inbox.claim_many(conn, consumer="g", events=[old, recent]) == {
            old.event_id,
            recent.event_id,
        }
        await conn.execute(
            "UPDATE inbox SET received_at = now() - interval '8 days' WHERE event_id = $1",
            old.event_id,
        )
    async with pool.acquire() as conn:
        assert await inbox.purge(conn, older_than_hours=7 * 24, limit=1) == 1
        assert await inbox.purge(conn, older_than_hours=7 * 24) == 0
        rows = await conn.fetch("SELECT event_id FROM inbox WHERE consumer = 'g'")
    assert [row["event_id"] for row in rows] == [recent.event_id]
    async with pool.acquire() as conn, conn.transaction():
        # redelivered within the window: nothing to apply again
        assert await inbox.claim(conn, consumer="g", event=recent) is False
