"""SLA repair: rebuild timelines and SLA results from the beginning of the topics into fresh
tables and report how they differ from the live ones. Nothing is emitted: alarms the live
service raised are learnt from the SLA topic itself.

    python -m monitoring.replay [--schema monitoring_replay] [--live-schema monitoring]
                                [--timeout 60]

Prints a JSON report; exits 0 when replay and live agree, 1 when they differ.
Run it when the live service has caught up (consumer lag 0), or expect in-flight differences.

Only the window the topics still cover is compared (`window` in the report, also said on
stderr): after the embedded broker restarted, or past a topic's retention, the live tables
know events the topics no longer hold; the stages of those orders are counted in
`outside_window`, not reported as missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from supplychain_contracts import topics
from supplychain_contracts.registry import parse_event_strict
from supplychain_kit import db
from supplychain_kit.kafka_security import kafka_client_options
from supplychain_kit.messaging import inbox
from supplychain_kit.messaging.dispatch import ApplyEvent
from supplychain_kit.telemetry import continue_trace, headers_to_dict, setup_tracing

from monitoring.config import MonitoringSettings
from monitoring.reference import store as reference_store
from monitoring.replay.window import (
    MissingEvents,
    TopicWindow,
    orders_before_window,
    window_of,
)
from monitoring.sla import rules as sla
from monitoring.timeline import store as timeline_store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Silent

LIVE_SCHEMA = "monitoring"
REPLAY_SCHEMA = "monitoring_replay"
REPLAY_CONSUMER = "monitoring-replay"
# The topics timelines are rebuilt from. Not the reference topic: policies and calendars come
# from the live schema's versions (the compacted topic keeps only each entity's latest one).
REPLAYED_TOPICS = tuple(topic for topic in topics.ALL_TOPICS if topic != topics.REFERENCE)
# Compared per stage; alarm times differ by nature (scan time), whether they were raised must not.
COMPARED = (
    "supplier",
    "requester",
    "started_at",
    "ended_at",
    "duration_s",
    "target_s",
    "warn_at",
    "deadline",
    "trace_id",
    "policy_key",
    "policy_version",
    # paused clocks: the business seconds their pauses took off, and since when one stands still
    # (the pause-adjusted warn_at and deadline are compared above)
    "paused_s",
    "paused_since",
    "status",
    "outcome",
    "warning_raised",
    "breach_raised",
    "breach_retracted",
)


@dataclass
class Report:
    records_read: int = 0
    events_replayed: int = 0
    records_skipped: int = 0
    stages_compared: int = 0
    window: dict[str, Any] = field(default_factory=dict)
    outside_window: dict[str, int] = field(default_factory=lambda: {"orders": 0, "stages": 0})
    differences: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[str, TopicWindow] = field(default_factory=dict, repr=False)

    def as_json(self) -> str:
        shown = {name: value for name, value in self.__dict__.items() if name != "topics"}
        return json.dumps(shown, default=str, indent=2)

    def summary(self) -> str:
        """One line for people: the window compared and what lay before it."""
        return (
            f"replay compared {self.stages_compared} stages in the window the topics cover, "
            f"from {self.window.get('from')} to {self.window.get('to')}; "
            f"{self.outside_window['stages']} stages of {self.outside_window['orders']} orders "
            f"with events from before it were not compared; "
            f"{len(self.differences)} differences"
        )


async def rebuild_schema(
    settings: MonitoringSettings, schema: str, *, live_schema: str
) -> asyncpg.Pool:
    """A fresh schema with monitoring's tables and the live service's policy and calendar
    versions: each stage is timed by the versions in force when it started, as it was live."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    pool = await db.create_pool(settings.database_url, schema=schema, max_size=2)
    files = db.kit_migrations() + db.package_migrations("monitoring")
    await db.migrate(pool, schema=schema, files=files)
    async with pool.acquire() as conn, conn.transaction():
        await reference_store.copy_reference_data(conn, from_schema=live_schema)
    return pool


async def replay_topics(settings: MonitoringSettings, pool: asyncpg.Pool, report: Report) -> None:
    """Apply every record up to the end of the topics (a plain consumer, no group)."""
    apply = event_applier(Silent())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata
        partitions = [
            TopicPartition(topic, partition)
            for topic in REPLAYED_TOPICS
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        report.topics = {topic: TopicWindow() for topic in REPLAYED_TOPICS}
        ends = await consumer.end_offsets(partitions)
        while True:
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        report.records_read += 1
                        report.topics[record.topic].saw(record.partition, record.timestamp)
                        await _apply_record(pool, apply, record, report)
            # the end is where the topics were when we got there, not when we started
            latest = await consumer.end_offsets(partitions)
            if latest == ends:
                return
            ends = latest
    finally:
        await consumer.stop()


async def _apply_record(pool: asyncpg.Pool, apply: ApplyEvent, record: Any, report: Report) -> None:
    headers = headers_to_dict(record.headers)
    try:
        event = parse_event_strict(record.value or b"", topic=record.topic)
    except ValidationError:
        report.records_skipped += 1  # dead-lettered (or unknown) live as well
        return
    with continue_trace(f"replay {record.topic}", headers, kind=SpanKind.CONSUMER):
        async with pool.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, consumer=REPLAY_CONSUMER, event=event):
                await apply(conn, event)
                report.events_replayed += 1


@dataclass(frozen=True)
class Compared:
    stages: int
    differences: list[dict[str, Any]]
    outside_orders: int = 0
    outside_stages: int = 0


def compare(
    live: Sequence[dict[str, Any]],
    replayed: Sequence[dict[str, Any]],
    *,
    now: datetime,
    outside: Collection[UUID] = (),
) -> Compared:
    """Differences per (order, stage) and field; statuses judged at the same instant. Stages
    of the `outside` orders (events from before the window) are left out."""
    left_out = {str(order_id) for order_id in outside}

    def keyed(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (str(row["order_id"]), row["stage"]): {
                **row,
                "status": sla.status_of(row, now=now).value,
            }
            for row in rows
            if str(row["order_id"]) not in left_out
        }

    live_rows, replay_rows = keyed(live), keyed(replayed)
    outside_stages = {
        (str(row["order_id"]), row["stage"])
        for row in (*live, *replayed)
        if str(row["order_id"]) in left_out
    }
    differences: list[dict[str, Any]] = []
    for key in sorted(live_rows.keys() | replay_rows.keys()):
        order_id, stage = key
        a, b = live_rows.get(key), replay_rows.get(key)
        if a is None or b is None:
            differences.append(
                {
                    "order_id": order_id,
                    "stage": stage,
                    "field": "*",
                    "live": a and "present",
                    "replay": b and "present",
                }
            )
            continue
        for name in COMPARED:
            if a.get(name) != b.get(name):
                differences.append(
                    {
                        "order_id": order_id,
                        "stage": stage,
                        "field": name,
                        "live": a.get(name),
                        "replay": b.get(name),
                    }
                )
    return Compared(
        stages=len(live_rows.keys() & replay_rows.keys()),
        differences=differences,
        outside_orders=len({order_id for order_id, _ in outside_stages}),
        outside_stages=len(outside_stages),
    )


async def run(settings: MonitoringSettings, *, schema: str, live_schema: str) -> Report:
    setup_tracing("monitoring-replay", otlp_endpoint=None)
    report = Report()
    pool = await rebuild_schema(settings, schema, live_schema=live_schema)
    try:
        await replay_topics(settings, pool, report)
        async with pool.acquire() as conn:
            live = await timeline_store.stage_results(conn, schema=live_schema)
            replayed = await timeline_store.stage_results(conn, schema=schema)
            missing = [
                MissingEvents(row["order_id"], row["event_type"], row["latest"])
                for row in await timeline_store.events_missing(
                    conn, schema=live_schema, from_schema=schema
                )
            ]
        compared = compare(
            live,
            replayed,
            now=datetime.now(UTC),
            outside=orders_before_window(missing, report.topics),
        )
        report.stages_compared, report.differences = compared.stages, compared.differences
        report.window = window_of(report.topics)
        report.outside_window = {
            "orders": compared.outside_orders,
            "stages": compared.outside_stages,
        }
    finally:
        await pool.close()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring.replay", description=__doc__)
    parser.add_argument("--schema", default=REPLAY_SCHEMA, help="fresh schema to rebuild into")
    parser.add_argument(
        "--live-schema", default=LIVE_SCHEMA, help="schema of the live service to compare with"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds to reach the end")
    args = parser.parse_args(argv)
    if args.schema == args.live_schema:
        parser.error("the replay never writes into the live schema")
    settings = MonitoringSettings()
    replay = run(settings, schema=args.schema, live_schema=args.live_schema)
    report = asyncio.run(asyncio.wait_for(replay, args.timeout))
    print(report.as_json())
    print(report.summary(), file=sys.stderr)
    return 1 if report.differences else 0


if __name__ == "__main__":
    sys.exit(main())
