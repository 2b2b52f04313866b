"""SLA clocks that fire by themselves: a scheduler job raises SlaWarning / SlaBreached through
the outbox when a running stage passes its warning time or deadline.

Clocks are rows (stored when a stage starts), so they survive restarts; every replica scans,
and SELECT ... FOR UPDATE SKIP LOCKED gives each due row to exactly one of them. The alarm is
marked raised in the transaction that writes the event to the outbox: raised once, or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from opentelemetry.trace import SpanKind
from supplychain_contracts import SlaBreached, SlaWarning, Stage
from supplychain_contracts.events import SlaClockEvent
from supplychain_kit import metrics, outbox
from supplychain_kit.runtime import ServiceRuntime
from supplychain_kit.telemetry import ATTR_STAGE, continue_trace, set_order_attributes

from monitoring import sla, store
from monitoring.config import MonitoringSettings

log = logging.getLogger(__name__)

PRODUCER = "monitoring"
# Alarm event ids derive from (order, stage, alarm): even a second writer could not make a
# second event, the outbox and every inbox would see the same id.
ALARM_NAMESPACE = uuid.UUID("6f1c9a52-5d0b-4b8e-9a57-3c1e2f0d8b11")
EVENT_OF_ALARM: dict[sla.Alarm, type[SlaClockEvent]] = {
    sla.Alarm.WARNING: SlaWarning,
    sla.Alarm.BREACH: SlaBreached,
}
METRIC_OF_ALARM = {sla.Alarm.WARNING: metrics.SLA_WARNINGS, sla.Alarm.BREACH: metrics.SLA_BREACHES}
SCAN_BATCH = 200


def alarm_event(stage_row: Mapping[str, Any], alarm: sla.Alarm, *, now: datetime) -> SlaClockEvent:
    order_id = stage_row["order_id"]
    model = EVENT_OF_ALARM[alarm]
    return model.model_validate(
        dict(
            event_id=uuid.uuid5(ALARM_NAMESPACE, f"{order_id}:{stage_row['stage']}:{alarm.value}"),
            occurred_at=now,
            order_id=order_id,
            root_order_id=stage_row["root_order_id"],
            causation_id=stage_row["start_event_id"],
            producer=PRODUCER,
            supplier=stage_row["supplier"],
            requester=stage_row["requester"],
            employee_id=stage_row["employee_id"],
            stage=Stage(stage_row["stage"]),
            started_at=stage_row["started_at"],
            deadline=stage_row["deadline"],
            target_seconds=stage_row["target_s"],
        )
    )


async def raise_alarms(
    conn: asyncpg.Connection,
    stage_row: Mapping[str, Any],
    alarms: Sequence[sla.Alarm],
    *,
    now: datetime,
    emit: bool,
) -> None:
    """Mark the alarms raised and, when emitting, write their events to the outbox (same
    transaction). A replay marks them without emitting: they were emitted the first time."""
    if not alarms:
        return
    await store.mark_raised(
        conn, order_id=stage_row["order_id"], stage=stage_row["stage"], alarms=alarms, at=now
    )
    if emit:
        events = [alarm_event(stage_row, alarm, now=now) for alarm in alarms]
        await outbox.append(conn, events)


def count_alarms(stage_row: Mapping[str, Any], alarms: Sequence[sla.Alarm]) -> None:
    for alarm in alarms:
        METRIC_OF_ALARM[alarm].labels(
            stage=stage_row["stage"], supplier=stage_row["supplier"]
        ).inc()


async def fire_due_clocks(
    pool: asyncpg.Pool, *, now: datetime, grace: timedelta, limit: int = SCAN_BATCH
) -> int:
    """Raise every alarm due at `now`; returns how many were raised.

    `grace` lets an end event that happened in time but is still on its way through the
    broker close the stage before its deadline is declared missed.
    """
    cutoff = now - grace
    raised: list[tuple[asyncpg.Record, tuple[sla.Alarm, ...]]] = []
    async with pool.acquire() as conn, conn.transaction():
        for row in await store.claim_due_clocks(conn, now=cutoff, limit=limit):
            alarms = sla.due_alarms(
                warn_at=row["warn_at"],
                deadline=row["deadline"],
                warning_raised=row["warning_raised_at"] is not None,
                breach_raised=row["breach_raised_at"] is not None,
                now=cutoff,
            )
            headers = {"traceparent": row["traceparent"]} if row["traceparent"] else {}
            with continue_trace(
                f"sla clock {row['stage']}", headers, kind=SpanKind.INTERNAL
            ) as span:
                span.set_attribute(ATTR_STAGE, row["stage"])
                event = alarm_event(row, alarms[0], now=now) if alarms else None
                if event is not None:
                    set_order_attributes(span, event)
                await raise_alarms(conn, row, alarms, now=now, emit=True)
            raised.append((row, alarms))
    for row, alarms in raised:  # counted once committed
        count_alarms(row, alarms)
    return sum(len(alarms) for _, alarms in raised)


async def run_sla_clocks(runtime: ServiceRuntime[MonitoringSettings]) -> None:
    """Background job: scan for due clocks every MONITORING_SLA_SCAN_INTERVAL_MS."""
    settings = runtime.settings
    interval = settings.sla_scan_interval_ms / 1000
    grace = timedelta(milliseconds=settings.sla_grace_ms)
    while True:
        try:
            raised = SCAN_BATCH
            while raised >= SCAN_BATCH:  # drain a backlog before sleeping
                raised = await fire_due_clocks(runtime.pool, now=datetime.now(UTC), grace=grace)
        except Exception as exc:  # the scheduler must outlive any failure, like the relay
            log.warning("SLA clock scan failed, retrying: %r", exc)
        await asyncio.sleep(interval)
