"""SLA clocks that fire by themselves: a scheduler job raises SlaWarning / SlaBreached through
the outbox when a running stage passed its warning time or deadline and monitoring knows it
had not ended by then (`sla.watermarks`: its consumer has read the topics that could end the
stage that far, or the maximum lateness has passed).

Clocks are rows (stored when a stage starts), so they survive restarts; every replica scans,
and SELECT ... FOR UPDATE SKIP LOCKED gives each due row to exactly one of them. The alarm is
marked raised in the transaction that writes the event to the outbox: raised once, or not at all.
The scan runs when the watermarks moved (the sampler wakes it), and at least every
MONITORING_SLA_SCAN_INTERVAL_MS for the verdicts the maximum lateness makes due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from opentelemetry.trace import SpanKind
from supplychain_kit import effects, metrics
from supplychain_kit.runtime import BackgroundJob, ServiceRuntime
from supplychain_kit.telemetry import ATTR_STAGE, continue_trace, set_order_attributes

from monitoring.config import MonitoringSettings
from monitoring.sla import alarms, watermark_store
from monitoring.sla import store as clock_store
from monitoring.sla.rules import Alarm, StageRow
from monitoring.sla.watermarks import VerdictRule
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
    rule: VerdictRule,
    limit: int = SCAN_BATCH,
) -> int:
    """Raise every alarm due at `now` by `rule` and the watermarks; returns how many were raised.

    An alarm waits until monitoring knows, `rule.relay_grace` past its time, every record of
    the topics that could end its stage: an end event that happened in time but is still on
    its way (in a producer's outbox, on the broker, in monitoring's backlog) closes the stage
    before its deadline is declared missed.
    """
    raised = 0
    with effects.unit_of_work() as committed:
        async with pool.acquire() as conn, conn.transaction():
            cutoffs = rule.cutoffs(await watermark_store.known_until_by_stage(conn), now=now)
            for stage in await clock_store.claim_due_clocks(conn, cutoffs=cutoffs, limit=limit):
                due = stage.alarms_due(cutoffs[stage.stage])
                await _fire(conn, sink, stage, due, now=now)
                raised += len(due)
        effects.run(committed)  # metrics count once the alarms are committed
    return raised


async def count_held_verdicts(pool: asyncpg.Pool, *, now: datetime, rule: VerdictRule) -> None:
    """Publish how many alarms are held back by monitoring's lag, and how far behind it knows
    the topics that end stages (the gauges an operator and the alerts read)."""
    async with pool.acquire() as conn:
        held = await watermark_store.held_verdicts(conn, rule=rule, now=now)
    metrics.SLA_VERDICTS_HELD.set(held.count)
    metrics.SLA_VERDICT_LAG_SECONDS.set(held.behind_s if held.behind_s is not None else math.nan)


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


def sla_clock_job(advanced: asyncio.Event) -> BackgroundJob[MonitoringSettings]:
    """The scheduler job, woken by `advanced` (set when the watermarks moved)."""

    async def run_sla_clocks(runtime: ServiceRuntime[MonitoringSettings]) -> None:
        """Scan for due clocks when the watermarks move, and at least every
        MONITORING_SLA_SCAN_INTERVAL_MS."""
        settings = runtime.settings
        interval = settings.sla_scan_interval_ms / 1000
        rule = settings.verdict_rule()
        sink = Emitting()
        while True:
            advanced.clear()
            try:
                now = datetime.now(UTC)
                raised = SCAN_BATCH
                while raised >= SCAN_BATCH:  # drain a backlog before sleeping
                    raised = await fire_due_clocks(runtime.pool, sink, now=now, rule=rule)
                await count_held_verdicts(runtime.pool, now=now, rule=rule)
            except Exception as exc:  # the scheduler must outlive any failure, like the relay
                log.warning("SLA clock scan failed, retrying: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(advanced.wait(), timeout=interval)

    return run_sla_clocks
