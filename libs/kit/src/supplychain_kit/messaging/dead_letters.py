"""Dead letters of the topics a service produces, read from the broker, and their redrive.

A consumer group that gives up on a record publishes it to `<topic>.dlq` with the error and
the record's source coordinates in headers (supplychain_kit.messaging.consumer). An operator redrives it
through the service that produces `<topic>` (supplychain_kit.http.operator_api): the service
republishes it (or a corrected value, redrive_rules) to `<topic>` with a `redriven_from`
header, then records a RecordRedriven on the compacted operations topic, keyed by the
dead-letter record and naming the operator key's owner, so it is never redriven twice by
accident. A redriven event keeps its event_id: every consumer's inbox applies it once, even
when two operators redrive it at the same moment.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from supplychain_contracts import topics
from supplychain_contracts.operations import RecordRedriven, dead_letter_coordinates
from supplychain_contracts.registry import parse_known_event

from supplychain_kit.http.auth import Principal
from supplychain_kit.http.problems import Problem
from supplychain_kit.kafka_security import kafka_client_options
from supplychain_kit.messaging import redrive_rules
from supplychain_kit.runtime import ServiceRuntime
from supplychain_kit.settings import ServiceSettings

log = logging.getLogger(__name__)
READ_TIMEOUT_S = 10.0
RETRY_AFTER_S = 5
ERROR_CHARS = 2000


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Mapping[str, str]
    timestamp_ms: int

    @property
    def coordinates(self) -> str:
        return dead_letter_coordinates(self.topic, self.partition, self.offset)

    @property
    def source_topic(self) -> str:
        """Where it came from and goes back to: the dead-letter topic's name says it."""
        return self.topic.removesuffix(topics.DLQ_SUFFIX)

    def _int_header(self, name: str) -> int | None:
        value = self.headers.get(name, "")
        return int(value) if value.isdigit() else None

    @property
    def source_partition(self) -> int | None:
        return self._int_header(topics.HEADER_DLQ_SOURCE_PARTITION)

    @property
    def source_offset(self) -> int | None:
        return self._int_header(topics.HEADER_DLQ_SOURCE_OFFSET)

    def as_json(self, redrive: RecordRedriven | None = None) -> dict[str, Any]:
        try:
            value: Any = json.loads(self.value)
        except ValueError:
            value = self.value.decode("utf-8", "replace")
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "coordinates": self.coordinates,
            "timestamp_ms": self.timestamp_ms,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "consumer_group": self.headers.get(topics.HEADER_DLQ_CONSUMER_GROUP),
            "error_type": self.headers.get(topics.HEADER_DLQ_ERROR_TYPE),
            "error": self.headers.get(topics.HEADER_DLQ_ERROR),
            "attempts": self.headers.get(topics.HEADER_DLQ_ATTEMPTS),
            "headers": dict(self.headers),
            "value": value,
            "redriven": None if redrive is None else json.loads(redrive.model_dump_json()),
        }


def _dead_letter(message: Any) -> DeadLetter:
    return DeadLetter(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        headers={k: v.decode("utf-8", "replace") for k, v in message.headers or ()},
        timestamp_ms=message.timestamp,
    )


def _reader(settings: ServiceSettings) -> AIOKafkaConsumer:
    """A consumer of no group: it commits nothing and is read to where the topics end now."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-operations",
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        request_timeout_ms=int(READ_TIMEOUT_S * 1000),
        **kafka_client_options(settings),
    )


async def read_to_end(
    settings: ServiceSettings,
    names: Iterable[str],
    *,
    partition: int | None = None,
    start: int | None = None,
    stop_after_first: bool = False,
) -> list[DeadLetter]:
    """Every record of the topics from the beginning (or `start`) to where they end now (or
    the first one only). Raises TimeoutError when that takes longer than READ_TIMEOUT_S."""
    consumer = _reader(settings)
    try:
        await consumer.start()
        await consumer.topics()  # loads the metadata
        wanted = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
            if partition is None or p == partition
        ]
        if not wanted:
            return []
        consumer.assign(wanted)
        if start is None:
            await consumer.seek_to_beginning(*wanted)
        else:
            for tp in wanted:
                consumer.seek(tp, start)
        ends = await consumer.end_offsets(wanted)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while [tp for tp in wanted if await consumer.position(tp) < ends[tp]]:
            if stop_after_first and found:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {sorted({tp.topic for tp in wanted})} took too long")
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                found += [
                    _dead_letter(m)
                    for m in messages
                    if m.offset < ends[TopicPartition(m.topic, m.partition)]
                ]
        return sorted(found, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        await consumer.stop()


async def dead_letter(
    settings: ServiceSettings, topic: str, partition: int, offset: int
) -> DeadLetter | None:
    found = await read_to_end(
        settings, [topic], partition=partition, start=offset, stop_after_first=True
    )
    return next((r for r in found if r.offset == offset), None)


async def redrives(settings: ServiceSettings) -> dict[str, RecordRedriven]:
    """The latest redrive of each dead-letter record (what compaction keeps)."""
    latest: dict[str, RecordRedriven] = {}
    for record in await read_to_end(settings, [topics.REDRIVES]):
        try:
            event = parse_known_event(record.value, topic=topics.REDRIVES)
        except ValidationError:
            continue  # not ours to judge
        if isinstance(event, RecordRedriven):
            latest[event.dead_letter_key] = event
    return latest


def earlier_redrive(
    record: DeadLetter, done: Mapping[str, RecordRedriven]
) -> RecordRedriven | None:
    """A redrive of this dead letter, or of the same source record dead-lettered by another
    consumer group (republishing it once reaches every group)."""
    if record.coordinates in done:
        return done[record.coordinates]
    if record.source_offset is None:
        return None
    return next(
        (
            r
            for r in done.values()
            if (r.source_topic, r.source_partition, r.source_offset)
            == (record.source_topic, record.source_partition, record.source_offset)
        ),
        None,
    )


def redriven_headers(record: DeadLetter, value: bytes) -> dict[str, str]:
    """The record's own headers without the dead-letter ones, naming where it was; the
    event_type header follows the value republished."""
    headers = {k: v for k, v in record.headers.items() if not k.startswith("dlq_")}
    headers[topics.HEADER_REDRIVEN_FROM] = record.coordinates
    event_type = json.loads(value).get("event_type")
    if isinstance(event_type, str) and event_type:
        headers[topics.HEADER_EVENT_TYPE] = event_type
    return headers


async def redrive(
    runtime: ServiceRuntime[Any],
    *,
    dead_letter_topic: str,
    partition: int,
    offset: int,
    corrected: Mapping[str, Any] | None,
    reason: str,
    by: Principal,
) -> RecordRedriven:
    """Republish a dead letter of a topic this service produces (or its corrected value) to
    that topic, then record who had it redriven. Problems: 404 no such dead letter here, 422 a
    value the rules refuse, 409 redriven before, 503 the broker unreachable."""
    settings = runtime.settings
    source = owned_source(runtime, dead_letter_topic)
    with broker_problems():
        record = await dead_letter(settings, dead_letter_topic, partition, offset)
    if record is None:
        raise Problem(404, f"no dead letter at {dead_letter_topic}:{partition}:{offset}")
    value = _republished_value(record, corrected, source)
    with broker_problems():
        _refuse_twice(record, await redrives(settings))
        sent = await runtime.publish_now(source, record.key, value, redriven_headers(record, value))
        audit = RecordRedriven(
            causation_id=json.loads(value).get("event_id"),
            producer=settings.service_name,
            dlq_topic=record.topic,
            dlq_partition=record.partition,
            dlq_offset=record.offset,
            source_topic=source,
            source_partition=record.source_partition,
            source_offset=record.source_offset,
            consumer_group=record.headers.get(topics.HEADER_DLQ_CONSUMER_GROUP),
            error=record.headers.get(topics.HEADER_DLQ_ERROR, "")[:ERROR_CHARS],
            redriven_partition=sent.partition,
            redriven_offset=sent.offset,
            value_replaced=corrected is not None,
            redriven_by=by.key_id,
            reason=reason,
        )
        await runtime.publish_now(
            topics.REDRIVES,
            audit.message_key().encode(),
            audit.model_dump_json().encode(),
            {topics.HEADER_EVENT_TYPE: audit.event_type},
        )
    log.info(
        "%s redriven to %s by %s", record.coordinates, source, by.key_id,
        extra={"redriven_by": by.key_id, "dead_letter": record.coordinates},
    )  # fmt: skip
    return audit


def owned_source(runtime: ServiceRuntime[Any], dead_letter_topic: str) -> str:
    """The source topic of a dead-letter topic whose source this service produces; 404
    otherwise (the producer of a topic redrives it)."""
    source = redrive_rules.source_topic(dead_letter_topic, runtime.produces)
    if source is None:
        raise Problem(
            404,
            f"{runtime.settings.service_name} redrives the dead letters of the topics it "
            f"produces ({', '.join(topics.dead_letter_topic(t) for t in runtime.produces)}), "
            f"not {dead_letter_topic}",
            field="topic",
        )
    return source


def _republished_value(
    record: DeadLetter, corrected: Mapping[str, Any] | None, source: str
) -> bytes:
    try:
        return redrive_rules.republished_value(
            record.value, corrected, topic=source, key=record.key
        )
    except redrive_rules.RedriveRefused as refused:
        raise Problem(
            422,
            refused.summary,
            title="Redrive refused",
            errors=[{"field": p.field, "message": p.message} for p in refused.problems],
        ) from refused


def _refuse_twice(record: DeadLetter, done: Mapping[str, RecordRedriven]) -> None:
    earlier = earlier_redrive(record, done)
    if earlier is not None:
        raise Problem(
            409,
            f"{record.coordinates} was redriven {earlier.occurred_at:%Y-%m-%d %H:%M:%S} UTC by "
            f"{earlier.redriven_by} ({earlier.dead_letter_key} to {earlier.source_topic} "
            f"partition {earlier.redriven_partition} offset {earlier.redriven_offset}): a "
            "redriven event reaches every consumer group once",
            title="Already redriven",
            earlier=json.loads(earlier.model_dump_json()),
        )


@contextmanager
def broker_problems() -> Iterator[None]:
    """The broker unreachable or too slow: 503 with Retry-After, never a hang."""
    try:
        yield
    except (KafkaError, OSError, TimeoutError) as exc:
        raise Problem(
            503,
            f"the broker could not be used: {type(exc).__name__}",
            title="Broker unavailable",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from exc
