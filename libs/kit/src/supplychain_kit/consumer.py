"""Reliable consumers: parse, de-duplicate, apply in one transaction, retry, dead-letter.

Offsets are committed only after the effect committed (FastStream NACK_ON_ERROR: a raised
error seeks back to the record, so it is fetched again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import ValidationError
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.registry import EVENTS_BY_TOPIC, parse_event
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

from supplychain_kit import inbox, metrics
from supplychain_kit.telemetry import continue_trace, headers_to_dict, set_order_attributes

log = logging.getLogger(__name__)

# An effect: applied inside the transaction that also records the event in the inbox.
ApplyEvent = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

# Errors that say "the world is not reachable right now", not "this message is bad":
# the record is fetched again later instead of being dead-lettered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)

MAX_ERROR_HEADER = 2000


def _is_unknown_event_type(value: bytes | None, topic: str) -> bool:
    """A well-formed event whose type this version of the contracts does not know."""
    try:
        event_type = json.loads(value or b"").get("event_type")
    except (ValueError, AttributeError):
        return False
    known = {model.model_fields["event_type"].default for model in EVENTS_BY_TOPIC.get(topic, ())}
    return isinstance(event_type, str) and bool(event_type) and event_type not in known


async def _raw_body(message: StreamMessage[Any]) -> Any:
    # Decode nothing: the contracts parse the bytes, so a malformed body reaches the
    # handler and is dead-lettered instead of failing inside the framework.
    return message.body


class ReliableConsumer:
    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        topics: Sequence[str],
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        apply: ApplyEvent,
        max_attempts: int = 3,
        retry_backoff: float = 0.1,
        fetch_max_wait_ms: int = 100,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3000,
    ) -> None:
        self.service = service
        self.group_id = group_id
        self.topics = tuple(topics)
        self._pool = pool
        self._broker = broker
        self._apply = apply
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._session_timeout_ms = session_timeout_ms
        self._heartbeat_interval_ms = heartbeat_interval_ms

    def register(self) -> None:
        """Subscribe one consumer (one group member) to all of this service's topics."""

        async def on_record(message: KafkaMessage) -> None:
            record = message.raw_message
            await self.handle(record)
            self._observe_lag(message.consumer, record)

        self._broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=self._heartbeat_interval_ms,
            decoder=_raw_body,
            title=f"{self.service}:{','.join(self.topics)}",
            description=f"{self.service} applies these events exactly once (consumer group {self.group_id})",
        )(on_record)

    async def handle(self, record: ConsumerRecord[Any, Any]) -> None:
        topic = record.topic
        headers = headers_to_dict(record.headers)
        started = time.perf_counter()
        with continue_trace(f"consume {topic}", headers, kind=SpanKind.CONSUMER) as span:
            try:
                event = parse_event(record.value or b"", topic=topic)
            except ValidationError as exc:
                if _is_unknown_event_type(record.value, topic):
                    # Contracts evolve additively: an event type this consumer does not
                    # know yet is not an error; it is skipped, not dead-lettered.
                    metrics.CONSUMED.labels(
                        service=self.service, topic=topic, outcome="ignored"
                    ).inc()
                    return
                span.set_status(Status(StatusCode.ERROR, "unparseable record"))
                await self.dead_letter(record, exc, attempts=1)
                return
            set_order_attributes(span, event)
            outcome = await self._apply_with_retries(record, event)
            span.set_attribute("supplychain.consume_outcome", outcome)
        if outcome != "dead_lettered":  # dead_letter() counted it
            metrics.CONSUMED.labels(service=self.service, topic=topic, outcome=outcome).inc()
        metrics.CONSUME_DURATION.labels(service=self.service, topic=topic).observe(
            time.perf_counter() - started
        )

    def _observe_lag(self, consumer: Any, record: ConsumerRecord[Any, Any]) -> None:
        highwater = getattr(consumer, "highwater", None)
        if highwater is None:
            return
        end = highwater(TopicPartition(record.topic, record.partition))
        if end is not None:
            metrics.CONSUMER_LAG.labels(
                service=self.service, topic=record.topic, partition=str(record.partition)
            ).set(max(0, end - record.offset - 1))

    async def _apply_with_retries(self, record: ConsumerRecord[Any, Any], event: Envelope) -> str:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await self.apply_once(event)
            except TRANSIENT_ERRORS:
                metrics.CONSUMED.labels(
                    service=self.service, topic=record.topic, outcome="retried"
                ).inc()
                await asyncio.sleep(self._retry_backoff * 2 ** min(attempt, 6))
                if attempt == self._max_attempts:
                    raise  # not committed: fetched again once the outage is over
            except Exception as exc:
                log.warning(
                    "%s failed to apply %s %s (attempt %d/%d): %r",
                    self.service,
                    event.event_type,
                    event.event_id,
                    attempt,
                    self._max_attempts,
                    exc,
                )
                if attempt == self._max_attempts:
                    await self.dead_letter(record, exc, attempts=attempt)
                    return "dead_lettered"
                await asyncio.sleep(self._retry_backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def apply_once(self, event: Envelope) -> str:
        """Apply one event exactly once; 'duplicate' when the inbox already had it."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(conn, consumer=self.group_id, event=event):
                return "duplicate"
            await self._apply(conn, event)
        return "applied"

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
