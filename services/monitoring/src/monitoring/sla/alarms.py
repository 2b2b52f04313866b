"""SLA events of a stage's alarms (pure): which event an alarm is, and its deterministic id.

Alarm events are built from the stage row, not from another event: the clock fires on its
own, long after the start event was consumed. The start event is still their cause
(`causation_id`) so a timeline links them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from supplychain_contracts import SlaBreached, SlaBreachRetracted, SlaWarning, Stage
from supplychain_contracts.events import SlaClockEvent, SlaClockPause, SlaPaused, SlaResumed

from monitoring.sla import rules
from monitoring.sla.pauses import Pause
from monitoring.sla.rules import Alarm, StageRow

PRODUCER = "monitoring"
# Alarm event ids derive from (order, stage, alarm): even a second writer could not make a
# second event, the outbox and every inbox would see the same id.
ALARM_NAMESPACE = uuid.UUID("6f1c9a52-5d0b-4b8e-9a57-3c1e2f0d8b11")
# SlaPaused / SlaResumed ids derive from (order, stage, the event that began the pause).
PAUSE_NAMESPACE = uuid.UUID("0b8f3f6e-2a61-4f0c-8d0e-5b7e9c1a4d27")
EVENT_OF_ALARM: dict[Alarm, type[SlaClockEvent]] = {
    Alarm.WARNING: SlaWarning,
    Alarm.BREACH: SlaBreached,
}
ALARM_OF_EVENT: dict[type[SlaClockEvent], Alarm] = {
    model: alarm for alarm, model in EVENT_OF_ALARM.items()
}


def alarm_event_id(order_id: uuid.UUID, stage: Stage, alarm: Alarm) -> uuid.UUID:
    return uuid.uuid5(ALARM_NAMESPACE, f"{order_id}:{stage.value}:{alarm.value}")


def retraction_event_id(order_id: uuid.UUID, stage: Stage) -> uuid.UUID:
    """A stage's breach is retracted once: the id derives from (order, stage) like its breach's."""
    return uuid.uuid5(ALARM_NAMESPACE, f"{order_id}:{stage.value}:breach-retracted")


def _of_stage(stage: StageRow) -> dict[str, Any]:
    """What every SLA event of a stage carries: the order, its parties, the stage and the
    policy that times it."""
    return dict(
        order_id=stage.order_id,
        root_order_id=stage.root_order_id,
        producer=PRODUCER,
        supplier=stage.supplier,
        requester=stage.requester,
        employee_id=stage.employee_id,
        stage=stage.stage,
        policy_id=stage.policy_key,
        policy_version=stage.policy_version,
    )


def alarm_event(stage: StageRow, alarm: Alarm, *, now: datetime) -> SlaClockEvent:
    """The event saying the stage's alarm was raised at `now` (the stage must have a clock)."""
    return EVENT_OF_ALARM[alarm].model_validate(
        dict(
            _of_stage(stage),
            event_id=alarm_event_id(stage.order_id, stage.stage, alarm),
            occurred_at=now,
            causation_id=stage.start_event_id,
            started_at=stage.started_at,
            deadline=stage.deadline,
            target_seconds=stage.target_s,
            # (SlaBreached only) the credit the stage's policy grants: invoicing applies it
            # instead of resolving policies itself
            service_credit_pct=stage.service_credit_pct,
        )
    )


def retraction_event(stage: StageRow, *, now: datetime) -> SlaBreachRetracted:
    """The event saying the stage's breach was wrong: it ended by its deadline (the stage must
    have ended, with a clock). Caused by the event that ended it, which it names."""
    return SlaBreachRetracted.model_validate(
        dict(
            _of_stage(stage),
            event_id=retraction_event_id(stage.order_id, stage.stage),
            occurred_at=now,
            causation_id=stage.end_event_id,
            started_at=stage.started_at,
            deadline=stage.deadline,
            target_seconds=stage.target_s,
            breach_event_id=alarm_event_id(stage.order_id, stage.stage, Alarm.BREACH),
            ended_at=stage.ended_at,
            ending_event_id=stage.end_event_id,
            ending_event_type=stage.end_event_type,
        )
    )


def alarm_events(stage: StageRow, alarms: Sequence[Alarm], *, now: datetime) -> list[SlaClockEvent]:
    return [alarm_event(stage, alarm, now=now) for alarm in alarms]


def pause_event_id(order_id: uuid.UUID, stage: Stage, pause: Pause, kind: str) -> uuid.UUID:
    return uuid.uuid5(PAUSE_NAMESPACE, f"{order_id}:{stage.value}:{pause.paused_by}:{kind}")


def pause_events(stage: StageRow, pauses: Sequence[Pause]) -> list[SlaClockPause]:
    """SlaPaused for each pause of the stage (cut to it: `pauses.stage_pauses`), SlaResumed for
    each that ended, with the business seconds it took off and the stage's deadline now (None
    while another pause still stops the clock). Timed when the clock stopped and ran again."""
    events: list[SlaClockPause] = []
    for pause in pauses:
        common = dict(_of_stage(stage), reason=pause.reason, paused_at=pause.paused_at)
        events.append(
            SlaPaused.model_validate(
                dict(
                    common,
                    event_id=pause_event_id(stage.order_id, stage.stage, pause, "paused"),
                    occurred_at=pause.paused_at,
                    causation_id=pause.paused_by,
                )
            )
        )
        if pause.resumed_at is None:
            continue
        paused_seconds = (
            rules.business_seconds(pause.paused_at, pause.resumed_at, stage.calendar)
            if stage.calendar is not None
            else 0.0
        )
        events.append(
            SlaResumed.model_validate(
                dict(
                    common,
                    event_id=pause_event_id(stage.order_id, stage.stage, pause, "resumed"),
                    occurred_at=pause.resumed_at,
                    causation_id=pause.resumed_by or pause.paused_by,
                    resumed_at=pause.resumed_at,
                    paused_seconds=paused_seconds,
                    deadline=stage.deadline,
                )
            )
        )
    return events
