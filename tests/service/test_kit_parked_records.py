"""A producer newer than its consumer: nothing is lost. The older consumer parks the records
of event types its contracts lack (in its batch's transaction; counted; the partition moves
on), dead-letters an event of another topic with that reason, applies known events without
a handler as nothing, as before; restarted with contracts that know the types, the consumer
applies the parked records at start, once, in order, even with two replicas starting at once.

The kit's ServiceRuntime in process, on a real broker and database: the older consumer is
one whose known event types (`KnownEvents`) leave out OrderShipped and OrderDelivered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any

import asyncpg
import pytest
from supplychain_contracts import (
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    WorkStarted,
    follow_up,
    topics,
)
from supplychain_contracts.envelope import Event
from supplychain_contracts.registry import EVENTS_BY_TOPIC
from supplychain_kit import db, metrics, runtime
from supplychain_kit.messaging import consumer_parking
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.dispatch import dispatch
from supplychain_kit.messaging.known_events import KnownEvents
from supplychain_kit.runtime import ServiceRuntime
from supplychain_kit.settings import ServiceSettings
from support import eventually, fetched, placed_event_json, produce, read_records
from support.service import ServicePool

SERVICE = "parking-test"
SCHEMA = "invoicing"  # any service's schema: the kit's tables and a table of effects
NEW_TYPES = (OrderShipped, OrderDelivered)
OLDER = KnownEvents(
    MappingProxyType(
        {
            **EVENTS_BY_TOPIC,
            topics.FULFILMENT: tuple(
                model for model in EVENTS_BY_TOPIC[topics.FULFILMENT] if model not in NEW_TYPES
            ),
        }
    )
)


def chain() -> list[Event]:
    """One order's events: placed, accepted, shipped, delivered, started."""
    placed = OrderPlaced.model_validate_json(placed_event_json()[1])
    accepted = follow_up(placed, OrderAccepted, producer="fulfilment")
    shipped = follow_up(accepted, OrderShipped, producer="fulfilment")
    delivered = follow_up(
        shipped, OrderDelivered, producer="fulfilment", lines=placed.lines, currency="EUR"
    )
    started = follow_up(accepted, WorkStarted, producer="fulfilment")
    return [placed, accepted, shipped, delivered, started]


async def note_applied(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute(
        "INSERT INTO applied (event_id, event_type) VALUES ($1, $2)",
        event.event_id,
        event.event_type,
    )


# OrderRejected is known to both versions and handled by neither: applied as nothing.
APPLY = dispatch({model: note_applied for model in (OrderAccepted, WorkStarted, *NEW_TYPES)})


def counted(metric: Any, **labels: str) -> float:
    return float(metric.labels(**labels)._value.get())


def parked_labels(model: type[Event]) -> dict[str, str]:
    return {"service": SERVICE, "topic": topics.FULFILMENT, "event_type": model.__name__}


@pytest.fixture
async def database_url(database: Any) -> str:
    url = database.new_database()
    await db.ensure_schema(url, schema=SCHEMA)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"""CREATE TABLE "{SCHEMA}".applied (
                    seq bigserial PRIMARY KEY, event_id uuid NOT NULL, event_type text NOT NULL)"""
        )
    finally:
        await conn.close()
    return url


async def test_an_older_consumer_parks_new_types_and_applies_them_once_upgraded(
    database_url: str, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in process: the global tracer provider stays the test session's
    monkeypatch.setattr(runtime, "setup_service_tracing", lambda *args, **kwargs: None)
    group = f"parking-{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(
        service_name=SERVICE,
        environment="test",
        kafka_bootstrap_servers=broker.bootstrap_servers,
        database_url=database_url,
        consumer_group=group,
        kafka_fetch_max_wait_ms=10,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=300,
        database_pool_size=4,
    )

    def service(events: KnownEvents | None) -> ServiceRuntime[ServiceSettings]:
        return ServiceRuntime(
            settings=settings,
            schema=SCHEMA,
            migrations_package=SCHEMA,
            consumes=(topics.FULFILMENT,),
            apply=APPLY,
            events=events,
        )

    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    try:

        async def applied() -> list[tuple[uuid.UUID, str]]:
            rows = await conn.fetch("SELECT event_id, event_type FROM applied ORDER BY seq")
            return [(row["event_id"], row["event_type"]) for row in rows]

        # `misplaced` is the order's OrderPlaced, redriven to the wrong topic
        misplaced, accepted, shipped, delivered, started = chain()
        rejected = follow_up(accepted, OrderRejected, producer="fulfilment", reason="no stock")
        before = {
            model: counted(metrics.CONSUMER_PARKED, **parked_labels(model)) for model in NEW_TYPES
        }
        duplicates_before = counted(
            metrics.CONSUMED, service=SERVICE, topic=topics.FULFILMENT, outcome="duplicate"
        )

        older = service(OLDER)
        await older.start()
        try:
            for event in (accepted, shipped, delivered, misplaced, rejected, started):
                await produce(
                    broker.bootstrap_servers,
                    topics.FULFILMENT,
                    event.model_dump_json().encode(),
                    key=str(accepted.order_id).encode(),
                    headers={"event_type": event.event_type},
                )
            # the partition moved on: the record after the parked ones is applied
            await eventually(
                lambda: _contains(applied, started.event_id),
                what="WorkStarted applied by the older",
            )
            assert await applied() == [
                (accepted.event_id, "OrderAccepted"),
                (started.event_id, "WorkStarted"),
            ]
            parked = await conn.fetch(
                """SELECT consumer_group, topic, partition, "offset", key, headers, value,
                          event_type, first_seen_at FROM parked_records ORDER BY id"""
            )
            assert [(r["event_type"], r["consumer_group"], r["topic"]) for r in parked] == [
                ("OrderShipped", group, topics.FULFILMENT),
                ("OrderDelivered", group, topics.FULFILMENT),
            ]
            assert [r["offset"] for r in parked] == [1, 2]
            assert parked[0]["partition"] == parked[1]["partition"]
            assert parked[0]["key"] == str(accepted.order_id).encode()
            assert parked[0]["value"] == shipped.model_dump_json().encode()  # as received
            assert '["event_type", "OrderShipped"]' in parked[0]["headers"]
            for model in NEW_TYPES:
                labels = parked_labels(model)
                assert counted(metrics.CONSUMER_PARKED, **labels) == before[model] + 1
                # the gauge is read from the table once the batch committed
                await eventually(
                    lambda labels=labels: counted(metrics.CONSUMER_PARKED_RECORDS, **labels) == 1,
                    what=f"the parked-records gauge of {model.__name__}",
                )

            (dead,) = await read_records(
                broker.bootstrap_servers,
                [topics.dead_letter_topic(topics.FULFILMENT)],
                until=lambda records: len(records) >= 1,
            )
            assert dead.json["event_id"] == str(misplaced.event_id)
            assert dead.headers["dlq_error_type"] == "MisroutedEvent"
            assert dead.headers["dlq_error"] == (
                "OrderPlaced belongs to supplychain.orders.v1, not supplychain.fulfilment.v1"
            )
            # what the operator route lists (GET /v1/operations/consumer-parking)
            listed = await consumer_parking.parked_rows(conn)
            assert [row["event_type"] for row in listed] == ["OrderShipped", "OrderDelivered"]
            assert {row["consumer_group"] for row in listed} == {group}
            # known to the older consumer, handled by nobody: skipped by its header, unparsed
            # and never claimed in the inbox (it has no effect to make idempotent)
            assert not await conn.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2",
                group,
                rejected.event_id,
            )
        finally:
            await older.stop()

        # upgraded: two replicas start at once; the parked records are applied before they
        # consume, once, in the order they came
        upgraded = [service(None), service(None)]
        await asyncio.gather(*(replica.start() for replica in upgraded))
        try:

            async def all_applied() -> bool:
                return len(await applied()) == 4 and not await conn.fetchval(
                    "SELECT count(*) FROM parked_records"
                )

            await eventually(all_applied, what="the parked records applied after the upgrade")
            assert await applied() == [
                (accepted.event_id, "OrderAccepted"),
                (started.event_id, "WorkStarted"),
                (shipped.event_id, "OrderShipped"),
                (delivered.event_id, "OrderDelivered"),
            ]
            assert (
                counted(
                    metrics.CONSUMED, service=SERVICE, topic=topics.FULFILMENT, outcome="duplicate"
                )
                == duplicates_before
            ), "the second replica applied parked records again"

            async def gauge_cleared() -> bool:
                return all(
                    counted(metrics.CONSUMER_PARKED_RECORDS, **parked_labels(model)) == 0
                    for model in NEW_TYPES
                )

            await eventually(gauge_cleared, what="the gauge of parked records back to 0")
        finally:
            await asyncio.gather(*(replica.stop() for replica in upgraded))
    finally:
        await conn.close()


async def _contains(
    applied: Callable[[], Awaitable[list[tuple[uuid.UUID, str]]]], event_id: uuid.UUID
) -> bool:
    return any(seen == event_id for seen, _ in await applied())


async def test_a_record_is_parked_in_the_transaction_of_its_batch_only_once_and_a_running_upgraded_consumer_applies_it(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool(SCHEMA)
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE applied (seq bigserial, event_id uuid NOT NULL, event_type text)"
        )
    outage = True

    async def apply(conn: asyncpg.Connection, event: Event) -> None:
        if outage:
            raise OSError("the database went away")
        await APPLY(conn, event)

    consumer = ReliableConsumer(
        service=SERVICE,
        topics=[topics.FULFILMENT],
        pool=pool,
        broker=None,  # type: ignore[arg-type]  # nothing here is dead-lettered
        apply=apply,
        config=ConsumerConfig(group_id="parked-once", max_attempts=1),
        events=OLDER,
    )
    _, accepted, shipped, _, _ = chain()
    batch = [
        fetched(e, offset, topic=topics.FULFILMENT) for offset, e in enumerate((accepted, shipped))
    ]

    async def parked() -> int:
        async with pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM parked_records"))

    with pytest.raises(OSError):
        await consumer.handle_batch(batch)
    assert await parked() == 0  # rolled back with the batch: fetched again, parked then

    outage = False
    labels = parked_labels(OrderShipped)
    before = counted(metrics.CONSUMER_PARKED, **labels)
    await consumer.handle_batch(batch)
    await consumer.handle_batch(batch)  # fetched again before its offset was committed
    assert await parked() == 1
    assert counted(metrics.CONSUMER_PARKED, **labels) == before + 1

    # a rolling upgrade: an older replica parked it after the upgraded one started, which
    # looks for parked records it knows now and then
    upgraded = ReliableConsumer(
        service=SERVICE,
        topics=[topics.FULFILMENT],
        pool=pool,
        broker=None,  # type: ignore[arg-type]
        apply=APPLY,
        config=ConsumerConfig(group_id="parked-once"),
    )
    watching = asyncio.ensure_future(upgraded.watch_parked(0.05))
    try:
        await eventually(lambda: _none_parked(pool), what="the parked record applied by the watch")
        # the gauge is read from the table after the applying transaction committed
        await eventually(
            lambda: counted(metrics.CONSUMER_PARKED_RECORDS, **labels) == 0,
            what="the parked-records gauge back to 0",
        )
    finally:
        watching.cancel()
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_id FROM applied ORDER BY seq")
    assert [row["event_id"] for row in rows] == [accepted.event_id, shipped.event_id]


async def _none_parked(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        return not await conn.fetchval("SELECT count(*) FROM parked_records")
