"""The relay never stops for one bad row: a row the broker refuses for good is retried with
backoff, then parked (table, metric) while every other order flows on; the same order's
later rows wait behind it, and a release (the operator route's, supplychain_kit.http.operator_api)
publishes both, in order.

Real Tansu and PostgreSQL: the relay publishes through the producer and send function the
services use, with its message size limit set low (OUTBOX_MAX_MESSAGE_BYTES), so an order with
many lines is "too large" the way a record over the broker's limit is; another order's event
is bound for a topic that does not exist (and must not be auto-created).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from supplychain_contracts import OrderCancelled, OrderPlaced, follow_up, topics
from supplychain_contracts.events import OrderLine
from supplychain_kit import db
from supplychain_kit.messaging import outbox, outbox_parking
from supplychain_kit.runtime import create_relay_producer, send_record
from supplychain_kit.settings import ServiceSettings
from support import Record, read_records
from support.events import order_placed

SCHEMA = "fulfilment"
SERVICE = "parking-test"
SMALL_LIMIT = 4096
MISSING_TOPIC = "supplychain.not-created.v1"
PARK_AFTER_S = 1.0  # with a backoff of 0.1 s doubling, later than the third attempt


def _placed(lines: int = 1) -> OrderPlaced:
    return order_placed(
        producer=SERVICE,
        lines=tuple(
            OrderLine(sku=f"FRAME-{n:04d}-{'X' * 40}", quantity=1, unit_price="10.00")
            for n in range(lines)
        ),
    )


def _cancelled(placed: OrderPlaced) -> OrderCancelled:
    return follow_up(placed, OrderCancelled, producer=SERVICE, reason="changed my mind")


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": SERVICE, **labels}) or 0.0


@pytest.fixture
async def database_url(database: Any) -> str:
    url = database.new_database()
    pool = await db.create_pool(url, schema=SCHEMA, max_size=2)
    await db.migrate(pool, schema=SCHEMA, files=db.kit_migrations())
    await pool.close()
    return url


class RunningRelay:
    """An OutboxRelay on its own pool and producer, as ServiceRuntime runs it."""

    def __init__(self, url: str, bootstrap: str, *, max_message_bytes: int) -> None:
        self.url = url
        self.settings = ServiceSettings(
            kafka_bootstrap_servers=bootstrap,
            service_name=SERVICE,
            outbox_max_message_bytes=max_message_bytes,
        )

    async def __aenter__(self) -> asyncpg.Pool:
        self.pool = await db.create_pool(self.url, schema=SCHEMA, max_size=4)
        self.producer: AIOKafkaProducer = create_relay_producer(self.settings)
        await self.producer.start()

        async def publish(topic: str, key: bytes, payload: bytes, headers: dict[str, str]) -> Any:
            return await send_record(self.producer, topic, key, payload, headers)

        relay = outbox.OutboxRelay(
            pool=self.pool,
            publish=publish,
            schema=SCHEMA,
            service=SERVICE,
            poll_interval=0.05,
            retry=outbox_parking.RetryPolicy(
                park_after_attempts=3, park_after_s=PARK_AFTER_S, backoff_s=0.1
            ),
        )
        self.task = asyncio.create_task(relay.run())
        return self.pool

    async def __aexit__(self, *_: object) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.producer.stop()
        await self.pool.close()


async def _append(pool: asyncpg.Pool, *events: Any) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, list(events))


async def _append_to_missing_topic(pool: asyncpg.Pool, event: Any) -> None:
    """As if the event's topic had not been created on this broker."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, [event])
        await conn.execute(
            "UPDATE outbox SET topic = $1 WHERE event_id = $2", MISSING_TOPIC, event.event_id
        )


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _create_missing_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(MISSING_TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _wait_for(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


def _of(records: list[Record], order: OrderPlaced) -> list[str]:
    return [r.json["event_type"] for r in records if r.key == str(order.order_id).encode()]


async def test_a_refused_row_parks_others_flow_its_order_waits_and_release_publishes_in_order(
    broker: Any, database_url: str
) -> None:
    bad, good_b, good_c, late = _placed(lines=80), _placed(), _placed(), _placed()
    lost = _placed()  # its OrderPlaced goes to a topic that does not exist
    refusals_before = _metric("supplychain_outbox_refusals_total", error="MessageSizeTooLargeError")
    async with RunningRelay(
        database_url, broker.bootstrap_servers, max_message_bytes=SMALL_LIMIT
    ) as pool:
        # bad order first, its later event after the good orders' first ones
        await _append(pool, bad, good_b)
        await _append_to_missing_topic(pool, lost)
        await _append(pool, _cancelled(bad), good_c, _cancelled(lost), _cancelled(good_b))

        async def parked() -> list[Any]:
            rows = await pool.fetch(
                "SELECT * FROM outbox_failures WHERE parked_at IS NOT NULL ORDER BY outbox_id"
            )
            return rows if len(rows) == 2 else []

        row, lost_row = await _wait_for(parked)
        for parked_row in (row, lost_row):  # both bounds held: attempts and time
            assert parked_row["attempts"] >= 3
            waited = parked_row["parked_at"] - parked_row["first_failed_at"]
            assert waited.total_seconds() >= PARK_AFTER_S
        assert row["key"] == str(bad.order_id)
        assert "MessageSizeTooLargeError" in row["last_error"]
        assert lost_row["key"] == str(lost.order_id)
        assert "UnknownTopicOrPartitionError" in lost_row["last_error"]
        assert MISSING_TOPIC not in await _topics(broker.bootstrap_servers)  # not auto-created
        assert _metric("supplychain_outbox_parked") == 2
        assert (
            _metric("supplychain_outbox_refusals_total", error="MessageSizeTooLargeError")
            == refusals_before + row["attempts"]
        )
        # the relay moves on: an order placed after the park is published too
        await _append(pool, late)
        records = await read_records(
            broker.bootstrap_servers,
            [topics.ORDERS],
            until=lambda rs: bool(_of(rs, late)) and len(_of(rs, good_b)) == 2,
        )
        assert _of(records, good_b) == ["OrderPlaced", "OrderCancelled"]
        assert _of(records, good_c) == ["OrderPlaced"]
        assert _of(records, bad) == []  # its cancellation waits behind the parked row
        assert _of(records, lost) == []  # on another topic, but the same order: it waits
        waiting = await pool.fetch(
            "SELECT event_type, published_at FROM outbox WHERE key = $1 ORDER BY id",
            str(bad.order_id),
        )
        assert [(r["event_type"], r["published_at"]) for r in waiting] == [
            ("OrderPlaced", None),
            ("OrderCancelled", None),
        ]
        async with pool.acquire() as conn:  # what the operator route lists
            listed = await outbox_parking.parked_rows(conn)
        assert [(r["key"], r["event_type"]) for r in listed] == [
            (str(bad.order_id), "OrderPlaced"),
            (str(lost.order_id), "OrderPlaced"),
        ]
        assert "MessageSizeTooLargeError" in listed[0]["last_error"]

    # the fixes: a limit the record fits (as after raising the broker's and the relay's
    # limit), and the missing topic created
    await _create_missing_topic(broker.bootstrap_servers)
    async with RunningRelay(
        database_url, broker.bootstrap_servers, max_message_bytes=1_048_576
    ) as pool:
        await asyncio.sleep(0.5)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 4
        async with pool.acquire() as conn:
            released = await outbox_parking.release(
                conn, channel=outbox.notify_channel(SCHEMA), outbox_ids=None
            )
        ids = [row["outbox_id"], lost_row["outbox_id"]]
        assert [r.outbox_id for r in released] == ids
        assert [r.event_id for r in released] == [bad.event_id, lost.event_id]

        records = await read_records(
            broker.bootstrap_servers,
            [topics.ORDERS, MISSING_TOPIC],
            until=lambda rs: len(_of(rs, bad)) == 2 and len(_of(rs, lost)) == 2,
        )
        assert _of(records, bad) == ["OrderPlaced", "OrderCancelled"]
        offsets = [r.offset for r in records if r.key == str(bad.order_id).encode()]
        assert offsets == sorted(offsets)  # one partition per key: the order holds
        assert {
            (r.topic, r.json["event_type"]) for r in records if r.key == str(lost.order_id).encode()
        } == {(MISSING_TOPIC, "OrderPlaced"), (topics.ORDERS, "OrderCancelled")}

        # across topics, the order shows in when the relay published them
        async def both_marked() -> list[Any]:
            rows = await pool.fetch(
                "SELECT published_at FROM outbox WHERE key = $1 ORDER BY id", str(lost.order_id)
            )
            return rows if all(r["published_at"] for r in rows) else []

        placed_at, cancelled_at = await _wait_for(both_marked, timeout=5)
        assert placed_at["published_at"] <= cancelled_at["published_at"]
        assert await pool.fetchval("SELECT count(*) FROM outbox_failures") == 0

        async def gauge_cleared() -> bool:
            return _metric("supplychain_outbox_parked") == 0

        await _wait_for(gauge_cleared, timeout=5)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    try:
        again = await outbox_parking.release(
            conn, channel=outbox.notify_channel(SCHEMA), outbox_ids=[row["outbox_id"]]
        )
    finally:
        await conn.close()
    assert again == []  # not parked any more


async def test_a_broker_outage_never_parks_a_row(database_url: str) -> None:
    """Not being able to reach the broker is not a refusal: the batch is retried as it is."""
    order = _placed()
    pool = await db.create_pool(database_url, schema=SCHEMA, max_size=2)
    try:
        await _append(pool, order)
        relay = outbox.OutboxRelay(
            pool=pool,
            publish=_unreachable,
            schema=SCHEMA,
            service=SERVICE,
            retry=outbox_parking.RetryPolicy(park_after_attempts=1, park_after_s=0, backoff_s=0.01),
        )
        for _ in range(3):
            with pytest.raises(errors.KafkaConnectionError):
                await relay.publish_batch()
        assert await pool.fetchval("SELECT count(*) FROM outbox_failures") == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
    finally:
        await pool.close()


async def _unreachable(topic: str, key: bytes, payload: bytes, headers: dict[str, str]) -> Any:
    raise errors.KafkaConnectionError("no broker")


@pytest.mark.parametrize(
    ("error", "for_good"),
    [
        (errors.MessageSizeTooLargeError(), True),
        (errors.RecordListTooLargeError(), True),
        (errors.UnknownTopicOrPartitionError(), True),
        (errors.InvalidTopicError(), True),
        (errors.TopicAuthorizationFailedError(), True),
        (errors.KafkaConnectionError(), False),
        (errors.KafkaTimeoutError(), False),
        (errors.RequestTimedOutError(), False),
        (errors.NotLeaderForPartitionError(), False),
        (OSError("connection reset"), False),
    ],
)
def test_only_refusals_of_the_record_or_its_topic_park(error: Exception, for_good: bool) -> None:
    assert outbox_parking.refused(error) is for_good
