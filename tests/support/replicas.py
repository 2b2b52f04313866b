"""Replicas of the services for the failover tests: one stack per module (embedded Tansu with
three partitions per topic, a fresh database), several processes of a service in one consumer
group, and the probes that tell which replica holds what (plain clients, no project code)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import psutil
from supplychain_devstack.processes import free_port
from supplychain_devstack.services import ServiceProcess
from supplychain_devstack.tansu import TANSU_CLIENT_ENV, EmbeddedTansu

from support import Record
from support.metrics import CONSUMER_MESSAGES, metric_value

# each service's schema (also its connections' application_name, see supplychain_kit.db)
SCHEMAS = {
    "order-intake": "order_intake",
    "fulfilment": "fulfilment",
    "invoicing": "invoicing",
    "monitoring": "monitoring",
}


@dataclass
class ReplicaStack:
    """A broker, a database and any number of replicas of each service, sharing one env."""

    tansu: EmbeddedTansu
    database_url: str
    env: dict[str, str]
    log_dir: Path
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    dead: list[ServiceProcess] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.tansu.bootstrap_servers

    def start(self, name: str, count: int = 1) -> list[ServiceProcess]:
        """Start `count` more replicas of `name` (same env, own HTTP port), ready."""
        started = []
        for _ in range(count):
            n = len(self.replicas.get(name, [])) + len([d for d in self.dead if d.name == name])
            service = ServiceProcess(
                name=name, port=free_port(), env=self.env, log_dir=self.log_dir / f"{name}-{n}"
            )
            service.start()
            started.append(service)
            self.replicas.setdefault(name, []).append(service)
        for service in started:
            service.wait_ready()
        return started

    def of(self, name: str) -> list[ServiceProcess]:
        return self.replicas.get(name, [])

    def kill(self, service: ServiceProcess) -> None:
        """SIGKILL: no shutdown, no offset commit, no relay flush, no group leave."""
        service.kill()
        self.replicas[service.name].remove(service)
        self.dead.append(service)

    def stop(self) -> None:
        for services in self.replicas.values():
            for service in services:
                service.resume()
                service.stop()
        self.tansu.stop()


def stack_env(bootstrap: str, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        **TANSU_CLIENT_ENV,  # session timeout 2 s, heartbeat 0.3 s
        "OUTBOX_POLL_INTERVAL_MS": "100",
        "CONSUMER_RETRY_BACKOFF_MS": "20",
        "SUPPLYCHAIN_ENVIRONMENT": "test",
        **extra,
    }


# --- the database, as an operator would look at it -----------------------------------------


async def relay_leader(conn: asyncpg.Connection, schema: str) -> int | None:
    """The local TCP port of the connection that holds the schema's relay lock (the
    transaction-scoped advisory lock on hashtext('outbox:<schema>')) and waits for a row
    lock (its batch sent, marking it published), if one does now."""
    key = await conn.fetchval("SELECT hashtext($1)::bigint", f"outbox:{schema}")
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    port: int | None = await conn.fetchval(
        """SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid)
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.classid::bigint = $1 AND l.objid::bigint = $2
             AND a.wait_event_type = 'Lock'""",
        classid,
        objid,
    )
    return port


def owner_of_port(replicas: Iterable[ServiceProcess], port: int) -> ServiceProcess | None:
    """The replica whose process has a TCP connection from local `port`."""
    for replica in replicas:
        assert replica.process is not None
        connections = psutil.Process(replica.process.pid).net_connections(kind="tcp")
        if any(c.laddr and c.laddr.port == port for c in connections):
            return replica
    return None


async def unpublished_event_ids(database_url: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            f'SELECT event_id::text FROM "{schema}".outbox WHERE published_at IS NULL'
        )
        return {r["event_id"] for r in rows}
    finally:
        await conn.close()


async def outbox_event_ids(database_url: str, schema: str) -> Counter[str]:
    """Every outbox row's event id (published or not): the events the service emitted."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(f'SELECT event_id::text FROM "{schema}".outbox')
        return Counter(r["event_id"] for r in rows)
    finally:
        await conn.close()


async def wait_drained(database_url: str, schemas: Iterable[str], *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    pending: dict[str, int] = {}
    conn = await asyncpg.connect(database_url)
    try:
        while time.monotonic() < deadline:
            pending = {
                s: await conn.fetchval(
                    f'SELECT count(*) FROM "{s}".outbox WHERE published_at IS NULL'
                )
                for s in schemas
            }
            if not any(pending.values()):
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise AssertionError(f"outboxes not drained within {timeout}s: {pending}")


async def sla_clock_state(database_url: str, order_ids: list[str]) -> str:
    """What monitoring's tables say of these orders' acceptance clocks, its stored watermarks,
    its unpublished outbox rows and its connections: why an alarm has not reached the topic."""
    conn = await asyncpg.connect(database_url)
    try:
        stages = await conn.fetch(
            """SELECT order_id::text, started_at, deadline, warning_raised_at, breach_raised_at
               FROM monitoring.stages WHERE stage = 'acceptance' AND order_id = ANY($1::uuid[])
               ORDER BY started_at""",
            order_ids,
        )
        marks = await conn.fetch(
            """SELECT topic, partition, known_until, sampled_at FROM monitoring.verdict_watermarks
               ORDER BY topic, partition"""
        )
        sessions = await conn.fetch(
            """SELECT pid, client_port, state, wait_event_type, wait_event, xact_start,
                      left(query, 80) AS query
               FROM pg_stat_activity WHERE application_name = 'monitoring'
               ORDER BY xact_start NULLS LAST"""
        )
        now = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    unpublished = len(await unpublished_event_ids(database_url, "monitoring"))

    def row(record: asyncpg.Record) -> str:
        return " ".join(
            f"{key}={value:%H:%M:%S.%f}" if isinstance(value, datetime) else f"{key}={value!r}"
            for key, value in record.items()
        )

    lines = [f"database now {now:%H:%M:%S.%f}"]
    lines += [f"{len(stages)} of {len(order_ids)} acceptance stages started:"]
    lines += [f"  {row(r)}" for r in stages]
    lines += ["watermarks:"] + [f"  {row(r)}" for r in marks]
    lines += [f"unpublished outbox rows: {unpublished}", "sessions:"]
    lines += [f"  {row(r)}" for r in sessions]
    return "\n".join(lines)


def log_lines(service: ServiceProcess, *needles: str, lines: int = 25) -> str:
    """The replica's last log lines holding any of `needles` (every line without any)."""
    if not service.log_file.exists():
        return ""
    text = service.log_file.read_text(errors="replace").splitlines()
    kept = [line for line in text if not needles or any(n in line for n in needles)]
    return f"{service.name}@{service.port}:\n" + "\n".join(kept[-lines:])


# --- the broker: topics read to their end ---------------------------------------------------


def event_counts(records: Iterable[Record]) -> Counter[str]:
    """Records per event id."""
    return Counter(json.loads(r.value)["event_id"] for r in records if r.value.startswith(b"{"))


def facts(records: Iterable[Record]) -> dict[tuple[str, str], set[str]]:
    """(order id, event type) → the distinct event ids recorded for it."""
    found: dict[tuple[str, str], set[str]] = {}
    for r in records:
        if not r.value.startswith(b"{"):
            continue
        body = json.loads(r.value)
        found.setdefault((body["order_id"], body["event_type"]), set()).add(body["event_id"])
    return found


# --- metrics ----------------------------------------------------------------------------------


def applied(service: ServiceProcess, topic: str) -> float:
    """Records of `topic` the replica applied, per its /metrics."""
    return metric(service, CONSUMER_MESSAGES, topic=topic, outcome="applied")


def metric(service: ServiceProcess, name: str, **labels: str) -> float:
    """The replica's samples of `name` with these labels, summed, per its /metrics."""
    return metric_value(httpx.get(f"{service.url}/metrics", timeout=5).text, name, **labels)
