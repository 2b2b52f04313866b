"""SLA clocks that fire by themselves: a scheduler job raises SlaWarning / SlaBreached through
the outbox when a running stage passed its warning time or deadline and monitoring knows it
had not ended by then (`sla.watermarks`: its consumer has read the topics that could end the
stage that far, or the maximum lateness has passed).

Clocks are rows (stored when a stage starts), so they survive restarts; every replica scans,
and SELECT ... FOR UPDATE SKIP LOCKED gives each due row to exactly one of them. The alarm is
marked raised in the transaction that writes the event to the outbox: raised once, or not at all.
The scan sleeps until an alarm may be due: it knows the earliest alarm not raised yet
(`next_alarm_at`, read after each scan and whenever this replica's consumer committed events
that may have set, moved or ended clocks), and no alarm is due before its time plus the relay
grace. Past that, it scans whenever the watermarks move (the sampler wakes it) and when the
maximum lateness makes the alarm due. It also scans at least every
MONITORING_SLA_SCAN_INTERVAL_MS (the clocks another replica's consumer set; the gauges).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from opentelemetry.trace import SpanKind
from supplychain_kit.messaging import effects
from supplychain_kit.runtime import BackgroundJob, ServiceRuntime
from supplychain_kit.telemetry import ATTR_STAGE, continue_trace, set_order_attributes

from monitoring import metrics
from monitoring.config import MonitoringSettings
from monitoring.sla import alarms, watermark_store
from monitoring.sla import store as clock_store
from monitoring.sla.rules import Alarm, StageRow
from monitoring.sla.watermarks import VerdictRule
from monitoring.timeline.sinks import AlarmSink, Emitting

log = logging.getLogger(__name__)

SCAN_BATCH = 200
# the earliest alarm is read again at most this often when the consumer moves clocks (under
# load it commits many times a second)
REREAD_GAP_S = 0.25


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


class Stopwatch:
    """Seconds since it started (never started: infinitely many)."""

    def __init__(self, started_at: float = -math.inf) -> None:
        self._started_at = started_at

    @classmethod
    def started(cls) -> Stopwatch:
        return cls(time.monotonic())

    def seconds(self) -> float:
        return time.monotonic() - self._started_at


class ClockWakes:
    """What wakes the clock scan: the watermarks moved (the sampler), or events this replica
    committed may have set, moved or ended clocks (the consumer's sink, after the commit)."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._watermarks_moved = False
        self._clocks_moved = False

    def watermarks_moved(self) -> None:
        self._watermarks_moved = True
        self._wake.set()

    def clocks_moved(self) -> None:
        self._clocks_moved = True
        self._wake.set()

    def take(self) -> tuple[bool, bool]:
        """Clear the wake; whether the watermarks moved, and whether clocks moved, since the
        last take."""
        taken = self._watermarks_moved, self._clocks_moved
        self._watermarks_moved = self._clocks_moved = False
        self._wake.clear()
        return taken

    async def wait(self, seconds: float) -> None:
        """Until woken, or `seconds` have passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)


def next_wake_s(next_alarm: datetime | None, *, now: datetime, rule: VerdictRule) -> float | None:
    """Seconds until the earliest alarm's next point in time (may first be due; due whatever
    is known) still ahead of `now`; None when there is none (the watermarks or the safety
    interval wake the scan then)."""
    if next_alarm is None:
        return None
    ahead = [(at - now).total_seconds() for at in rule.wake_times(next_alarm) if at > now]
    return min(ahead, default=None)


def scan_now(
    next_alarm: datetime | None,
    *,
    now: datetime,
    last_scan: datetime | None,
    watermarks_moved: bool,
    rule: VerdictRule,
) -> bool:
    """Whether a scan may raise the earliest alarm now: once its time plus the grace has come
    (a first scan then), whenever the watermarks move after it, and once its maximum
    lateness has passed. Before, nothing can be due (the safety interval aside)."""
    if next_alarm is None:
        return False
    may_be_due, due_anyway = rule.wake_times(next_alarm)
    if now < may_be_due:
        return False
    if last_scan is None or last_scan < may_be_due or watermarks_moved:
        return True
    return last_scan < due_anyway <= now


def sla_clock_job(wakes: ClockWakes) -> BackgroundJob[MonitoringSettings]:
    """The scheduler job, woken by `wakes`."""

    async def run_sla_clocks(runtime: ServiceRuntime[MonitoringSettings]) -> None:
        """Scan for due clocks when one may be due, and at least every
        MONITORING_SLA_SCAN_INTERVAL_MS."""
        settings = runtime.settings
        interval = settings.sla_scan_interval_ms / 1000
        rule = settings.verdict_rule()
        sink = Emitting()
        next_alarm: datetime | None = None
        last_scan: datetime | None = None
        since_scan = since_read = Stopwatch()
        clocks_moved = False
        while True:
            watermarks_moved, moved = wakes.take()
            clocks_moved |= moved
            now = datetime.now(UTC)
            try:
                if since_scan.seconds() >= interval or scan_now(
                    next_alarm,
                    now=now,
                    last_scan=last_scan,
                    watermarks_moved=watermarks_moved,
                    rule=rule,
                ):
                    since_scan = since_read = Stopwatch.started()
                    last_scan = now
                    raised = SCAN_BATCH
                    while raised >= SCAN_BATCH:  # drain a backlog before sleeping
                        raised = await fire_due_clocks(runtime.pool, sink, now=now, rule=rule)
                    await count_held_verdicts(runtime.pool, now=now, rule=rule)
                    clocks_moved = False
                    next_alarm = await _next_alarm(runtime)
                elif clocks_moved and since_read.seconds() >= REREAD_GAP_S:
                    since_read, clocks_moved = Stopwatch.started(), False
                    next_alarm = await _next_alarm(runtime)
            except Exception as exc:  # the scheduler must outlive any failure, like the relay
                log.warning("SLA clock scan failed, retrying: %r", exc)
            waits = [interval - since_scan.seconds()]
            if (alarm_in := next_wake_s(next_alarm, now=datetime.now(UTC), rule=rule)) is not None:
                waits.append(alarm_in)
            if clocks_moved:  # read again once the gap has passed
                waits.append(REREAD_GAP_S - since_read.seconds())
            await wakes.wait(max(0.0, min(waits)))

    return run_sla_clocks


async def _next_alarm(runtime: ServiceRuntime[MonitoringSettings]) -> datetime | None:
    async with runtime.pool.acquire() as conn:
        return await clock_store.next_alarm_at(conn)
