"""`make bench`: throughput and memory of the platform's Kafka paths, against raw aiokafka.

Everything runs in one process, in one run, on the embedded Tansu and PostgreSQL (or the ones
in KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), so the ratios compare like with like:

- publish: the outbox relay draining committed rows  vs  raw aiokafka with the relay's acks
  ("all") and its wait (send a batch of RELAY_BATCH, await the broker's confirmation of all of
  them, then the next); a raw `send` loop + flush with the default acks as the ceiling
- consume with exactly-once effects: raw aiokafka + one asyncpg transaction per record
  (inbox insert + effect)  vs  the kit's ReliableConsumer on FastStream doing the same
- raw consume (`getmany`) as the ceiling

Writes bench-report.md and prints it. Figures are for this machine at this moment: compare
ratios, not absolute numbers. `run_bench.py --only relay` measures the relay and its baseline
alone, round by round in turns, and writes no report.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from supplychain_contracts import OrderLine, OrderPlaced
from supplychain_contracts.envelope import Envelope
from supplychain_devstack.postgres import EmbeddedPostgres
from supplychain_devstack.processes import free_port
from supplychain_devstack.tansu import EmbeddedTansu
from supplychain_kit import db
from supplychain_kit.messaging import outbox
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.dispatch import Batched, dispatch
from supplychain_kit.messaging.known_events import KnownEvents
from supplychain_kit.messaging.outbox import OutboxRelay
from supplychain_kit.runtime import create_broker, create_relay_producer, send_record
from supplychain_kit.settings import ServiceSettings
from supplychain_kit.telemetry import setup_tracing, tracer

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "5000"))
# rows the relay reads, sends and waits for per round (outbox_publish, as a service runs it)
RELAY_BATCH = 500
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REPORT = Path(os.environ.get("BENCH_REPORT", "bench-report.md"))


@dataclass
class Result:
    name: str
    rates: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def sample_event() -> OrderPlaced:
    order_id = uuid.uuid4()
    return OrderPlaced(
        order_id=order_id,
        root_order_id=order_id,
        producer="bench",
        supplier="FRAMES",
        requester="ASSEMBLY",
        lines=(OrderLine(sku="FRAME-CITY", quantity=2, unit_price="104.50"),),
    )


async def new_topic(bootstrap: str) -> str:
    name = f"bench.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def fill(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        for payload in payloads:
            await producer.send(topic, payload, key=payload[14:50])
        await producer.flush()
    finally:
        await producer.stop()


async def raw_produce(bootstrap: str, payloads: list[bytes]) -> float:
    topic = await new_topic(bootstrap)
    started = time.perf_counter()
    await fill(bootstrap, topic, payloads)
    return len(payloads) / (time.perf_counter() - started)


async def raw_produce_acked(bootstrap: str, payloads: list[bytes]) -> float:
    """Raw aiokafka as the relay publishes: acks="all", RELAY_BATCH sends, then the broker's
    confirmation of all of them awaited before the next batch (the started producer is not
    timed, as the relay's is not)."""
    topic = await new_topic(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        started = time.perf_counter()
        for first in range(0, len(payloads), RELAY_BATCH):
            batch = payloads[first : first + RELAY_BATCH]
            confirmations = [await producer.send(topic, p, key=p[14:50]) for p in batch]
            await asyncio.gather(*confirmations)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, payloads: list[bytes]) -> float:
    topic = await new_topic(bootstrap)
    await fill(bootstrap, topic, payloads)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=10
    )
    await consumer.start()
    seen, started = 0, time.perf_counter()
    try:
        while seen < len(payloads):
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            seen += sum(len(records) for records in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def fresh_schema(pool_url: str) -> tuple[asyncpg.Pool, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    pool = await db.create_pool(pool_url, schema=schema, max_size=4)
    await db.migrate(pool, schema=schema, files=db.kit_migrations())
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE effects (order_id uuid PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
    return pool, schema


async def committing_consumer(bootstrap: str, topic: str, *, group: str) -> AIOKafkaConsumer:
    """A started consumer in its own group that commits by hand, as the baselines need."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        # Tansu holds a group's first JoinGroup for half the session timeout (the kit
        # consumer's settings below): seconds of setup, never timed, as the clock starts
        # with the first record
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
    )
    await consumer.start()
    return consumer


async def raw_exactly_once_consume(
    bootstrap: str, database_url: str, payloads: list[bytes]
) -> float:
    """The baseline for the same semantics: parse, one transaction (inbox + effect), commit."""
    topic = await new_topic(bootstrap)
    await fill(bootstrap, topic, payloads)
    pool, _ = await fresh_schema(database_url)
    consumer = await committing_consumer(bootstrap, topic, group=f"raw-{topic}")
    seen, started = 0, 0.0
    try:
        while seen < len(payloads):
            record = await consumer.getone()
            started = started or time.perf_counter()
            event = OrderPlaced.model_validate_json(record.value)
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO inbox (consumer, event_id, event_type) VALUES ('raw', $1, $2)",
                    event.event_id,
                    event.event_type,
                )
                await conn.execute("INSERT INTO effects (order_id) VALUES ($1)", event.order_id)
            await consumer.commit()
            seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await pool.close()


async def raw_batched_exactly_once_consume(
    bootstrap: str, database_url: str, payloads: list[bytes]
) -> float:
    """Same semantics, batched: getmany, one transaction per batch (inbox + effects), commit."""
    topic = await new_topic(bootstrap)
    await fill(bootstrap, topic, payloads)
    pool, _ = await fresh_schema(database_url)
    consumer = await committing_consumer(bootstrap, topic, group=f"rawb-{topic}")
    seen, started = 0, 0.0
    try:
        while seen < len(payloads):
            batch = await consumer.getmany(timeout_ms=200, max_records=100)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            started = started or time.perf_counter()
            events = [OrderPlaced.model_validate_json(r.value) for r in records]
            async with pool.acquire() as conn, conn.transaction():
                await conn.executemany(
                    "INSERT INTO inbox (consumer, event_id, event_type) VALUES ('raw', $1, $2)",
                    [(e.event_id, e.event_type) for e in events],
                )
                await conn.executemany(
                    "INSERT INTO effects (order_id) VALUES ($1)", [(e.order_id,) for e in events]
                )
            await consumer.commit()
            seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await pool.close()


async def kit_consume(bootstrap: str, database_url: str, payloads: list[bytes]) -> float:
    topic = await new_topic(bootstrap)
    await fill(bootstrap, topic, payloads)
    pool, _ = await fresh_schema(database_url)
    settings = ServiceSettings(
        environment="local", kafka_bootstrap_servers=bootstrap, database_url=database_url
    )
    broker = create_broker(settings)

    async def insert_effects(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        # the raw batched baseline's effect: one statement for the batch's events
        await conn.executemany(
            "INSERT INTO effects (order_id) VALUES ($1)", [(e.order_id,) for e in events]
        )

    apply = dispatch({OrderPlaced: Batched(insert_effects)})

    consumer = ReliableConsumer(
        service="bench",
        topics=[topic],
        pool=pool,
        broker=broker,
        apply=apply,
        # the bench topic is not a contract topic: every record is an OrderPlaced
        events=KnownEvents({topic: (OrderPlaced,)}),
        config=ConsumerConfig(
            group_id=f"kit-{topic}",
            fetch_max_wait_ms=10,
            session_timeout_ms=2000,
            heartbeat_interval_ms=300,
        ),
    )
    consumer.register()
    await broker.start()
    try:
        # the clock starts with the first applied record (joining the group is not
        # throughput), read from the rows' own times: a poll may see every record at once
        while True:
            async with pool.acquire() as conn:
                done = await conn.fetchval("SELECT count(*) FROM effects")
            if done >= len(payloads):
                break
            await asyncio.sleep(0.02)
        async with pool.acquire() as conn:
            span = await conn.fetchval(
                "SELECT extract(epoch FROM max(applied_at) - min(applied_at)) FROM effects"
            )
        return (len(payloads) - 1) / max(float(span), 1e-6)
    finally:
        await broker.stop()
        await pool.close()


async def outbox_publish(bootstrap: str, database_url: str, events: list[OrderPlaced]) -> float:
    topic = await new_topic(bootstrap)
    pool, schema = await fresh_schema(database_url)
    async with pool.acquire() as conn, conn.transaction():
        # written inside a request's trace context, as a service writes its events
        with tracer().start_as_current_span("POST /v1/orders"):
            await outbox.append(conn, events)
        await conn.execute("UPDATE outbox SET topic = $1", topic)
    settings = ServiceSettings(
        environment="local", kafka_bootstrap_servers=bootstrap, database_url=database_url
    )
    # the relay's own producer and publish, as ServiceRuntime runs them
    producer = create_relay_producer(settings)
    await producer.start()

    async def publish(
        topic: str, key: bytes, payload: bytes, headers: dict[str, str]
    ) -> Awaitable[Any]:
        confirmation: Awaitable[Any] = await send_record(producer, topic, key, payload, headers)
        return confirmation

    relay = OutboxRelay(
        pool=pool, publish=publish, schema=schema, service="bench", batch_size=RELAY_BATCH
    )
    started = time.perf_counter()
    try:
        published = 0
        while published < len(events):
            published += await relay.publish_batch()
        return published / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await pool.close()


async def measure(name: str, run: Callable[[], Awaitable[float]], rounds: int = ROUNDS) -> Result:
    rates = [await run() for _ in range(rounds)]
    print(f"  {name}: {', '.join(f'{r:,.0f}' for r in rates)} msg/s", flush=True)
    return Result(name, rates)


@dataclass
class KitResults:
    """The kit's Kafka paths against raw aiokafka, measured in one run (msg/s)."""

    messages: int
    consume_messages: int
    rounds: int
    size: float
    raw_produce: Result  # streaming, the default acks: the ceiling
    raw_produce_acked: Result  # the relay's acks and per-batch wait: its baseline
    relay: Result
    raw_consume: Result
    raw_exactly_once: Result
    raw_batched: Result
    kit_consumer: Result


async def measure_kit(
    bootstrap: str, database_url: str, *, messages: int = MESSAGES, rounds: int = ROUNDS
) -> KitResults:
    """Outbox relay vs raw produce, kit consumer vs raw consume (used by system_bench too)."""
    # tracing as in a service `make run` starts (no OTLP endpoint: context carried, no spans
    # recorded); with an endpoint each record's spans cost more (README: tracing cost)
    setup_tracing("bench", otlp_endpoint=None)
    events = [sample_event() for _ in range(messages)]
    payloads = [e.model_dump_json().encode() for e in events]
    size = statistics.mean(len(p) for p in payloads)
    print(f"{messages} messages of ~{size:.0f} bytes, {rounds} rounds each", flush=True)
    raw_p = await measure("raw aiokafka produce", lambda: raw_produce(bootstrap, payloads), rounds)
    raw_acked = await measure(
        f"raw aiokafka produce, acks=all, {RELAY_BATCH} a batch awaited",
        lambda: raw_produce_acked(bootstrap, payloads),
        rounds,
    )
    relay = await measure(
        "outbox relay publish",
        lambda: outbox_publish(bootstrap, database_url, [sample_event() for _ in range(messages)]),
        rounds,
    )
    raw_c = await measure("raw aiokafka consume", lambda: raw_consume(bootstrap, payloads), rounds)
    consume_n = min(messages, 3000)  # one commit per record: keep the run short
    raw_eo = await measure(
        "raw aiokafka exactly-once consume",
        lambda: raw_exactly_once_consume(bootstrap, database_url, payloads[:consume_n]),
        rounds,
    )
    raw_batched = await measure(
        "raw aiokafka exactly-once consume, batched",
        lambda: raw_batched_exactly_once_consume(bootstrap, database_url, payloads[:consume_n]),
        rounds,
    )
    kit = await measure(
        "kit ReliableConsumer",
        lambda: kit_consume(
            bootstrap,
            database_url,
            [sample_event().model_dump_json().encode() for _ in range(consume_n)],
        ),
        rounds,
    )
    return KitResults(
        messages=messages,
        consume_messages=consume_n,
        rounds=rounds,
        size=size,
        raw_produce=raw_p,
        raw_produce_acked=raw_acked,
        relay=relay,
        raw_consume=raw_c,
        raw_exactly_once=raw_eo,
        raw_batched=raw_batched,
        kit_consumer=kit,
    )


async def bench(bootstrap: str, database_url: str) -> str:
    k = await measure_kit(bootstrap, database_url)
    raw_p, raw_acked, relay, raw_c, raw_eo, raw_batched, kit = (
        k.raw_produce,
        k.raw_produce_acked,
        k.relay,
        k.raw_consume,
        k.raw_exactly_once,
        k.raw_batched,
        k.kit_consumer,
    )
    size, consume_n = k.size, k.consume_messages
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("publish", raw_acked, relay, "outbox relay / raw produce with the same acks"),
        (
            "consume, exactly-once effect",
            raw_eo,
            kit,
            "kit consumer / raw, a transaction per record",
        ),
        (
            "consume, exactly-once effect",
            raw_batched,
            kit,
            "kit consumer / raw, a transaction per batch",
        ),
    ]
    lines = [
        "# Benchmark report",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"- broker: {bootstrap}, database: {database_url.rsplit('@', 1)[-1]}",
        f"- {MESSAGES} messages (~{size:.0f} bytes) for publish; {consume_n} for exactly-once consume; "
        f"{ROUNDS} rounds, median shown",
        "",
        "| path | raw aiokafka baseline (msg/s) | platform (msg/s) | ratio |",
        "|---|---|---|---|",
    ]
    for label, base, ours, meaning in rows:
        lines.append(
            f"| {label} ({meaning}) | {base.median:,.0f} | {ours.median:,.0f} | {ours.median / base.median:.2f} |"
        )
    lines += [
        f"| ceiling: raw produce, streaming (default acks) | {raw_p.median:,.0f} | | |",
        f"| ceiling: raw consume (`getmany`) | {raw_c.median:,.0f} | | |",
        "",
        f"Peak resident memory of the benchmark process: {peak_rss_mib:.0f} MiB.",
        "",
        "All rounds (msg/s):",
        "",
    ]
    lines += [
        f"- {r.name}: {', '.join(f'{x:,.0f}' for x in r.rates)}"
        for r in (raw_p, raw_acked, relay, raw_c, raw_eo, raw_batched, kit)
    ]
    return "\n".join(lines) + "\n"


async def relay_only(bootstrap: str, database_url: str) -> None:
    """`run_bench.py --only relay`: the relay against raw produce with its acks, taking turns
    round by round (the machine's drift falls on both), printed, no report written."""
    setup_tracing("bench", otlp_endpoint=None)
    payloads = [sample_event().model_dump_json().encode() for _ in range(MESSAGES)]
    raw: list[float] = []
    relay: list[float] = []
    for _ in range(ROUNDS):
        raw.append(await raw_produce_acked(bootstrap, payloads))
        relay.append(
            await outbox_publish(bootstrap, database_url, [sample_event() for _ in range(MESSAGES)])
        )
    for name, rates in (("raw produce, acks=all", raw), ("outbox relay", relay)):
        print(f"  {name}: {', '.join(f'{r:,.0f}' for r in rates)} msg/s", flush=True)
    print(f"  ratio (medians): {statistics.median(relay) / statistics.median(raw):.2f}")


def main() -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    database_url = os.environ.get("DATABASE_URL", "")
    tansu = postgres = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        if not bootstrap:
            tansu = EmbeddedTansu(port=free_port(), log_file=workdir / "tansu.log")
            tansu.start()
            bootstrap = tansu.bootstrap_servers
        if not database_url:
            postgres = EmbeddedPostgres(data_dir=workdir / "pgdata", port=free_port())
            postgres.start()
            database_url = postgres.url()
        if sys.argv[1:] == ["--only", "relay"]:  # the relay and its baseline, nothing else
            asyncio.run(relay_only(bootstrap, database_url))
            return 0
        report = asyncio.run(bench(bootstrap, database_url))
    finally:
        if tansu is not None:
            tansu.stop()
        if postgres is not None:
            postgres.stop()
    REPORT.write_text(report, encoding="utf-8")
    print()
    print(report)
    print(f"written to {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
