"""Each service's exactly-once consume path with its real handlers, against a raw baseline.

After the ramp the broker still holds every event of the run. For each service, two fresh
copies of its database (its migrations, its own seed, the reference topic applied, and for
order intake the orders it had taken over HTTP) consume the same records of the topics the
service subscribes to:

- raw: aiokafka `getmany` (100 records), one transaction per batch doing the same SQL effect
  (the inbox claim of the batch and the service's own handlers), then an offset commit; like
  the kit's consumer it skips, unparsed and unclaimed, the records whose `event_type` header
  names an event the service has no effect for;
- platform: the kit's ReliableConsumer on FastStream, as the service runs it (batching,
  spans, metrics middleware, retry and dead-letter paths), with the same handlers.

Both sides run the service's handler code; the ratio is what the platform's consume path
costs on top of the effect itself.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from supplychain_contracts import topics
from supplychain_contracts.reference import ReferenceEvent
from supplychain_contracts.registry import parse_known_event
from supplychain_contracts.topics import HEADER_EVENT_TYPE
from supplychain_kit import db
from supplychain_kit.messaging import effects, inbox
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.dispatch import Dispatch
from supplychain_kit.messaging.known_events import contract_events
from supplychain_kit.runtime import ServiceRuntime, create_broker
from supplychain_kit.telemetry import setup_tracing

# service name -> its composition root and the tables holding what it learnt outside the
# topics it consumes (order intake's orders come from its own HTTP API)
SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "order-intake": ("order_intake.main", ("orders",)),
    "fulfilment": ("fulfilment.main", ()),
    "invoicing": ("invoicing.main", ()),
    "monitoring": ("monitoring.main", ()),
}
BATCH = 100


@dataclass
class ServiceConsume:
    service: str
    records: int  # records of the measured topics
    applied: int  # events claimed and applied (each side)
    raw: float  # msg/s
    platform: float  # msg/s

    @property
    def ratio(self) -> float:
        return self.platform / self.raw if self.raw else 0.0


def service_runtime(module: str, bootstrap: str, database_url: str) -> ServiceRuntime[Any]:
    main = importlib.import_module(module)
    app = main.create_app(
        _settings_for(module)(
            environment="local", kafka_bootstrap_servers=bootstrap, database_url=database_url
        )
    )
    runtime: ServiceRuntime[Any] = app.state.runtime
    return runtime


def _settings_for(module: str) -> Any:
    package = module.split(".")[0]
    config = importlib.import_module(f"{package}.config")
    return next(
        value
        for name, value in vars(config).items()
        if name.endswith("Settings")
        and isinstance(value, type)
        and value.__module__ == config.__name__
    )


async def fresh_copy(
    runtime: ServiceRuntime[Any], database_url: str, copied: tuple[str, ...]
) -> tuple[asyncpg.Pool, str]:
    schema = f"bench_{runtime.schema}_{uuid.uuid4().hex[:6]}"
    pool = await db.create_pool(database_url, schema=schema, max_size=4)
    files = db.kit_migrations() + db.package_migrations(runtime.migrations_package)
    await db.migrate(pool, schema=schema, files=files)
    if runtime.seed is not None:
        await runtime.seed(pool)
    async with pool.acquire() as conn:
        for table in copied:
            await conn.execute(f'INSERT INTO {table} SELECT * FROM "{runtime.schema}".{table}')
        if "orders" in copied:  # as placed: the consumed events move them on again
            await conn.execute("UPDATE orders SET status = 'placed'")
        await conn.execute("DELETE FROM outbox")  # what the seed published is not measured
    return pool, schema


async def apply_in_runs(conn: asyncpg.Connection, apply: Any, events: list[Any]) -> None:
    """The same effect as the kit's: consecutive events of one batch handler in one call."""
    batched = apply.batched if isinstance(apply, Dispatch) else (lambda _: None)
    for handler, run in itertools.groupby(events, key=batched):
        if handler is None:
            for event in run:
                await apply(conn, event)
        else:
            await handler.handle(conn, list(run))


def has_effect(record: Any, apply: Any) -> bool:
    """False for a record the kit's consumer skips: its `event_type` header names a known,
    non-reference event of its topic that the service's dispatch table has no handler for."""
    if not isinstance(apply, Dispatch):
        return True
    names = [v for k, v in record.headers or () if k == HEADER_EVENT_TYPE]
    model = contract_events().model_on(names[0].decode(), record.topic) if names else None
    return model is None or issubclass(model, ReferenceEvent) or apply.handles(model)


async def raw_consume(
    bootstrap: str,
    pool: asyncpg.Pool,
    runtime: ServiceRuntime[Any],
    names: list[str],
    *,
    timed: bool,
) -> tuple[int, int, float]:
    """getmany + one transaction per batch (inbox claim + the service's handlers) + commit,
    up to the end offsets the topics had when this consumer joined: (records, events
    applied, records/s)."""
    assert runtime.apply is not None
    group = f"raw-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    seen = applied = 0
    started = 0.0
    try:
        # every partition assigned by hand: the offsets are committed to the group as a
        # service does, without the seconds a group join costs on Tansu
        await consumer.topics()  # fetches the metadata of every topic
        assigned = [
            TopicPartition(name, partition)
            for name in names
            for partition in sorted(consumer.partitions_for_topic(name) or ())
        ]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        starts = await consumer.beginning_offsets(assigned)
        records = sum(ends[tp] - starts[tp] for tp in assigned)

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in assigned])

        while await behind():
            batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            fetched = [r for rs in batch.values() for r in rs]
            if not fetched:
                continue
            started = started or time.perf_counter()
            events = [
                e
                for e in (
                    parse_known_event(r.value or b"", topic=r.topic)
                    for r in fetched
                    if has_effect(r, runtime.apply)
                )
                if e is not None
            ]
            with effects.unit_of_work() as pending:
                async with pool.acquire() as conn, conn.transaction():
                    fresh = await inbox.claim_many(conn, consumer=group, events=events)
                    claimed = []
                    for event in events:
                        if event.event_id in fresh:
                            fresh.discard(event.event_id)
                            claimed.append(event)
                    await apply_in_runs(conn, runtime.apply, claimed)
                    applied += len(claimed)
            effects.run(pending)
            await consumer.commit()
            seen += len(fetched)
        elapsed = time.perf_counter() - started
        return records, applied, (seen / elapsed if timed and elapsed else 0.0)
    finally:
        await consumer.stop()


async def platform_consume(
    bootstrap: str,
    pool: asyncpg.Pool,
    runtime: ServiceRuntime[Any],
    names: list[str],
    records: int,
    applied: int,
) -> float:
    """The kit's ReliableConsumer as the service registers it; done when every event the raw
    side applied is in the inbox."""
    assert runtime.apply is not None
    group = f"kit-{uuid.uuid4().hex[:8]}"
    broker = create_broker(runtime.settings)
    ReliableConsumer(
        service=runtime.settings.service_name,
        topics=names,
        pool=pool,
        broker=broker,
        apply=runtime.apply,
        # Tansu holds a group's first JoinGroup for half the session timeout: seconds of
        # setup, never timed (the clock starts with the first applied batch)
        config=ConsumerConfig(
            group_id=group,
            batch_size=BATCH,
            fetch_max_wait_ms=10,
            session_timeout_ms=2000,
            heartbeat_interval_ms=300,
        ),
        middlewares=(
            KafkaPrometheusMiddleware(
                registry=CollectorRegistry(), app_name=runtime.settings.service_name
            ),
        ),
    ).register()
    await broker.start()
    try:
        first, started, deadline = 0, 0.0, time.monotonic() + 300
        while time.monotonic() < deadline:
            async with pool.acquire() as conn:
                done = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group)
            if done and not started:
                first, started = done, time.perf_counter()
            if done >= applied:
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError(f"{runtime.settings.service_name}: the kit consumer stalled")
        # the clock starts with the first applied batch, as on the raw side; events applied
        # per second are turned into records per second like the raw side counts them
        elapsed = time.perf_counter() - started
        return (done - first) / elapsed * records / max(applied, 1)
    finally:
        await broker.stop()


async def measure_service(service: str, bootstrap: str, database_url: str) -> ServiceConsume:
    module, copied = SERVICES[service]
    runtime = service_runtime(module, bootstrap, database_url)
    names = [t for t in runtime.consumes if t != topics.REFERENCE]
    rates: dict[str, float] = {}
    applied_by: dict[str, int] = {}
    records = 0
    for side in ("raw", "platform"):
        pool, schema = await fresh_copy(runtime, database_url, copied)
        try:
            # what the service knows of the company before the orders: not measured
            await raw_consume(bootstrap, pool, runtime, [topics.REFERENCE], timed=False)
            if side == "raw":
                records, applied_by[side], rates[side] = await raw_consume(
                    bootstrap, pool, runtime, names, timed=True
                )
            else:
                rates[side] = await platform_consume(
                    bootstrap, pool, runtime, names, records, applied_by["raw"]
                )
        finally:
            await pool.close()
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            finally:
                await conn.close()
    print(
        f"  {service}: {records} records, raw {rates['raw']:,.0f} msg/s, "
        f"platform {rates['platform']:,.0f} msg/s",
        flush=True,
    )
    return ServiceConsume(service, records, applied_by["raw"], rates["raw"], rates["platform"])


async def measure_services(bootstrap: str, database_url: str) -> list[ServiceConsume]:
    # tracing as in a service `make run` starts (no OTLP endpoint: context carried, no spans
    # recorded); with an endpoint each record's span costs more (README: tracing cost)
    setup_tracing("bench", otlp_endpoint=None)
    return [await measure_service(name, bootstrap, database_url) for name in SERVICES]
