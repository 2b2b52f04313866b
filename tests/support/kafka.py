"""The broker as a test sees it, through plain aiokafka (never the kit's consumer or relay):
records read from the beginning of topics (until a condition holds, to their end, or in the
background), records produced, contract events as a consumer fetches them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from support.waits import eventually


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, message: Any) -> Record:
        """A consumed aiokafka record, its headers decoded."""
        headers = {k: v.decode("utf-8", "replace") for k, v in (message.headers or ())}
        return cls(
            message.topic, message.partition, message.offset, message.key, message.value, headers
        )

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.value)

    @property
    def trace_id(self) -> str | None:
        parts = self.headers.get("traceparent", "").split("-")
        return parts[1] if len(parts) == 4 else None


def _reader(bootstrap: str, *topics: str) -> AIOKafkaConsumer:
    """A consumer of no group reading from the beginning (nothing committed), quick to fetch;
    of `topics`, or assigned partitions later."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )


async def _fetch(consumer: AIOKafkaConsumer, *, timeout_ms: int = 200) -> list[Record]:
    """The records one fetch returns (none after `timeout_ms`)."""
    batch = await consumer.getmany(timeout_ms=timeout_ms)
    return [Record.of(m) for messages in batch.values() for m in messages]


async def read_records(
    bootstrap: str,
    topics: Iterable[str],
    *,
    until: Callable[[list[Record]], bool],
    timeout: float = 30,
) -> list[Record]:
    """Read the topics from the beginning until `until(records)` holds; fail on timeout."""
    consumer = _reader(bootstrap, *topics)
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            records += await _fetch(consumer)
            if until(records):
                return records
    finally:
        await consumer.stop()
    summary = [(r.topic, r.headers.get("event_type")) for r in records][-30:]
    raise AssertionError(
        f"condition not met within {timeout}s; saw {len(records)} records: {summary}"
    )


class Tail:
    """Reads topics in the background from their beginning as records arrive, for a test that
    must see them before they are gone (an embedded broker forgets its records when killed)."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.records: list[Record] = []  # in offset order per partition
        self._consumer = _reader(bootstrap, *topics)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            self.records += await _fetch(self._consumer, timeout_ms=100)

    async def wait_until(
        self, check: Callable[[list[Record]], bool], *, what: str, timeout: float = 10
    ) -> None:
        await eventually(lambda: check(self.records), what=what, timeout=timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            await self._consumer.stop()


async def read_to_end(
    bootstrap: str, topics: Iterable[str], *, timeout: float = 30
) -> list[Record]:
    """Every record of the topics, from the beginning up to each partition's high watermark
    as it stands when called (read it after the producers' outboxes drained: see
    `outbox_drained`). Unlike `read_records`, it never stops at a first match, so a
    duplicate published after the awaited record is seen."""
    topics = list(topics)
    consumer = _reader(bootstrap)
    await consumer.start()
    records: list[Record] = []
    try:
        await consumer.topics()  # loads the cluster metadata
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        assert partitions, f"no partitions known for {list(topics)}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while True:
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"could not read {list(topics)} to {ends} within {timeout}s"
                    )
                records += await _fetch(consumer)
            # Tansu was seen reporting an end offset short of records already consumed
            # elsewhere: read again until the high watermark stops moving
            again = await consumer.end_offsets(partitions)
            if again == ends:
                break
            ends = again
    finally:
        await consumer.stop()
    return records


async def outbox_drained(database_url: str, schema: str, *, timeout: float = 30) -> None:
    """Wait until the service owning `schema` has published every row of its outbox."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            pending = await conn.fetchval(
                f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'
            )
            if pending == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{schema}: {pending} outbox rows still unpublished")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def events_of(records: list[Record], order_id: str) -> list[Record]:
    return [r for r in records if r.value.startswith(b"{") and r.json.get("order_id") == order_id]


def has_event(order_id: str, event_type: str) -> Callable[[list[Record]], bool]:
    def check(records: list[Record]) -> bool:
        return any(r.headers.get("event_type") == event_type for r in events_of(records, order_id))

    return check


async def produce(
    bootstrap: str,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            value,
            key=key,
            headers=[(k, v.encode()) for k, v in (headers or {}).items()],
        )
    finally:
        await producer.stop()


def fetched(
    event: Any,
    offset: int,
    *,
    topic: str | None = None,
    partition: int = 0,
    headers: dict[str, str] | None = None,
) -> Any:
    """A contract event as the broker hands it to a consumer (an aiokafka ConsumerRecord, on
    the event's own topic unless `topic`), to call a consumer's `handle_batch` without a
    broker. The bench imports it too: this module needs no pytest."""
    from aiokafka.structs import ConsumerRecord
    from supplychain_contracts.registry import topic_for

    return ConsumerRecord(
        topic=topic or topic_for(event),
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=event.message_key().encode(),
        value=event.model_dump_json().encode(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple((k, v.encode()) for k, v in (headers or {}).items()),
    )


def placed_event_json(
    *,
    supplier: str = "FRAMES",
    requester: str = "ASSEMBLY",
    sku: str = "FRAME-CITY",
    quantity: int = 2,
    unit_price: str = "104.50",
) -> tuple[str, bytes]:
    """An OrderPlaced as another producer would publish it: (order_id, JSON bytes)."""
    from support.events import order_placed

    event = order_placed(
        supplier=supplier, requester=requester, sku=sku, quantity=quantity, unit_price=unit_price
    )
    return str(event.order_id), event.model_dump_json().encode()
