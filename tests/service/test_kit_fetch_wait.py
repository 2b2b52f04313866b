"""The consumer's fetch wait: short while records flow, long once idle (few empty fetches on
an idle machine), short again as soon as records come. Real Tansu and PostgreSQL, the kit's
consumer on FastStream as the services run it; the wait is read where aiokafka's fetcher
takes it for each fetch request (a private attribute: this test notices if it goes away)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from supplychain_contracts import topics
from supplychain_contracts.envelope import Event
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from support import eventually
from support.events import order_placed
from support.service import ServicePool

BUSY_MS, IDLE_MS = 10, 400


async def test_the_fetch_wait_grows_when_idle_and_shrinks_when_records_come(
    service_pool: ServicePool, broker: Any
) -> None:
    pool = await service_pool("fulfilment")  # any schema with the kit's inbox
    applied: list[uuid.UUID] = []

    async def apply(conn: asyncpg.Connection, event: Event) -> None:
        applied.append(event.event_id)

    kafka = KafkaBroker(broker.bootstrap_servers)
    consumer = ReliableConsumer(
        service="fetch-wait",
        topics=[topics.ORDERS, topics.FULFILMENT],  # several partitions: Tansu answers late
        pool=pool,
        broker=kafka,
        apply=apply,
        config=ConsumerConfig(
            group_id="fetch-wait",
            fetch_max_wait_ms=BUSY_MS,
            fetch_idle_wait_ms=IDLE_MS,
            fetch_idle_after_s=0.5,
            session_timeout_ms=2000,
            heartbeat_interval_ms=300,
        ),
    )
    consumer.register()
    (fetch_wait,) = consumer.fetch_waits
    await kafka.start()
    adapt = asyncio.create_task(fetch_wait.run())
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
    await producer.start()

    def wait_now() -> int | None:
        fetcher = getattr(fetch_wait._subscriber.consumer, "_fetcher", None)
        return getattr(fetcher, "_fetch_max_wait_ms", None)

    def recheck_s() -> float:
        """The fetch loop's own re-check while a fetch is out: as long as the fetch waits."""
        return float(fetch_wait._subscriber.consumer._fetcher._fetcher_timeout)

    try:
        await eventually(lambda: wait_now() == IDLE_MS, timeout=30, what="the idle wait")
        assert recheck_s() == IDLE_MS / 1000
        for _ in range(2):  # from idle: delivered, and the wait is short again
            event = order_placed()
            await producer.send_and_wait(
                topics.ORDERS,
                event.model_dump_json().encode(),
                key=event.message_key().encode(),
                headers=[("event_type", b"OrderPlaced")],
            )
            await eventually(lambda e=event: e.event_id in applied, timeout=15, what="applied")
            assert wait_now() == BUSY_MS
            assert recheck_s() == 0.2  # aiokafka's, for a fetch wait shorter than that
            # and long again once nothing more came
            await eventually(lambda: wait_now() == IDLE_MS, timeout=15, what="idle again")
    finally:
        adapt.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await adapt
        await producer.stop()
        await kafka.stop()
