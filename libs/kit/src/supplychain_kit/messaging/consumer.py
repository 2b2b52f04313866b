"""Reliable consumers: parse, de-duplicate, apply in one transaction, retry, dead-letter.

Offsets are committed only after the effect committed (FastStream NACK_ON_ERROR: a raised
error seeks back to the record, so it is fetched again). Nothing is skipped: a record of an
event type the consumer does not know is parked (`consumer_parking`) and applied once a
consumer that knows it starts; one whose type travels on another topic is dead-lettered.

This module is the loop; what it applies is a dispatch table (`dispatch`), how it reads is
its configuration (`consumer_config`), a batch handler's span is `batch_tracing`, and what
it retries rather than dead-letters is `consumer_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry.trace import Span
from pydantic import ValidationError
from supplychain_contracts.envelope import Event
from supplychain_contracts.reference import ReferenceEvent
from supplychain_contracts.topics import (
    HEADER_DLQ_ATTEMPTS,
    HEADER_DLQ_CONSUMER_GROUP,
    HEADER_DLQ_ERROR,
    HEADER_DLQ_ERROR_TYPE,
    HEADER_DLQ_SOURCE_OFFSET,
    HEADER_DLQ_SOURCE_PARTITION,
    HEADER_DLQ_SOURCE_TOPIC,
    HEADER_EVENT_TYPE,
    dead_letter_topic,
)

from supplychain_kit import logs, metrics
from supplychain_kit.messaging import consumer_parking, effects, inbox, reference
from supplychain_kit.messaging.batch_tracing import BatchRun
from supplychain_kit.messaging.batch_wait import wait_in_fetch
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.consumer_errors import TRANSIENT_ERRORS, NotKnownYet
from supplychain_kit.messaging.dispatch import ApplyEvent, Batched, Dispatch
from supplychain_kit.messaging.fetch_wait import AdaptiveFetchWait, FetchWaits
from supplychain_kit.messaging.known_events import (
    KnownEvents,
    Misrouted,
    MisroutedEvent,
    UnknownType,
    contract_events,
)
from supplychain_kit.telemetry import (
    MESSAGING_MESSAGE_ID,
    headers_to_dict,
    processing,
    set_error,
    set_order_attributes,
)

log = logging.getLogger(__name__)

# What a batch's transaction does besides its events' effects: park the records of unknown
# types it fetched, or delete the parked records it applies.
Bookkeeping = Callable[[asyncpg.Connection], Awaitable[Any]]
# A fetched record and its event.
Parsed = tuple[ConsumerRecord[Any, Any], Event]

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
        events: KnownEvents | None = None,
        middlewares: Sequence[Any] = (),
    ) -> None:
        """`events`: the event types the consumer knows (by default every contract event of
        this build); a record of another type is parked until a consumer that knows it."""
        self.service = service
        self.topics = tuple(topics)
        self.config = config
        self.group_id = config.group_id
        self.events = events or contract_events()
        self._pool = pool
        self._broker = broker
        self._apply = apply
        self._middlewares = tuple(middlewares)
        # (topic, partition, offset) -> when the record first waited for reference data
        self._waiting_since: dict[tuple[str, int, int], float] = {}
        self.fetch_waits: list[AdaptiveFetchWait] = []  # one per subscriber, once registered

    def register(self) -> None:
        """Subscribe one consumer (one group member) to all of this service's topics, or with
        `consumer_per_topic` one per topic (the same group; each one's fetch wait then goes
        idle on its own, see FetchWaits)."""
        topic_sets = (
            [(topic,) for topic in self.topics] if self.config.consumer_per_topic else [self.topics]
        )
        router = KafkaRouter(middlewares=self._middlewares)
        for topic_set in topic_sets:
            subscriber = router.subscriber(
                *topic_set,
                group_id=self.group_id,
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                batch=True,
                max_records=self.config.batch_size,
                batch_timeout_ms=200,  # (its own loop's; wait_in_fetch replaces it)
                fetch_max_wait_ms=self.config.fetch_max_wait_ms,
                session_timeout_ms=self.config.session_timeout_ms,
                heartbeat_interval_ms=self.config.heartbeat_interval_ms,
                decoder=_raw_body,
                title=f"{self.service}:{','.join(topic_set)}",
                description=f"{self.service} applies these events exactly once (consumer group {self.group_id})",
            )
            fetch_wait = AdaptiveFetchWait(
                subscriber,
                FetchWaits(
                    busy_ms=self.config.fetch_max_wait_ms,
                    idle_ms=self.config.fetch_idle_wait_ms,
                    idle_after_s=self.config.fetch_idle_after_s,
                ),
            )
            if not wait_in_fetch(subscriber):
                log.warning("%s: the batch subscriber sleeps after empty fetches", self.service)
            subscriber(self._on_records(fetch_wait))
            self.fetch_waits.append(fetch_wait)
        self._broker.include_router(router)

    def _on_records(self, fetch_wait: AdaptiveFetchWait) -> Callable[[], Any]:
        # No parameter: the framework would resolve a `KafkaMessage` one through a context
        # field, which it calls in a worker thread, a thread hop per batch. The message is in
        # the broker's context for the handler's call.
        context = self._broker.context

        async def on_records() -> None:
            fetch_wait.arrived()
            message: KafkaMessage = context.get_local("message")
            records = message.raw_message
            batch = list(records) if isinstance(records, tuple) else [records]
            await self.handle_batch(batch)

        return on_records

    async def handle_batch(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Apply the records fetched together in one transaction (commits bound throughput).

        Unparseable and misrouted records are dead-lettered first; records of event types the
        consumer does not know are parked in the same transaction, and the partition moves
        on. If the transaction fails for a reason other than an outage, the records are
        applied one by one instead, so only a poison record ends up in the dead-letter topic.
        """
        parsed: list[Parsed] = []
        unknown: list[tuple[ConsumerRecord[Any, Any], str]] = []
        for record in records:
            if self._ignored(record):
                metrics.CONSUMED.labels(
                    service=self.service, topic=record.topic, outcome="ignored"
                ).inc()
                continue
            read = await self._read(record)
            if isinstance(read, UnknownType):
                unknown.append((record, read.event_type))
            elif read is not None:
                parsed.append((record, read))
        park = functools.partial(
            consumer_parking.park, service=self.service, group=self.group_id, records=unknown
        )
        if parsed:
            await self._apply_parsed(parsed, park if unknown else None)
        elif unknown:
            await self._settle(park)
        if unknown:
            for record, _ in unknown:
                metrics.CONSUMED.labels(
                    service=self.service, topic=record.topic, outcome="parked"
                ).inc()
            await self.refresh_parked_gauge()

    async def _apply_parsed(
        self, parsed: list[Parsed], bookkeeping: Bookkeeping | None
    ) -> list[str]:
        """Apply the events together, else one by one; `bookkeeping` commits with them (with
        the batch, or after the last one by one). Returns each event's outcome."""
        started = time.perf_counter()
        try:
            outcomes = await self._apply_together(parsed, bookkeeping)
        except NotKnownYet as exc:
            if self.config.not_known_wait_s is None:
                raise  # retried until the reference data comes
            # one by one: the records before the waiting one commit, and it alone waits
            log.info(
                "%s: batch of %d waits (%r); applying one by one", self.service, len(parsed), exc
            )
            outcomes = await self._apply_one_by_one(parsed, bookkeeping)
        except TRANSIENT_ERRORS:
            raise  # nothing committed: the batch is fetched again once the outage is over
        except Exception as exc:
            log.info(
                "%s: batch of %d failed (%r); applying one by one", self.service, len(parsed), exc
            )
            outcomes = await self._apply_one_by_one(parsed, bookkeeping)
        elapsed = (time.perf_counter() - started) / len(parsed)
        for (record, _), outcome in zip(parsed, outcomes, strict=True):
            if outcome != "dead_lettered":  # dead_letter() counted it
                metrics.CONSUMED.labels(
                    service=self.service, topic=record.topic, outcome=outcome
                ).inc()
            metrics.CONSUME_DURATION.labels(service=self.service, topic=record.topic).observe(
                elapsed
            )
        return outcomes

    async def _apply_one_by_one(
        self, parsed: list[Parsed], bookkeeping: Bookkeeping | None
    ) -> list[str]:
        outcomes = [await self._apply_alone(record, event) for record, event in parsed]
        if bookkeeping is not None:
            await self._settle(bookkeeping)
        return outcomes

    async def _settle(self, bookkeeping: Bookkeeping) -> None:
        """The bookkeeping of a batch without events to apply, in a transaction of its own."""
        with effects.unit_of_work() as committed_effects:
            async with self._pool.acquire() as conn, conn.transaction():
                await bookkeeping(conn)
        effects.run(committed_effects)

    def _ignored(self, record: ConsumerRecord[Any, Any]) -> bool:
        """Whether the record's `event_type` header names a known event of its topic that this
        service has no effect for: skipped unparsed and unclaimed (nothing to make
        idempotent). A record without the header, of a type unknown here or of another topic
        is read from its value (parked or dead-lettered as before); reference events are
        always read (the consumer notes that it has seen them)."""
        if not isinstance(self._apply, Dispatch):
            return False
        event_type = _header(record, HEADER_EVENT_TYPE)
        model = self.events.model_on(event_type, record.topic) if event_type else None
        return (
            model is not None
            and not issubclass(model, ReferenceEvent)
            and not self._apply.handles(model)
        )

    async def _read(self, record: ConsumerRecord[Any, Any]) -> Event | UnknownType | None:
        """The record's event, or the unknown event type to park it as; None once it was
        dead-lettered (no valid event, or an event of another topic)."""
        try:
            read = self.events.read(record.value or b"", record.topic)
        except ValidationError as exc:
            await self._reject(record, exc, "unparseable record")
            return None
        if isinstance(read, Misrouted):
            await self._reject(record, MisroutedEvent(read.reason), "event of another topic")
            return None
        if isinstance(read, UnknownType):
            with self._processing(record) as span:
                span.set_attribute("supplychain.consume_outcome", "parked")
        return read

    async def _reject(
        self, record: ConsumerRecord[Any, Any], error: Exception, description: str
    ) -> None:
        with self._processing(record) as span:
            set_error(span, error, description)
            await self.dead_letter(record, error, attempts=1)

    async def apply_parked(self, *, wait: bool = True) -> int:
        """Apply the parked records of event types this consumer knows now, as if fetched
        again: in the order they came, through the handlers and the inbox (an event applied
        before is a duplicate), each batch deleting its records in its transaction. One that
        belongs to another topic or is no valid event of its type is dead-lettered; types
        still unknown stay parked. Run at start, before consuming; replicas take turns
        (`wait` False: skip while another replica is at it). An outage stops it, the rest
        waits for the next call. Returns how many events it applied."""
        applied = 0
        async with consumer_parking.one_replica_at_a_time(
            self._pool, group=self.group_id, wait=wait
        ) as ours:
            if ours:
                applied = await self._apply_parked_batches()
        if applied:
            log.info("%s applied %d parked records", self.service, applied)
        await self.refresh_parked_gauge()
        return applied

    async def _apply_parked_batches(self) -> int:
        applied, after = 0, 0
        while True:
            async with self._pool.acquire() as conn:
                parked = await consumer_parking.parked_of_types(
                    conn,
                    group=self.group_id,
                    event_types=self.events.event_types,
                    after_id=after,
                    limit=self.config.batch_size,
                )
            if not parked:
                return applied
            after = parked[-1].id
            parsed: list[Parsed] = []
            handled: list[int] = []
            for row in parked:
                record = row.record()
                read = await self._read(record)
                if not isinstance(read, UnknownType):
                    handled.append(row.id)
                if isinstance(read, Event):
                    parsed.append((record, read))
            unpark = functools.partial(consumer_parking.unpark, ids=handled)
            try:
                if parsed:
                    outcomes = await self._apply_parsed(parsed, unpark)
                    applied += outcomes.count("applied")
                else:
                    await self._settle(unpark)
            except TRANSIENT_ERRORS as exc:
                log.warning("%s: parked records wait for the next attempt (%r)", self.service, exc)
                return applied

    async def watch_parked(self, interval_s: float) -> None:
        """Every `interval_s`, apply the parked records this consumer knows (during a rolling
        upgrade an older replica parks records after this one started) and refresh the gauge
        of parked records (the table is shared by the replicas)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                async with self._pool.acquire() as conn:
                    known = await consumer_parking.any_of_types(
                        conn, group=self.group_id, event_types=self.events.event_types
                    )
                if known:
                    await self.apply_parked(wait=False)
                else:
                    await self.refresh_parked_gauge()
            except Exception as exc:  # the next round tries again
                log.warning("%s: parked records not checked (%r)", self.service, exc)

    async def refresh_parked_gauge(self) -> int:
        """Set the gauge of the group's parked records; returns how many there are."""
        async with self._pool.acquire() as conn:
            return await consumer_parking.refresh_gauge(
                conn, service=self.service, group=self.group_id
            )

    async def _apply_together(
        self, parsed: list[Parsed], bookkeeping: Bookkeeping | None
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
                        if bookkeeping is not None:
                            await bookkeeping(conn)
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


def _header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def _position(record: ConsumerRecord[Any, Any]) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)
