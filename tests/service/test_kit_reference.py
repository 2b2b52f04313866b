"""What a service knows of the reference data: the latest event per entity, counted by kind."""

from __future__ import annotations

from datetime import timedelta

from supplychain_contracts.company import sample_company
from supplychain_contracts.reference import department_defined
from supplychain_kit.messaging import reference
from support.service import ServicePool, outbox_events


async def test_the_owner_publishes_and_counts_its_entities_latest_wins(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("order_intake")
    first, second = sample_company().departments[:2]
    now = department_defined(first, producer="order-intake")
    earlier = department_defined(
        first, producer="order-intake", active=False, occurred_at=now.occurred_at - timedelta(1)
    )
    async with pool.acquire() as conn, conn.transaction():
        await reference.publish(conn, [now, department_defined(second, producer="order-intake")])
    async with pool.acquire() as conn, conn.transaction():
        await reference.note_seen(conn, earlier)  # late: older than what is known
    async with pool.acquire() as conn:
        assert [e.event_id for e in await outbox_events(conn)][:1] == [now.event_id]
        status = await reference.status(conn)
    assert status["entities"] == {"department": 2}
    assert status["last_received_at"] is not None
    removed = department_defined(second, producer="order-intake", active=False)
    async with pool.acquire() as conn, conn.transaction():
        await reference.note_seen(conn, removed)
        status = await reference.status(conn)
    assert status["entities"] == {"department": 1}
    assert status["known"] == {"department": 2}
