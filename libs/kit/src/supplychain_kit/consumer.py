"""Reliable consumers: parse, de-duplicate, apply in one transaction, retry, dead-letter.

Offsets are committed only after the effect committed (FastStream NACK_ON_ERROR: a raised
error seeks back to the record, so it is fetched again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind
from pydantic import ValidationError
from supplychain_contracts.envelope import Event
from supplychain_contracts.reference import ReferenceEvent
from supplychain_contracts.registry import all_event_models, parse_known_event
from supplychain_contracts.topics import (
    HEADER_DLQ_ATTEMPTS,
    HEADER_DLQ_CONSUMER_GROUP,
    HEADER_DLQ_ERROR,
    HEADER_DLQ_ERROR_TYPE,
    HEADER_DLQ_SOURCE_OFFSET,
    HEADER_DLQ_SOURCE_PARTITION,
    HEADER_DLQ_SOURCE_TOPIC,
    dead_letter_topic,
)

from supplychain_kit import effects, inbox, logs, metrics, reference
from supplychain_kit.settings import ServiceSettings
from supplychain_kit.telemetry import (
    MESSAGING_MESSAGE_ID,
    headers_to_dict,
    processing,
    set_error,
    set_order_attributes,
    tracer,
)

log = logging.getLogger(__name__)

MAX_LINKS = 128  # OpenTelemetry's default span link limit

# An effect: applied inside the transaction that also records the event in the inbox.
ApplyEvent = Callable[[asyncpg.Connection, Event], Awaitable[None]]
# One event class's effect; the table of them is the service's subscriber.
EventHandler = Callable[[asyncpg.Connection, Any], Awaitable[None]]
# Parses a record's value of a topic: the event, None to skip it (a type not known yet), or
# raises (pydantic.ValidationError) for a record that is no event: it is dead-lettered.
ParseRecord = Callable[[bytes, str], Event | None]


def parse_contract_record(payload: bytes, topic: str) -> Event | None:
    return parse_known_event(payload, topic=topic)


# A handler of several events at once: a run of consecutive events of a fetched batch that
# it handles, in their order (set-based SQL: a statement per kind of effect, not per event).
BatchHandler = Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """Registers a BatchHandler in a dispatch table: the consumer hands it every consecutive
    event of a fetched batch it handles at once (alone, an event comes as a list of one)."""

    handle: BatchHandler


class Dispatch:
    """The effect of a dispatch table (an ApplyEvent); `batched(event)` tells the consumer
    which events a batch handler takes together."""

    def __init__(self, resolved: Mapping[type[Event], EventHandler | Batched]) -> None:
        self._resolved = dict(resolved)

    async def __call__(self, conn: asyncpg.Connection, event: Event) -> None:
        handler = self._resolved.get(type(event))
        if isinstance(handler, Batched):
            await handler.handle(conn, [event])
        elif handler is not None:
            await handler(conn, event)

    def batched(self, event: Event) -> Batched | None:
        handler = self._resolved.get(type(event))
        return handler if isinstance(handler, Batched) else None


def dispatch(handlers: Mapping[type[Event], EventHandler | Batched]) -> Dispatch:
    """One effect from a table of event class → handler; events without one are ignored.

    A handler registered for a base class (OrderParties) handles every event deriving from
    it that has no handler of its own. The table is resolved once, over every contract event.
    A `Batched` handler takes the consecutive events of a batch it handles in one call.
    """
    for model in handlers:
        if not (isinstance(model, type) and issubclass(model, Event)):
            raise TypeError(f"{model!r} is not an event class")
    resolved: dict[type[Event], EventHandler | Batched] = {}
    for model in (*all_event_models(), *handlers):
        handler = next((handlers[base] for base in model.__mro__ if base in handlers), None)
        if handler is not None:
            resolved[model] = handler
    return Dispatch(resolved)


@dataclass(frozen=True)
class ConsumerConfig:
    """How a service's consumer group reads, batches, retries and gives up."""

    group_id: str
    batch_size: int = 100
    max_attempts: int = 3
    retry_backoff_s: float = 0.1
    fetch_max_wait_ms: int = 100
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3000
    # How long a record whose reference data is not known yet (NotKnownYet) is retried before
    # it is dead-lettered and the partition moves on; None retries it until the data comes.
    not_known_wait_s: float | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ConsumerConfig:
        return cls(
            group_id=settings.consumer_group or settings.service_name,
            batch_size=settings.consumer_batch_size,
            max_attempts=settings.consumer_max_attempts,
            retry_backoff_s=settings.consumer_retry_backoff_ms / 1000,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            not_known_wait_s=settings.consumer_not_known_wait_seconds,
        )


class BatchRun:
    """Consecutive claimed events of one batch handler, applied together when the run ends,
    in a `process` span that continues the first event's trace and links every event's own
    (the messaging conventions for a batch)."""

    def __init__(self, handler: Batched | None = None) -> None:
        self.handler = handler
        self.events: list[Event] = []
        self.topics: set[str] = set()
        self.contexts: list[SpanContext] = []

    def add(self, event: Event, topic: str, span: Span) -> None:
        self.events.append(event)
        self.topics.add(topic)
        context = span.get_span_context()
        if context.is_valid and len(self.contexts) < MAX_LINKS:
            self.contexts.append(context)

    async def flush(self, conn: asyncpg.Connection) -> None:
        if self.handler is None or not self.events:
            return
        parent = (
            trace.set_span_in_context(NonRecordingSpan(self.contexts[0])) if self.contexts else None
        )
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.batch.message_count": len(self.events),
        }
        name = "process"
        if len(self.topics) == 1:
            (topic,) = self.topics
            attributes["messaging.destination.name"] = topic
            name = f"process {topic}"
        with tracer().start_as_current_span(
            name,
            context=parent,
            kind=SpanKind.CONSUMER,
            links=[Link(context) for context in self.contexts],
            attributes=attributes,
        ):
            await self.handler.handle(conn, self.events)
        self.events, self.topics, self.contexts = [], set(), []


class NotKnownYet(Exception):
    """The event refers to reference data this service has not learnt yet: it travels on
    another topic and is on its way. Retried like an outage (nothing committed, fetched
    again): the event is not bad, it is early. With `ConsumerConfig.not_known_wait_s` set,
    a record still waiting after that long is dead-lettered with the error as its reason,
    so one record naming data that never comes does not stall its partition."""


# Errors that say "the world is not reachable right now", not "this message is bad":
# the record is fetched again later instead of being dead-lettered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    NotKnownYet,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    # a pooled connection the database terminated (a restart, pg_terminate_backend) can fail
    # its next statement with "cannot switch to state ...; another operation is in
    # progress": the connection, never the record (seen in test_hardening_consumer_outage)
    asyncpg.InternalClientError,
)

MAX_ERROR_HEADER = 2000


async def _raw_body(message: StreamMessage[Any]) -> Any:
    # Decode nothing: the contracts parse the bytes, so a malformed body reaches the
    # handler and is dead-lettered instead of failing inside the framework.
    return message.body


class ReliableConsumer:
    def __init__(
        self,
        *,
        service: str,
        topics: Sequence[str],
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        apply: ApplyEvent,
        config: ConsumerConfig,
        parse: ParseRecord = parse_contract_record,
        middlewares: Sequence[Any] = (),
    ) -> None:
        self.service = service
        self.topics = tuple(topics)
        self.config = config
        self.group_id = config.group_id
        self._pool = pool
        self._broker = broker
        self._apply = apply
        self._parse_record = parse
        self._middlewares = tuple(middlewares)
        # (topic, partition, offset) -> when the record first waited for reference data
        self._waiting_since: dict[tuple[str, int, int], float] = {}

    def register(self) -> None:
        """Subscribe one consumer (one group member) to all of this service's topics."""

        async def on_records(message: KafkaMessage) -> None:
            records = message.raw_message
            batch = list(records) if isinstance(records, tuple) else [records]
            await self.handle_batch(batch)

        router = KafkaRouter(middlewares=self._middlewares)
        router.subscriber(
            *self.topics,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            batch=True,
            max_records=self.config.batch_size,
            batch_timeout_ms=200,
            fetch_max_wait_ms=self.config.fetch_max_wait_ms,
            session_timeout_ms=self.config.session_timeout_ms,
            heartbeat_interval_ms=self.config.heartbeat_interval_ms,
            decoder=_raw_body,
            title=f"{self.service}:{','.join(self.topics)}",
            description=f"{self.service} applies these events exactly once (consumer group {self.group_id})",
        )(on_records)
        self._broker.include_router(router)

    async def handle_batch(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Apply the records fetched together in one transaction (commits bound throughput).

        Unparseable records are dead-lettered first. If the transaction fails for a reason
        other than an outage, the records are applied one by one instead, so only a poison
        record ends up in the dead-letter topic.
        """
        parsed: list[tuple[ConsumerRecord[Any, Any], Event]] = []
        for record in records:
            event = await self._parse(record)
            if event is not None:
                parsed.append((record, event))
        if not parsed:
            return
        started = time.perf_counter()
        try:
            outcomes = await self._apply_together(parsed)
        except NotKnownYet as exc:
            if self.config.not_known_wait_s is None:
                raise  # retried until the reference data comes
            # one by one: the records before the waiting one commit, and it alone waits
            log.info(
                "%s: batch of %d waits (%r); applying one by one", self.service, len(parsed), exc
            )
            outcomes = [await self._apply_alone(record, event) for record, event in parsed]
        except TRANSIENT_ERRORS:
            raise  # nothing committed: the batch is fetched again once the outage is over
        except Exception as exc:
            log.info(
                "%s: batch of %d failed (%r); applying one by one", self.service, len(parsed), exc
            )
            outcomes = [await self._apply_alone(record, event) for record, event in parsed]
        elapsed = (time.perf_counter() - started) / len(parsed)
        for (record, _), outcome in zip(parsed, outcomes, strict=True):
            if outcome != "dead_lettered":  # dead_letter() counted it
                metrics.CONSUMED.labels(
                    service=self.service, topic=record.topic, outcome=outcome
                ).inc()
            metrics.CONSUME_DURATION.labels(service=self.service, topic=record.topic).observe(
                elapsed
            )

    async def _parse(self, record: ConsumerRecord[Any, Any]) -> Event | None:
        try:
            event = self._parse_record(record.value or b"", record.topic)
        except ValidationError as exc:
            with self._processing(record) as span:
                set_error(span, exc, "unparseable record")
                await self.dead_letter(record, exc, attempts=1)
            return None
        if event is None:
            # Contracts evolve additively: an event type this consumer does not know yet is
            # not an error; it is skipped, not dead-lettered.
            metrics.CONSUMED.labels(
                service=self.service, topic=record.topic, outcome="ignored"
            ).inc()
        return event

    async def _apply_together(
        self, parsed: list[tuple[ConsumerRecord[Any, Any], Event]]
    ) -> list[str]:
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                with effects.unit_of_work() as committed_effects:
                    async with self._pool.acquire() as conn, conn.transaction():
                        fresh = await inbox.claim_many(
                            conn, consumer=self.group_id, events=[event for _, event in parsed]
                        )
                        outcomes = []
                        run = BatchRun()
                        for record, event in parsed:
                            # the same event twice in one batch is applied once
                            claimed = event.event_id in fresh
                            fresh.discard(event.event_id)
                            batched = self._batched(event)
                            if batched != run.handler:  # the same handler: one run
                                await run.flush(conn)
                                run = BatchRun(batched)
                            outcomes.append(
                                await self._apply_traced(
                                    conn, record, event, claimed=claimed, run=run
                                )
                            )
                        await run.flush(conn)
                effects.run(committed_effects)
                return outcomes
            except TRANSIENT_ERRORS:
                metrics.CONSUMED.labels(
                    service=self.service, topic=parsed[0][0].topic, outcome="retried"
                ).inc()
                if attempt == self.config.max_attempts:
                    raise
                await asyncio.sleep(self.config.retry_backoff_s * 2 ** min(attempt, 6))
        raise AssertionError("unreachable")

    async def _apply_traced(
        self,
        conn: asyncpg.Connection,
        record: ConsumerRecord[Any, Any],
        event: Event,
        *,
        claimed: bool | None = None,
        run: BatchRun | None = None,
    ) -> str:
        """Apply the event inside the order's trace unless the inbox already had it.

        `claimed` is the answer of a batch claim; None claims this event now. An event of a
        batch handler joins `run` instead, which applies it with its neighbours.
        """
        with self._processing(record) as span, logs.bound_order(getattr(event, "order_id", None)):
            if span.is_recording():
                span.set_attribute(MESSAGING_MESSAGE_ID, str(event.event_id))
                set_order_attributes(span, event)
            if claimed is None:
                claimed = await inbox.claim(conn, consumer=self.group_id, event=event)
            if not claimed:
                span.set_attribute("supplychain.consume_outcome", "duplicate")
                return "duplicate"
            if run is not None and run.handler is not None:
                run.add(event, record.topic, span)
            else:
                await self._apply(conn, event)
            if isinstance(event, ReferenceEvent):
                await reference.note_seen(conn, event)
            span.set_attribute("supplychain.consume_outcome", "applied")
            return "applied"

    def _batched(self, event: Event) -> Batched | None:
        return self._apply.batched(event) if isinstance(self._apply, Dispatch) else None

    def _processing(
        self, record: ConsumerRecord[Any, Any]
    ) -> contextlib.AbstractContextManager[Span]:
        """The record's `process <topic>` span, in the trace its `traceparent` carries."""
        return processing(
            record.topic,
            headers_to_dict(record.headers),
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            group=self.group_id,
        )

    async def _apply_alone(self, record: ConsumerRecord[Any, Any], event: Event) -> str:
        """Apply one event in its own transaction, with retries, then dead-letter it."""
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                with effects.unit_of_work() as committed_effects:
                    async with self._pool.acquire() as conn, conn.transaction():
                        outcome = await self._apply_traced(conn, record, event)
                effects.run(committed_effects)
                self._waiting_since.pop(_position(record), None)
                return outcome
            except TRANSIENT_ERRORS as exc:
                metrics.CONSUMED.labels(
                    service=self.service, topic=record.topic, outcome="retried"
                ).inc()
                if isinstance(exc, NotKnownYet) and self._waited_enough(record):
                    await self.dead_letter(record, exc, attempts=attempt)
                    self._waiting_since.pop(_position(record), None)
                    return "dead_lettered"
                if attempt == self.config.max_attempts:
                    raise  # not committed: fetched again once the outage is over
                await asyncio.sleep(self.config.retry_backoff_s * 2 ** min(attempt, 6))
            except Exception as exc:
                log.warning(
                    "%s failed to apply %s %s (attempt %d/%d): %r",
                    self.service,
                    event.event_type,
                    event.event_id,
                    attempt,
                    self.config.max_attempts,
                    exc,
                )
                if attempt == self.config.max_attempts:
                    await self.dead_letter(record, exc, attempts=attempt)
                    return "dead_lettered"
                await asyncio.sleep(self.config.retry_backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _waited_enough(self, record: ConsumerRecord[Any, Any]) -> bool:
        """Whether the record has waited for reference data as long as it may (the clock
        starts the first time it waits; None: it may wait for ever)."""
        bound = self.config.not_known_wait_s
        if bound is None:
            return False
        since = self._waiting_since.setdefault(_position(record), time.monotonic())
        return time.monotonic() - since >= bound

    async def dead_letter(
        self, record: ConsumerRecord[Any, Any], error: BaseException, *, attempts: int
    ) -> None:
        """Publish the record as received to `<topic>.dlq` with the error in its headers.

        Awaited with confirmation: if the dead-letter topic is unreachable, this raises and
        the record is not committed, so nothing is lost.
        """
        headers = headers_to_dict(record.headers)
        headers.update(
            {
                HEADER_DLQ_ERROR: str(error)[:MAX_ERROR_HEADER],
                HEADER_DLQ_ERROR_TYPE: type(error).__name__,
                HEADER_DLQ_SOURCE_TOPIC: record.topic,
                HEADER_DLQ_SOURCE_PARTITION: str(record.partition),
                HEADER_DLQ_SOURCE_OFFSET: str(record.offset),
                HEADER_DLQ_CONSUMER_GROUP: self.group_id,
                HEADER_DLQ_ATTEMPTS: str(attempts),
            }
        )
        await self._broker.publish(
            record.value or b"",
            topic=dead_letter_topic(record.topic),
            key=record.key,
            headers=headers,
        )
        metrics.CONSUMED.labels(
            service=self.service, topic=record.topic, outcome="dead_lettered"
        ).inc()
        log.error(
            "%s dead-lettered %s[%d]@%d: %s",
            self.service,
            record.topic,
            record.partition,
            record.offset,
            str(error)[:300],
        )


def _position(record: ConsumerRecord[Any, Any]) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)
