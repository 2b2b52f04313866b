"""What every service runs: pool, migrations, broker, outbox relay, consumer, background jobs.

A service's composition root builds one ServiceRuntime and hands it to `create_http_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from supplychain_kit import db
from supplychain_kit.http.asyncapi import document as asyncapi_document
from supplychain_kit.kafka_security import broker_security, kafka_client_options
from supplychain_kit.messaging import inbox
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.dispatch import ApplyEvent
from supplychain_kit.messaging.known_events import KnownEvents
from supplychain_kit.messaging.lag import LagMonitor
from supplychain_kit.messaging.outbox import OutboxRelay
from supplychain_kit.messaging.outbox_parking import RetryPolicy, refuse_unknown_topic
from supplychain_kit.messaging.partitioner import partition_for
from supplychain_kit.retry import Backoff, keep_trying
from supplychain_kit.settings import ServiceSettings
from supplychain_kit.telemetry import setup_service_tracing

log = logging.getLogger(__name__)

INBOX_PURGE_EVERY_S = 600.0

S = TypeVar("S", bound=ServiceSettings)

# A background job gets the runtime and runs until cancelled.
BackgroundJob = Callable[["ServiceRuntime[S]"], Awaitable[None]]
# Loads reference data (the sample company) into the service's tables.
Seeder = Callable[[asyncpg.Pool], Awaitable[None]]


def create_relay_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """The outbox relay's own producer: a batch of rows goes out as plain `send` calls,
    without the framework's per-message publish round (PERFORMANCE.md: ~175 µs each)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-relay",
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        request_timeout_ms=15_000,
        max_request_size=settings.outbox_max_message_bytes,
        partitioner=partition_for,  # the default's partitions, hashed at half its cost
        **kafka_client_options(settings),
    )


async def send_record(
    producer: AIOKafkaProducer, topic: str, key: bytes, payload: bytes, headers: dict[str, str]
) -> Any:
    """The relay's publish (outbox.Publish) on its own producer: enqueue one record and
    return the future the broker's confirmation completes (a topic the broker does not have
    is refused at once)."""
    await refuse_unknown_topic(producer, topic)
    return await producer.send(
        topic, payload, key=key, headers=[(name, value.encode()) for name, value in headers.items()]
    )


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        # the service's own principal where Kafka is authenticated (compose, Kubernetes)
        security=broker_security(settings),
        client_id=settings.service_name,
        enable_idempotence=settings.kafka_enable_idempotence,
        request_timeout_ms=15_000,
        # Topics are created by the platform (topic-init job, KafkaTopic resources), never
        # implicitly: a producer retrying after an outage must not create a topic with the
        # broker's default partitioning before the real one exists.
        allow_auto_create_topics=False,
        # Per-message framework logs cost ~100 µs each: keep them out of the hot path.
        log_level=logging.DEBUG,
        # through the root handler (supplychain_kit.logs), not FastStream's own to stdout
        logger=logging.getLogger("faststream.access.kafka"),
    )


@dataclass
class ServiceRuntime(Generic[S]):
    """One service's process: typed by its settings class, so jobs and routes read
    `runtime.settings` as the service's own settings."""

    settings: S
    schema: str
    migrations_package: str
    consumes: Sequence[str] = ()
    produces: Sequence[str] = ()
    apply: ApplyEvent | None = None
    seed: Seeder | None = None
    jobs: Sequence[BackgroundJob[S]] = ()
    # The event types its consumer knows (None: every contract event of this build); others
    # are parked until a consumer that knows them starts.
    events: KnownEvents | None = None
    broker: KafkaBroker = field(init=False)
    consumer: ReliableConsumer | None = field(default=None, init=False)
    lag: LagMonitor = field(init=False)
    _producer: AIOKafkaProducer | None = field(default=None, init=False)
    _pool: asyncpg.Pool | None = field(default=None, init=False)
    _request_pool: db.GuardedPool | None = field(default=None, init=False)
    _export_pool: db.GuardedPool | None = field(default=None, init=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, init=False)
    broker_started: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.broker = create_broker(self.settings)
        consumes = self.consumes if self.apply is not None else ()
        own_group = ConsumerConfig.from_settings(self.settings).group_id
        self.lag = LagMonitor.for_service(self.settings, own_group=own_group, consumes=consumes)

    @property
    def pool(self) -> asyncpg.Pool:
        """The process's own work: consumer, outbox relay, background jobs (SLA clocks...),
        migrations. No HTTP request takes a connection of it."""
        if self._pool is None:
            raise RuntimeError("the database pool is not open yet")
        return self._pool

    @property
    def request_pool(self) -> db.GuardedPool:
        """HTTP requests: a bounded wait for a connection, then 503 (never a hang)."""
        if self._request_pool is None:
            raise RuntimeError("the request pool is not open yet")
        return self._request_pool

    @property
    def export_pool(self) -> db.GuardedPool:
        """Exports and heavy reads: a few connections of their own, with statement and
        idle-in-transaction timeouts, so a caller can exhaust nothing else."""
        if self._export_pool is None:
            raise RuntimeError("the export pool is not open yet")
        return self._export_pool

    def _subscribe(self, pool: asyncpg.Pool) -> None:
        """The consumer, registered once the pool exists and before the broker starts."""
        if self.apply is None or not self.consumes:
            return
        self.consumer = ReliableConsumer(
            service=self.settings.service_name,
            topics=self.consumes,
            pool=pool,
            broker=self.broker,
            apply=self.apply,
            config=ConsumerConfig.from_settings(self.settings),
            events=self.events,
            # FastStream's own consumer metrics (faststream_received_messages_total, ...); on
            # the subscriber only: on the broker it would cost the outbox relay ~150 µs per
            # publish, and the relay counts what it publishes itself.
            middlewares=(
                KafkaPrometheusMiddleware(registry=REGISTRY, app_name=self.settings.service_name),
            ),
        )
        self.consumer.register()

    async def start(self) -> None:
        setup_service_tracing(self.settings, package=self.migrations_package)
        self._pool = await db.create_pool(
            self.settings.database_url,
            schema=self.schema,
            max_size=self.settings.database_pool_size,
            # a frozen replica's transaction (the relay's leadership, claimed SLA clocks) is
            # ended by the server, so the other replicas take its work over
            idle_in_transaction_timeout_ms=self.settings.database_idle_in_transaction_timeout_ms,
            # and one frozen in the middle of a query (its transaction stays 'active')
            transaction_timeout_ms=self.settings.database_transaction_timeout_ms,
        )
        files = db.kit_migrations() + db.package_migrations(self.migrations_package)
        await db.migrate(self._pool, schema=self.schema, files=files)
        await self._open_caller_pools()
        if self.seed is not None and self.settings.load_sample_company:
            await self.seed(self._pool)
        self._subscribe(self._pool)
        self._spawn(self._start_broker(), "broker")
        if self.consumer is not None:
            self._spawn(self._purge_inbox(), "inbox-retention")
        if self.lag.groups:
            self._spawn(self.lag.run(), "consumer-lag")

    async def _open_caller_pools(self) -> None:
        settings = self.settings
        self._request_pool = await self._caller_pool(
            "request",
            min_size=1,
            max_size=settings.database_request_pool_size,
            statement_timeout_ms=settings.database_statement_timeout_ms,
            transaction_timeout_ms=settings.database_transaction_timeout_ms,
            retry_after_s=2,
        )
        self._export_pool = await self._caller_pool(
            "export",
            min_size=0,
            max_size=settings.database_export_pool_size,
            statement_timeout_ms=settings.database_export_statement_timeout_ms,
            transaction_timeout_ms=None,  # an export streams for as long as it has rows
            retry_after_s=10,
        )

    async def _caller_pool(
        self,
        name: str,
        *,
        min_size: int,
        max_size: int,
        statement_timeout_ms: int,
        transaction_timeout_ms: int | None,
        retry_after_s: int,
    ) -> db.GuardedPool:
        """A pool for callers: server-side timeouts, a bounded wait for a connection."""
        pool = await db.create_pool(
            self.settings.database_url,
            schema=self.schema,
            min_size=min_size,
            max_size=max_size,
            statement_timeout_ms=statement_timeout_ms,
            idle_in_transaction_timeout_ms=self.settings.database_idle_in_transaction_timeout_ms,
            transaction_timeout_ms=transaction_timeout_ms,
            application_name=f"{self.schema}:{name}s",
            ensure=False,
        )
        return db.GuardedPool(
            name,
            pool,
            acquire_timeout_s=self.settings.database_acquire_timeout_s,
            retry_after_s=retry_after_s,
        )

    async def _purge_inbox(self) -> None:
        """Delete inbox rows past their retention, a small batch per statement, once per
        INBOX_PURGE_EVERY_S (the table stays bounded at a steady rate)."""
        while True:
            try:
                async with self.pool.acquire() as conn:
                    while await inbox.purge(
                        conn, older_than_hours=self.settings.inbox_retention_hours
                    ):
                        pass
            except (OSError, asyncpg.PostgresError) as exc:  # the database is away: next time
                log.warning("inbox retention skipped: %r", exc)
            await asyncio.sleep(INBOX_PURGE_EVERY_S)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(f"{self.settings.service_name}:{name}")

    async def _start_broker(self) -> None:
        """Keep trying until the broker is reachable: HTTP serves (and accepts) meanwhile.

        The consumer applies the parked records it knows before it consumes (connected
        first: a parked record may have to be dead-lettered)."""
        # the broker may be down at start; the outbox holds events meanwhile
        await keep_trying(
            self._connect_broker,
            backoff=Backoff(first_s=0.5, cap_s=5.0),
            on_failure=self._not_started,
        )
        self.broker_started = True
        relay = OutboxRelay(
            pool=self.pool,
            publish=self._publish,
            schema=self.schema,
            service=self.settings.service_name,
            batch_size=self.settings.outbox_batch_size,
            poll_interval=self.settings.outbox_poll_interval_ms / 1000,
            retention_s=self.settings.outbox_retention_s,
            retry=RetryPolicy(
                park_after_attempts=self.settings.outbox_park_after_attempts,
                park_after_s=self.settings.outbox_park_after_s,
                backoff_s=self.settings.outbox_retry_backoff_ms / 1000,
            ),
        )
        self._spawn(relay.run(), "outbox-relay")
        for fetch_wait in self.consumer.fetch_waits if self.consumer is not None else ():
            self._spawn(fetch_wait.run(), "fetch-wait")
        if self.consumer is not None and self.consumer.config.parked_check_s is not None:
            self._spawn(self.consumer.watch_parked(self.consumer.config.parked_check_s), "parked")
        for job in self.jobs:
            self._spawn(job(self), getattr(job, "__name__", "job"))

    async def _connect_broker(self) -> None:
        await self.broker.connect()
        if self.consumer is not None:
            await self.consumer.apply_parked()
        await self.broker.start()
        self._producer = create_relay_producer(self.settings)
        await self._producer.start()

    async def _not_started(self, exc: Exception, delay: float) -> None:
        log.warning("not started yet (%r); retrying in %.1fs", exc, delay)
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self._stop_producer()

    async def _publish(
        self, topic: str, key: bytes, payload: bytes, headers: dict[str, str]
    ) -> Any:
        """Enqueue one record; the returned future completes when the broker confirmed it."""
        assert self._producer is not None, "the relay runs once the producer started"
        return await send_record(self._producer, topic, key, payload, headers)

    async def publish_now(
        self, topic: str, key: bytes | None, payload: bytes, headers: dict[str, str]
    ) -> RecordMetadata:
        """Publish one record outside the outbox and wait until the broker has it: an
        operator's redrive, which must know where the record landed. ConnectionError while
        the broker is not reachable yet."""
        if self._producer is None:
            raise ConnectionError("the service has not reached the broker yet")
        await refuse_unknown_topic(self._producer, topic)
        return await self._producer.send_and_wait(
            topic,
            payload,
            key=key,
            headers=[(name, value.encode()) for name, value in headers.items()],
        )

    async def _stop_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._stop_producer()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        for caller_pool in (self._request_pool, self._export_pool):
            if caller_pool is not None:
                await caller_pool.close()
        self._request_pool = self._export_pool = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def readiness(self) -> dict[str, bool]:
        """Broker and database reachable."""
        database = False
        if self._pool is not None:
            with contextlib.suppress(Exception):
                async with self._pool.acquire(timeout=2) as conn:
                    database = await conn.fetchval("SELECT true") is True
        broker = False
        if self.broker_started:
            with contextlib.suppress(Exception):
                broker = bool(await self.broker.ping(timeout=2))
        return {"database": database, "broker": broker}

    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI 3.0 document of the topics this service publishes and consumes."""
        return asyncapi_document(
            service=self.settings.service_name,
            publishes=self.produces,
            consumes=self.consumes if self.apply is not None else (),
            consumer_group=ConsumerConfig.from_settings(self.settings).group_id,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
        )
