"""Consumer lag as the broker sees it, for any consumer group.

Measured by a background task with clients of its own (an admin client for the group's
committed offsets, a group-less consumer for the partitions' end offsets and the timestamp
of the oldest record not consumed yet), never from inside the consumer loop: a consumer that
stalls or dies stops committing while the end offsets keep growing, so the lag keeps rising.

- records: end offset minus committed offset, per partition (a partition the group has not
  committed on counts from its first record: the groups read from the earliest offset);
- seconds: the age of the oldest record not consumed yet (its timestamp), per topic (and the
  oldest of its topics per group); 0 when the group has caught up.

`LagProbe.group_offsets` is the same reading without the timestamps, as a sample a caller can
keep (monitoring's SLA verdicts wait until its group has reached the end offsets sampled after
a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supplychain_kit import metrics
from supplychain_kit.kafka_security import kafka_client_options
from supplychain_kit.retry import Backoff, keep_trying
from supplychain_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

# How long a measurement waits for the record at a committed offset to arrive.
TIMESTAMP_FETCH_TIMEOUT_S = 2.0
# Timestamps of records looked up before, by (topic, partition, offset): a stalled group sits
# at the same offset, so its oldest record is fetched once, not at every measurement.
TIMESTAMP_CACHE_SIZE = 4096


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing on this partition yet
    end: int
    records: int
    oldest_unconsumed_at: datetime | None  # timestamp of the record at the committed offset


@dataclass(frozen=True)
class GroupLag:
    group: str
    measured_at: datetime
    partitions: tuple[PartitionLag, ...]

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    def records_by_topic(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in self.partitions:
            totals[p.topic] = totals.get(p.topic, 0) + p.records
        return totals

    def seconds_by_topic(self) -> dict[str, float]:
        """Age of the oldest record not consumed yet, per topic (0 when caught up)."""
        ages: dict[str, float] = {p.topic: 0.0 for p in self.partitions}
        for p in self.partitions:
            if p.records and p.oldest_unconsumed_at is not None:
                age = max(0.0, (self.measured_at - p.oldest_unconsumed_at).total_seconds())
                ages[p.topic] = max(ages[p.topic], age)
        return ages


@dataclass(frozen=True)
class GroupOffsets:
    """Where a group stands on every partition of some topics, read at once: the end offsets
    were asked after `asked_at`, so every record the broker held then lies below them;
    `positions` are where the group resumes (its committed offset, else the partition's first
    offset: the groups read from the earliest)."""

    group: str
    asked_at: datetime
    committed: Mapping[TopicPartition, int]
    ends: Mapping[TopicPartition, int]
    positions: Mapping[TopicPartition, int]


class LagProbe:
    """Reads offsets and record timestamps from the broker with clients of its own."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        fetch_max_wait_ms: int = 100,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        """`security`: the clients' SASL/TLS options (kafka_security.kafka_client_options)."""
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id=f"{client_id}-lag-admin",
            request_timeout_ms=10_000,
            **(security or {}),
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id=f"{client_id}-lag",
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_partition_fetch_bytes=64 * 1024,
            request_timeout_ms=10_000,
            **(security or {}),
        )
        self._lock = asyncio.Lock()  # one measurement at a time on the shared consumer
        self._timestamps: dict[tuple[str, int, int], datetime] = {}

    async def start(self) -> None:
        await self._admin.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._admin.close()
            raise

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    async def _partitions(self, topics: Sequence[str] | None) -> list[TopicPartition]:
        """Every partition of the topics (of every topic: None) the broker has."""
        described = await self._admin.describe_topics(None if topics is None else list(topics))
        return sorted(
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0 and not topic["topic"].startswith("__")
            for partition in topic["partitions"]
        )

    async def group_lag(self, group: str, topics: Sequence[str] | None = None) -> GroupLag:
        """The group's lag on `topics`; None: on every topic it has committed offsets on."""
        async with self._lock:
            offsets = await self._group_offsets(group, topics)
            ends, positions = offsets.ends, offsets.positions
            behind = {tp: at for tp, at in positions.items() if ends[tp] > at}
            oldest = await self._timestamps_at(behind)
            measured_at = datetime.now(UTC)
        return GroupLag(
            group=group,
            measured_at=measured_at,
            partitions=tuple(
                PartitionLag(
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=offsets.committed.get(tp),
                    end=ends[tp],
                    records=max(0, ends[tp] - positions[tp]),
                    oldest_unconsumed_at=oldest.get(tp),
                )
                for tp in positions
            ),
        )

    async def group_offsets(self, group: str, topics: Sequence[str]) -> GroupOffsets:
        """The group's committed offsets and the end offsets on every partition of `topics`."""
        async with self._lock:
            return await self._group_offsets(group, topics)

    async def _group_offsets(self, group: str, topics: Sequence[str] | None) -> GroupOffsets:
        asked_at = datetime.now(UTC)
        partitions = await self._partitions(topics)
        committed_at = (
            await self._admin.list_consumer_group_offsets(group, partitions=partitions)
            if partitions
            else {}
        )
        committed = {
            tp: meta.offset
            for tp, meta in committed_at.items()
            if meta is not None and meta.offset >= 0
        }
        if topics is None:  # the topics the group reads: those it has committed on
            reads = {tp.topic for tp in committed}
            partitions = [tp for tp in partitions if tp.topic in reads]
        ends = await self._consumer.end_offsets(partitions) if partitions else {}
        starts = await self._consumer.beginning_offsets(partitions) if partitions else {}
        return GroupOffsets(
            group=group,
            asked_at=asked_at,
            committed=committed,
            ends=ends,
            positions={tp: max(committed.get(tp, starts[tp]), starts[tp]) for tp in partitions},
        )

    async def topic_sizes(self, topics: Sequence[str]) -> dict[str, int]:
        """Records each topic holds (end minus start offsets over its partitions)."""
        async with self._lock:
            partitions = await self._partitions(topics)
            ends = await self._consumer.end_offsets(partitions) if partitions else {}
            starts = await self._consumer.beginning_offsets(partitions) if partitions else {}
        sizes = dict.fromkeys(topics, 0)
        for tp in partitions:
            sizes[tp.topic] += max(0, ends[tp] - starts[tp])
        return sizes

    async def _timestamps_at(
        self, positions: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, datetime]:
        """The timestamp of the record at each position (the oldest one not consumed)."""
        found = {
            tp: self._timestamps[(tp.topic, tp.partition, offset)]
            for tp, offset in positions.items()
            if (tp.topic, tp.partition, offset) in self._timestamps
        }
        missing = {tp: offset for tp, offset in positions.items() if tp not in found}
        if not missing:
            return found
        # one assignment that only grows, paused between measurements (no background
        # fetching): no subscribe/unsubscribe round per measurement
        assigned = self._consumer.assignment()
        if not set(missing) <= assigned:
            self._consumer.assign([*assigned, *(tp for tp in missing if tp not in assigned)])
        self._consumer.pause(*(tp for tp in self._consumer.assignment() if tp not in missing))
        self._consumer.resume(*missing)
        for tp, offset in missing.items():
            self._consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + TIMESTAMP_FETCH_TIMEOUT_S
        try:
            while missing and asyncio.get_running_loop().time() < deadline:
                batch = await self._consumer.getmany(*missing, timeout_ms=200)
                for tp, records in batch.items():
                    if tp in missing and records:
                        at = datetime.fromtimestamp(records[0].timestamp / 1000, tz=UTC)
                        if len(self._timestamps) >= TIMESTAMP_CACHE_SIZE:
                            self._timestamps.clear()
                        self._timestamps[(tp.topic, tp.partition, missing.pop(tp))] = at
                        found[tp] = at
        finally:
            self._consumer.pause(*self._consumer.assignment())
        return found


@dataclass
class LagMonitor:
    """The background task of a process: measures its own consumer group (on the topics it
    consumes) and any other groups it is told to (monitoring: every service's), publishes
    the gauges and keeps the latest measurement of each group for readers (the console)."""

    settings: ServiceSettings
    groups: Mapping[str, Sequence[str] | None]
    latest: dict[str, GroupLag] = field(default_factory=dict)
    _probe: LagProbe | None = field(default=None, init=False)

    @classmethod
    def for_service(
        cls, settings: ServiceSettings, *, own_group: str | None, consumes: Sequence[str]
    ) -> LagMonitor:
        groups: dict[str, Sequence[str] | None] = {}
        if own_group is not None and consumes:
            groups[own_group] = tuple(consumes)
        for group in settings.lag_groups():
            groups.setdefault(group, None)
        return cls(settings=settings, groups=groups)

    @property
    def interval_s(self) -> float:
        return self.settings.kafka_lag_interval_s

    async def run(self) -> None:
        """Measure every interval until cancelled; a failed measurement is logged and tried
        again at the next one (the clients reconnect by themselves)."""
        try:
            await self._start_probe()
            while True:
                await self.measure_all()
                await asyncio.sleep(self.interval_s)
        finally:
            if self._probe is not None:
                await self._probe.stop()
                self._probe = None

    async def _start_probe(self) -> None:
        self._probe = await started_probe(self.settings, client_id=self.settings.service_name)

    async def measure_all(self) -> None:
        assert self._probe is not None, "measured once the probe started"
        for group, topics in self.groups.items():
            try:
                lag = await self._probe.group_lag(group, topics)
            except Exception as exc:
                log.warning("consumer lag of %s not measured: %r", group, exc)
                continue
            self.latest[group] = lag
            publish(lag)

    async def topic_sizes(self, topics: Sequence[str]) -> dict[str, int] | None:
        """Records each topic holds; None while the probe has not reached the broker."""
        if self._probe is None:
            return None
        return await self._probe.topic_sizes(topics)


async def started_probe(settings: ServiceSettings, *, client_id: str) -> LagProbe:
    """A probe with clients of its own, started once the broker answers: it may be down when
    the process starts."""
    probe: LagProbe | None = None

    async def start() -> LagProbe:
        nonlocal probe
        probe = LagProbe(
            settings.kafka_bootstrap_servers,
            client_id=client_id,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            security=kafka_client_options(settings),
        )
        await probe.start()
        return probe

    async def not_reachable(exc: Exception, _delay: float) -> None:
        log.warning("%s: broker not reachable yet (%r); retrying", client_id, exc)
        if probe is not None:
            await probe.stop()

    return await keep_trying(
        start, backoff=Backoff(first_s=0.5, cap_s=5.0), on_failure=not_reachable
    )


def publish(lag: GroupLag) -> None:
    """The measurement as Prometheus gauges."""
    for p in lag.partitions:
        metrics.CONSUMER_LAG_RECORDS.labels(
            group=lag.group, topic=p.topic, partition=str(p.partition)
        ).set(p.records)
    seconds_by_topic = lag.seconds_by_topic()
    for topic, seconds in seconds_by_topic.items():
        metrics.CONSUMER_LAG_SECONDS.labels(group=lag.group, topic=topic).set(seconds)
    metrics.CONSUMER_GROUP_LAG_SECONDS.labels(group=lag.group).set(
        max(seconds_by_topic.values(), default=0.0)
    )
