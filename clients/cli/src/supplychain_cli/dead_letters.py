"""Dead-letter records and their redrives, read from and written to the broker.

A consumer group that gives up on a record publishes it to `<topic>.dlq` with the error and
the record's source coordinates in headers (supplychain_kit.consumer). A redrive republishes
it (or a corrected value) to the source topic with a `redriven_from` header and records a
RecordRedriven on the compacted operations topic, keyed by the dead-letter record, so it is
never redriven twice by accident.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError
from supplychain_contracts import topics
from supplychain_contracts.operations import RecordRedriven, dead_letter_coordinates
from supplychain_contracts.registry import parse_known_event

PRODUCER = "supplychain-cli"
# The CLI reports an unreachable broker once, as an exit code; aiokafka would log each attempt.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Record:
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
        return self.headers.get(topics.HEADER_DLQ_SOURCE_TOPIC) or self.topic.removesuffix(
            topics.DLQ_SUFFIX
        )

    def _int_header(self, name: str) -> int | None:
        value = self.headers.get(name, "")
        return int(value) if value.isdigit() else None

    @property
    def source_partition(self) -> int | None:
        return self._int_header(topics.HEADER_DLQ_SOURCE_PARTITION)

    @property
    def source_offset(self) -> int | None:
        return self._int_header(topics.HEADER_DLQ_SOURCE_OFFSET)

    @property
    def source(self) -> str:
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"

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


def error_summary(error: str, *, width: int = 60) -> str:
    """The gist of a dead-letter error on one line: pydantic's headline (`1 validation error
    for ...`) dropped, the lines joined."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if len(lines) > 1 and "validation error" in lines[0]:
        lines = lines[1:]
    text = re.sub(r"\s*\[type=[^\]]*\]|\s*For further information visit \S+", "", " ".join(lines))
    return text if len(text) <= width else text[: width - 1] + "…"


def dead_letter_topics(topic: str | None = None) -> list[str]:
    """The `.dlq` topics to read: all of them, or the one of `topic` (a source or dlq name)."""
    if topic is None:
        return [topics.dead_letter_topic(t) for t in topics.ALL_TOPICS]
    return [topic if topic.endswith(topics.DLQ_SUFFIX) else topics.dead_letter_topic(topic)]


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        headers={k: v.decode("utf-8", "replace") for k, v in message.headers or ()},
        timestamp_ms=message.timestamp,
    )


async def read_to_end(
    bootstrap: str,
    names: Iterable[str],
    *,
    partition: int | None = None,
    start: int | None = None,
    timeout_s: float = READ_TIMEOUT_S,
) -> list[Record]:
    """Every record of the topics from the beginning (or `start`) to where they end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
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
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp in wanted if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {sorted({tp.topic for tp in wanted})} took too long")
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records += [
                    _record(m)
                    for m in messages
                    if m.offset < ends[TopicPartition(m.topic, m.partition)]
                ]
        return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        await consumer.stop()


async def dead_letters(bootstrap: str, topic: str | None = None) -> list[Record]:
    return await read_to_end(bootstrap, dead_letter_topics(topic))


async def dead_letter(bootstrap: str, topic: str, partition: int, offset: int) -> Record | None:
    found = await read_to_end(bootstrap, [topic], partition=partition, start=offset)
    return next((r for r in found if r.offset == offset), None)


async def redrives(bootstrap: str) -> dict[str, RecordRedriven]:
    """The latest redrive of each dead-letter record (what compaction keeps)."""
    latest: dict[str, RecordRedriven] = {}
    for record in await read_to_end(bootstrap, [topics.REDRIVES]):
        try:
            event = parse_known_event(record.value, topic=topics.REDRIVES)
        except ValidationError:
            continue  # not ours to judge; the operations topic's consumers dead-letter it
        if isinstance(event, RecordRedriven):
            latest[event.dead_letter_key] = event
    return latest


def earlier_redrive(record: Record, done: Mapping[str, RecordRedriven]) -> RecordRedriven | None:
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


def event_problem(value: bytes, topic: str) -> str | None:
    """Why `value` is no event of `topic` (it would be dead-lettered again), or None."""
    try:
        parse_known_event(value, topic=topic)
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '$'}: {e['msg']}" for e in exc.errors()
        )[:1000]
    return None


def parse_known_event_or_none(value: bytes, topic: str) -> Any:
    try:
        return parse_known_event(value, topic=topic)
    except (ValidationError, KeyError):
        return None


def redriven_headers(record: Record, value: bytes) -> list[tuple[str, bytes]]:
    """The record's own headers without the dead-letter ones, naming where it was; the
    event_type header follows a corrected value."""
    headers = {k: v for k, v in record.headers.items() if not k.startswith("dlq_")}
    headers[topics.HEADER_REDRIVEN_FROM] = record.coordinates
    try:
        event_type = json.loads(value).get("event_type")
    except (ValueError, AttributeError):
        event_type = None
    if isinstance(event_type, str) and event_type:
        headers[topics.HEADER_EVENT_TYPE] = event_type
    return [(k, v.encode()) for k, v in headers.items()]


def operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


async def redrive(
    bootstrap: str, record: Record, *, value: bytes | None, reason: str
) -> RecordRedriven:
    """Republish the record (or `value`) to its source topic, then record that it was."""
    republished = record.value if value is None else value
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    try:
        await producer.start()
        sent = await producer.send_and_wait(
            record.source_topic,
            republished,
            key=record.key,
            headers=redriven_headers(record, republished),
        )
        cause = parse_known_event_or_none(republished, record.source_topic)
        event = RecordRedriven(
            causation_id=getattr(cause, "event_id", None),
            producer=PRODUCER,
            dlq_topic=record.topic,
            dlq_partition=record.partition,
            dlq_offset=record.offset,
            source_topic=record.source_topic,
            source_partition=record.source_partition,
            source_offset=record.source_offset,
            consumer_group=record.headers.get(topics.HEADER_DLQ_CONSUMER_GROUP),
            error=record.headers.get(topics.HEADER_DLQ_ERROR, "")[:2000],
            redriven_partition=sent.partition,
            redriven_offset=sent.offset,
            value_replaced=value is not None,
            redriven_by=operator(),
            reason=reason,
        )
        await producer.send_and_wait(
            topics.REDRIVES,
            event.model_dump_json().encode(),
            key=event.message_key().encode(),
            headers=[(topics.HEADER_EVENT_TYPE, event.event_type.encode())],
        )
        return event
    finally:
        await producer.stop()
