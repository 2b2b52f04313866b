"""The outbox port: callers name no schema; rows land in the connection's own schema, in the
order given, once per event, and the relay of that schema is woken."""

from __future__ import annotations

import asyncio

from supplychain_contracts import OrderCancelled, follow_up, topics
from supplychain_kit.messaging import outbox
from support.events import order_placed
from support.service import ServicePool, outbox_events


async def test_append_writes_to_the_connections_own_schema_in_order(
    service_pool: ServicePool,
) -> None:
    fulfilment = await service_pool("fulfilment")
    invoicing = await service_pool("invoicing")
    placed = order_placed()
    cancelled = follow_up(placed, OrderCancelled, producer="test", reason="changed my mind")
    async with fulfilment.acquire() as conn, conn.transaction():
        await outbox.append(conn, [placed, cancelled])
        await outbox.append(conn, [placed])  # a repeat changes nothing
    async with fulfilment.acquire() as conn:
        assert [e.event_id for e in await outbox_events(conn)] == [
            placed.event_id,
            cancelled.event_id,
        ]
        assert await conn.fetchval("SELECT array_agg(topic ORDER BY id) FROM outbox") == [
            topics.ORDERS,
            topics.ORDERS,
        ]
    async with invoicing.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_append_wakes_the_relay_of_that_schema_only_after_commit(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("fulfilment")
    woken = asyncio.Event()
    listener = await pool.acquire()
    channel = outbox.notify_channel("fulfilment")

    def wake(*_: object) -> None:
        woken.set()

    await listener.add_listener(channel, wake)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.append(conn, [order_placed()])
            await asyncio.sleep(0.2)
            assert not woken.is_set()  # NOTIFY is delivered on commit
        await asyncio.wait_for(woken.wait(), timeout=5)
    finally:
        await listener.remove_listener(channel, wake)
        await pool.release(listener)


def test_follow_up_carries_the_order_and_parties_of_its_cause() -> None:
    placed = order_placed()
    cancelled = follow_up(placed, OrderCancelled, producer="order-intake", reason="r")
    assert (cancelled.order_id, cancelled.root_order_id) == (placed.order_id, placed.root_order_id)
    assert (cancelled.supplier, cancelled.requester) == ("FRAMES", "ASSEMBLY")
    assert cancelled.causation_id == placed.event_id
    assert cancelled.producer == "order-intake"
    assert cancelled.event_id != placed.event_id
