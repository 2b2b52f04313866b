"""The faults the soak injects, each timed from the moment it starts to the moment the system
works again, and what the topics held in each life of the broker.

Tansu's memory storage forgets every topic when it restarts. The platform keeps what it owes
in PostgreSQL: an outbox row not yet sent is sent again after the restart, an event already
consumed has its effect in the consumer's database. A record produced and not yet consumed by
every group would be lost with the broker's memory, so the broker is restarted only at a
drain point: the load holds, the services are frozen (SIGSTOP) at a moment when every
consumer group has committed every record of the topics it reads, the topics are read to
their end (the records of that life of the broker), and only then the broker is restarted,
the topics made again and the services resumed (the documented way, as in
tests/integration/test_reliability.py). Apache Kafka keeps its topics: there no drain is needed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from supplychain_contracts import topics
from supplychain_contracts.registry import EVENTS_BY_TOPIC, event_type_of
from supplychain_devstack.stack import Stack
from supplychain_devstack.supervisor import Supervisor
from supplychain_devstack.topics import create_topics
from supplychain_kit.messaging.lag import LagProbe
from support import Record, produce, read_to_end

from soak.load import Load

# the topics poison goes to: every topic a service consumes events from
POISONED_TOPICS = (topics.ORDERS, topics.FULFILMENT, topics.INVOICING, topics.SLA, topics.REFERENCE)
ALL = topics.all_topics_with_dead_letters()


def now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]


@dataclass
class Fault:
    kind: str
    target: str
    at: str  # UTC time it began
    elapsed_s: float  # since the load began
    outage_s: float = 0.0  # how long the part was down (or frozen)
    recovery_s: float = 0.0  # from the start of the fault until everything was ready again
    detail: str = ""


@dataclass(frozen=True)
class Poison:
    """One injected record: `poison_id` is in its value, its key and its headers."""

    poison_id: str
    topic: str
    kind: str  # malformed | wrong-schema
    value: bytes


@dataclass
class Epoch:
    """What the topics held in one life of the broker, read to their high watermark."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, event_id)
    dead_letters: list[Record] = field(default_factory=list)
    poison_seen: int = 0  # source-topic records that are not events (the injected ones)
    records: int = 0

    @classmethod
    def of(cls, records: list[Record]) -> Epoch:
        epoch = cls(records=len(records))
        for r in records:
            if r.topic.endswith(topics.DLQ_SUFFIX):
                epoch.dead_letters.append(r)
                continue
            try:
                body = json.loads(r.value)
            except ValueError:
                epoch.poison_seen += 1
                continue
            if "soak_poison" in body or not isinstance(body, dict) or "event_id" not in body:
                epoch.poison_seen += 1
                continue
            epoch.events[(r.topic, str(body["event_id"]))] += 1
        return epoch


def poison_batch(round_no: int) -> list[Poison]:
    """Per topic: a record that is not JSON, and one that is JSON of a real event type of
    the topic (header and body) but not of its schema."""
    batch = []
    for topic in POISONED_TOPICS:
        event_type = event_type_of(EVENTS_BY_TOPIC[topic][0])
        for kind in ("malformed", "wrong-schema"):
            poison_id = (
                f"soak-poison-{round_no}-{topic.split('.')[1]}-{kind}-{uuid.uuid4().hex[:6]}"
            )
            if kind == "malformed":
                value = f'{{"soak_poison": "{poison_id}", "event_type": "{event_type}", '.encode()
            else:
                value = json.dumps(
                    {
                        "soak_poison": poison_id,
                        "event_type": event_type,
                        "event_id": str(uuid.uuid4()),
                        "order_id": "not-a-uuid",
                        "occurred_at": "yesterday",
                    }
                ).encode()
            batch.append(Poison(poison_id, topic, kind, value))
    return batch


@dataclass
class Faults:
    stack: Stack
    load: Load
    supervisor: Supervisor
    groups_by_topic: dict[str, list[str]]  # topic -> consumer groups reading it
    log: list[Fault] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    epochs: list[Epoch] = field(default_factory=list)
    planned_kills: int = 0
    killed_schemas: set[str] = field(default_factory=set)  # of the services SIGKILLed
    database_restarted: bool = False  # every relay may have lost a published batch's commit

    # --- helpers ------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return time.time() - self.load.started_at

    async def all_ready(self, timeout: float = 180) -> None:
        """Every service answers /health/ready with 200 (database and broker reachable)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for service in self.stack.services.values():
                while True:
                    try:
                        answer = await client.get(f"{service.url}/health/ready")
                        if answer.status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{service.name} not ready within {timeout:.0f}s")
                    await asyncio.sleep(0.1)

    async def expected_dead_letters(self) -> Counter[tuple[str, str]]:
        """(poison id, consumer group): one dead letter per group reading the poison's topic."""
        return Counter(
            (p.poison_id, group) for p in self.poison for group in self.groups_by_topic[p.topic]
        )

    # --- the faults ---------------------------------------------------------------------

    async def inject_poison(self) -> Fault:
        fault = Fault("poison", "5 topics", now(), self._elapsed())
        began = time.monotonic()
        batch = poison_batch(len([f for f in self.log if f.kind == "poison"]) + 1)
        for p in batch:
            await produce(
                self.stack.bootstrap_servers,
                p.topic,
                p.value,
                key=p.poison_id.encode(),
                headers={
                    "event_type": p.value.split(b'"event_type": "')[1].split(b'"')[0].decode()
                },
            )
        self.poison += batch
        wanted = {(p.poison_id, g) for p in batch for g in self.groups_by_topic[p.topic]}
        dlqs = [topics.dead_letter_topic(t) for t in POISONED_TOPICS]
        deadline = time.monotonic() + 120
        while True:  # recovered: every group has dead-lettered every record and moved on
            seen = {
                (poison_id_of(r), r.headers.get(topics.HEADER_DLQ_CONSUMER_GROUP, ""))
                for r in await read_to_end(self.stack.bootstrap_servers, dlqs)
            }
            if wanted <= seen:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"poison not dead-lettered within 120s: {wanted - seen}")
            await asyncio.sleep(0.5)
        fault.recovery_s = time.monotonic() - began
        fault.detail = f"{len(batch)} records, {len(wanted)} dead letters expected"
        return fault

    async def kill_service(self, name: str) -> Fault:
        """SIGKILL; the devstack supervisor (as in `make run`) restarts it with backoff."""
        fault = Fault("SIGKILL", name, now(), self._elapsed())
        began = time.monotonic()
        self.planned_kills += 1
        self.killed_schemas.add(self.stack.services[name].module)  # its schema's name
        await asyncio.to_thread(self.stack.services[name].kill)
        await self.all_ready()
        fault.recovery_s = time.monotonic() - began
        fault.outage_s = fault.recovery_s
        fault.detail = "restarted by the supervisor (backoff 0.5 s), ready again"
        return fault

    async def restart_postgres(self, down_s: float) -> Fault:
        postgres = self.stack.postgres
        assert postgres is not None, "the soak restarts the embedded PostgreSQL"
        fault = Fault("restart", "PostgreSQL", now(), self._elapsed())
        began = time.monotonic()
        self.database_restarted = True
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(postgres.start)
        fault.outage_s = time.monotonic() - began
        await self.all_ready()
        fault.recovery_s = time.monotonic() - began
        fault.detail = f"down {fault.outage_s:.1f}s (fast shutdown, same data directory)"
        return fault

    async def restart_broker(self) -> Fault:
        tansu = self.stack.tansu
        assert tansu is not None, "the soak restarts the embedded Tansu"
        fault = Fault("restart", "Tansu broker", now(), self._elapsed())
        began = time.monotonic()
        await self.load.quiet()
        services = list(self.stack.services.values())
        tries = 0
        probe = LagProbe(tansu.bootstrap_servers, client_id="soak-drain")
        await probe.start()
        try:
            while True:
                if time.monotonic() - began > 180:
                    raise RuntimeError("no drain point within 180 s: the groups never caught up")
                if not await self.consumed_everything(probe):
                    await asyncio.sleep(0.2)
                    continue
                tries += 1
                for service in services:
                    service.pause()
                await asyncio.sleep(0.2)  # requests already on the wire reach the broker
                if await self.consumed_everything(probe):
                    break
                for service in services:
                    service.resume()
        finally:
            await probe.stop()
        drained = time.monotonic()
        self.epochs.append(Epoch.of(await read_to_end(tansu.bootstrap_servers, ALL, timeout=300)))
        await asyncio.to_thread(tansu.kill)
        await asyncio.to_thread(tansu.start)
        await create_topics(tansu.bootstrap_servers, partitions=self.stack.config.partitions)
        for service in services:
            service.resume()
        fault.outage_s = time.monotonic() - drained
        self.load.resume()
        await self.all_ready()
        fault.recovery_s = time.monotonic() - began
        fault.detail = (
            f"drain point after {drained - began:.1f}s ({tries} freeze(s)); "
            f"{self.epochs[-1].records} records read before the restart; "
            f"services frozen {fault.outage_s:.1f}s"
        )
        return fault

    async def consumed_everything(self, probe: LagProbe) -> bool:
        """Every group has committed every record of every topic it reads."""
        readers: dict[str, list[str]] = {}
        for topic, groups in self.groups_by_topic.items():
            for group in groups:
                readers.setdefault(group, []).append(topic)
        for group, read in readers.items():
            if (await probe.group_lag(group, read)).records:
                return False
        return True

    async def read_last_epoch(self) -> None:
        self.epochs.append(
            Epoch.of(await read_to_end(self.stack.bootstrap_servers, ALL, timeout=300))
        )


def poison_id_of(record: Record) -> str:
    """The poison id a (dead-letter) record carries in its value, or ''."""
    marker = b'"soak_poison": "'
    if marker not in record.value:
        return ""
    return record.value.split(marker, 1)[1].split(b'"', 1)[0].decode()
