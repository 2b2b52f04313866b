"""The outbox relay when the broker goes away in the middle of a batch.

Several batches of rows (four events per order, orders interleaved, so a batch boundary cuts
through each order's events); the real relay publishes them to a real broker, which is killed
right after the relay sent a row in the middle of its second batch and started again two
seconds later. That row's confirmation never comes: the relay must not mark what the broker
did not confirm, must retry, and in the end every row is on the topic (at least once),
marked published, and each order's events keep their order.

The embedded broker keeps records in memory only: what it confirmed before the kill is read
by a consumer of the test before the kill, the rest from the broker started again; and the
relay's sends wait while the broker is down, so none goes to a topic not made again yet (as
the service is frozen across the restart in test_reliability).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from supplychain_contracts import (
    OrderAccepted,
    OrderDelivered,
    OrderShipped,
    WorkStarted,
    follow_up,
    topics,
)
from supplychain_contracts.envelope import Event
from supplychain_kit import metrics
from supplychain_kit.messaging import outbox
from supplychain_kit.runtime import send_record
from support import Tail, read_to_end
from support.events import order_placed
from support.service import ServicePool

ORDERS = 10
BATCH = 8  # 40 rows: five batches
KILL_AT_SEND = 12  # the 4th row of the second batch: sent to a broker that is gone
DOWN_S = 2.0  # longer than the producer's request timeout: that row's send fails
SERVICE = "hardening-relay"


def _events_of_one_order() -> list[Event]:
    placed = order_placed()
    return [
        follow_up(placed, OrderAccepted, producer="fulfilment"),
        follow_up(placed, WorkStarted, producer="fulfilment"),
        follow_up(placed, OrderShipped, producer="fulfilment"),
        follow_up(placed, OrderDelivered, producer="fulfilment", lines=placed.lines),
    ]


async def _drained(pool: asyncpg.Pool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with pool.acquire() as conn:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} outbox rows still unpublished after {timeout}s")
        await asyncio.sleep(0.1)


def _event_id(value: str) -> str:
    return str(Event.model_validate_json(value).event_id)


async def test_a_broker_killed_mid_batch_loses_no_row_and_keeps_each_orders_order(
    service_pool: ServicePool, broker: Any, needs_embedded_broker: None
) -> None:
    pool = await service_pool("fulfilment")
    per_order = [_events_of_one_order() for _ in range(ORDERS)]
    async with pool.acquire() as conn, conn.transaction():
        for round_ in range(4):  # interleaved: row ids alternate between orders
            await outbox.append(conn, [events[round_] for events in per_order])

    tail = Tail(broker.bootstrap_servers, topics.FULFILMENT)
    await tail.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        request_timeout_ms=1000,  # the relay's producer waits 15 s; the outcome is the same
        retry_backoff_ms=50,
    )
    await producer.start()
    back = asyncio.Event()
    back.set()
    sent: list[tuple[str, Any]] = []  # (event id, confirmation) of every send

    async def broker_down_then_back() -> None:
        await asyncio.sleep(DOWN_S)  # the outage's length, not a synchronisation
        await broker.restart()
        back.set()

    restarting: list[asyncio.Task[None]] = []

    async def publish(topic: str, key: bytes, payload: bytes, headers: dict[str, str]) -> Any:
        await back.wait()
        if len(sent) + 1 == KILL_AT_SEND:
            # what the broker confirmed so far must survive its memory: read it first
            await asyncio.gather(*(confirmation for _, confirmation in sent))
            confirmed = {event_id for event_id, _ in sent}
            await tail.wait_until(
                lambda records: confirmed <= {r.json["event_id"] for r in records},
                what="the test's reader seeing the confirmed records",
            )
            await tail.stop()
            broker.kill()
            back.clear()
            restarting.append(asyncio.create_task(broker_down_then_back()))
        confirmation = await send_record(producer, topic, key, payload, headers)
        sent.append((_event_id(payload.decode()), confirmation))
        return confirmation

    errors = metrics.OUTBOX_PUBLISH_ERRORS.labels(service=SERVICE)
    errors_before = errors._value.get()
    relay = outbox.OutboxRelay(
        pool=pool,
        publish=publish,
        schema="fulfilment",
        service=SERVICE,
        batch_size=BATCH,
        poll_interval=0.05,
    )
    running = asyncio.create_task(relay.run())
    try:
        await _drained(pool)
    finally:
        running.cancel()
        await asyncio.gather(running, *restarting, return_exceptions=True)
        await tail.stop()
        await producer.stop()
    assert restarting, "the broker was never killed"

    after_restart = await read_to_end(broker.bootstrap_servers, [topics.FULFILMENT])
    on_topic: dict[str, list[str]] = defaultdict(list)  # key -> event ids as published
    for record in [*tail.records, *sorted(after_restart, key=lambda r: (r.partition, r.offset))]:
        on_topic[(record.key or b"").decode()].append(record.json["event_id"])
    for events in per_order:
        key = str(events[0].order_id)
        wanted = [str(e.event_id) for e in events]
        seen = on_topic[key]
        assert set(seen) == set(wanted), f"order {key}: lost {set(wanted) - set(seen)}"
        # at least once: a repeat may follow, but never an event before its predecessor's
        # first publication
        assert list(dict.fromkeys(seen)) == wanted, f"order {key} out of order: {seen}"
    async with pool.acquire() as conn:
        unmarked = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        rows = await conn.fetchval("SELECT count(*) FROM outbox")
    assert (unmarked, rows) == (0, ORDERS * 4)
    # the outage failed the batch it interrupted (what proves this test saw one), and the
    # relay sent that batch again: more sends than rows
    assert errors._value.get() - errors_before >= 1
    assert len(sent) > ORDERS * 4
