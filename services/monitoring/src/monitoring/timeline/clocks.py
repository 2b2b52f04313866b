"""SLA clocks that fire by themselves: a scheduler job raises SlaWarning / SlaBreached through
the outbox when a running stage passes its warning time or deadline.

Clocks are rows (stored when a stage starts), so they survive restarts; every replica scans,
and SELECT ... FOR UPDATE SKIP LOCKED gives each due row to exactly one of them. The alarm is
marked raised in the transaction that writes the event to the outbox: raised once, or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from opentelemetry.trace import SpanKind
from supplychain_kit import effects
from supplychain_kit.runtime import ServiceRuntime
from supplychain_kit.telemetry import ATTR_STAGE, continue_trace, set_order_attributes

from monitoring.config import MonitoringSettings
from monitoring.sla import alarms
from monitoring.sla import store as clock_store
from monitoring.sla.rules import Alarm, StageRow
from monitoring.timeline.sinks import AlarmSink, Emitting

log = logging.getLogger(__name__)

SCAN_BATCH = 200


async def raise_alarms(
    conn: asyncpg.Connection,
    sink: AlarmSink,
    stage: StageRow,
    raised: Sequence[Alarm],
    *,
    now: datetime,
) -> None:
    """Mark the alarms raised and hand their events to the sink, in the caller's transaction."""
    if not raised:
        return
    await clock_store.mark_raised(
        conn, order_id=stage.order_id, stage=stage.stage, alarms=raised, at=now
    )
    await sink.alarms_raised(conn, alarms.alarm_events(stage, raised, now=now))


async def fire_due_clocks(
    pool: asyncpg.Pool,
    sink: AlarmSink,
    *,
    now: datetime,
    grace: timedelta,
    limit: int = SCAN_BATCH,
) -> int:
    """Raise every alarm due at `now`; returns how many were raised.

    `grace` lets an end event that happened in time but is still on its way through the
    broker close the stage before its deadline is declared missed.
    """
    cutoff = now - grace
    raised = 0
    with effects.unit_of_work() as committed:
        async with pool.acquire() as conn, conn.transaction():
            for stage in await clock_store.claim_due_clocks(conn, now=cutoff, limit=limit):
                due = stage.alarms_due(cutoff)
                await _fire(conn, sink, stage, due, now=now)
                raised += len(due)
        effects.run(committed)  # metrics count once the alarms are committed
    return raised


async def _fire(
    conn: asyncpg.Connection,
    sink: AlarmSink,
    stage: StageRow,
    due: Sequence[Alarm],
    *,
    now: datetime,
) -> None:
    """Raise the stage's due alarms in the trace of the event that started it."""
    headers = {"traceparent": stage.traceparent} if stage.traceparent else {}
    with continue_trace(f"sla clock {stage.stage.value}", headers, kind=SpanKind.INTERNAL) as span:
        span.set_attribute(ATTR_STAGE, stage.stage.value)
        if due:
            set_order_attributes(span, alarms.alarm_event(stage, due[0], now=now))
        await raise_alarms(conn, sink, stage, due, now=now)


async def run_sla_clocks(runtime: ServiceRuntime[MonitoringSettings]) -> None:
    """Background job: scan for due clocks every MONITORING_SLA_SCAN_INTERVAL_MS."""
    settings = runtime.settings
    interval = settings.sla_scan_interval_ms / 1000
    grace = timedelta(milliseconds=settings.sla_grace_ms)
    sink = Emitting()
    while True:
        try:
            raised = SCAN_BATCH
            while raised >= SCAN_BATCH:  # drain a backlog before sleeping
                raised = await fire_due_clocks(
                    runtime.pool, sink, now=datetime.now(UTC), grace=grace
                )
        except Exception as exc:  # the scheduler must outlive any failure, like the relay
            log.warning("SLA clock scan failed, retrying: %r", exc)
        await asyncio.sleep(interval)
