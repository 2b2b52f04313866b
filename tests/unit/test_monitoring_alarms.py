"""Alarm events of monitoring (monitoring.alarms) and the stored stage's predicates
(monitoring.sla.StageRow), pure: built from plain values."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from monitoring.sla.alarms import (
    ALARM_NAMESPACE,
    ALARM_OF_EVENT,
    EVENT_OF_ALARM,
    PRODUCER,
    alarm_event,
    alarm_events,
)
from monitoring.sla.rules import Alarm, StageRow
from supplychain_contracts import SlaBreached, SlaWarning, Stage

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WARN, DEADLINE = T0 + timedelta(seconds=30), T0 + timedelta(seconds=40)
ORDER = uuid.UUID("00000000-0000-4000-8000-000000000001")
ROOT = uuid.UUID("00000000-0000-4000-8000-000000000002")
START_EVENT = uuid.UUID("00000000-0000-4000-8000-000000000003")


def stage(**changes: object) -> StageRow:
    """A running acceptance stage timed by policy 1: warning at +30 s, deadline at +40 s."""
    row = StageRow(
        order_id=ORDER,
        stage=Stage.ACCEPTANCE,
        root_order_id=ROOT,
        supplier="WHEELS",
        requester="ASSEMBLY",
        employee_id="E-7",
        started_at=T0,
        ended_at=None,
        duration_s=None,
        trace_id="t" * 32,
        start_event_id=START_EVENT,
        traceparent=None,
        policy_id=1,
        target_s=40.0,
        warn_at=WARN,
        deadline=DEADLINE,
        warning_raised_at=None,
        breach_raised_at=None,
        policy_key="WHEELS",
        policy_version=1,
        service_credit_pct=Decimal("7.5"),
    )
    return dataclasses.replace(row, **changes)


# --- alarm events --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alarm", "model"), [(Alarm.WARNING, SlaWarning), (Alarm.BREACH, SlaBreached)]
)
def test_an_alarm_event_carries_the_stage_its_clock_and_its_cause(
    alarm: Alarm, model: type[SlaWarning | SlaBreached]
) -> None:
    now = DEADLINE + timedelta(seconds=1)
    event = alarm_event(stage(), alarm, now=now)
    assert type(event) is model
    assert (event.order_id, event.root_order_id) == (ORDER, ROOT)
    assert (event.supplier, event.requester, event.employee_id) == ("WHEELS", "ASSEMBLY", "E-7")
    assert (event.stage, event.started_at, event.deadline) == (Stage.ACCEPTANCE, T0, DEADLINE)
    assert event.target_seconds == 40.0
    assert event.causation_id == START_EVENT  # the event that started the stage
    assert (event.producer, event.occurred_at) == (PRODUCER, now)


def test_alarm_event_ids_derive_from_order_stage_and_alarm_only() -> None:
    first = alarm_event(stage(), Alarm.BREACH, now=DEADLINE)
    again = alarm_event(stage(trace_id="other"), Alarm.BREACH, now=DEADLINE + timedelta(hours=1))
    assert first.event_id == again.event_id  # a second writer makes the same event
    assert first.event_id == uuid.uuid5(ALARM_NAMESPACE, f"{ORDER}:acceptance:breach")
    ids = {
        alarm_event(stage(), Alarm.WARNING, now=DEADLINE).event_id,
        alarm_event(stage(stage=Stage.END_TO_END), Alarm.BREACH, now=DEADLINE).event_id,
        alarm_event(stage(order_id=uuid.uuid4()), Alarm.BREACH, now=DEADLINE).event_id,
        first.event_id,
    }
    assert len(ids) == 4


def test_alarm_events_keep_the_order_of_the_alarms() -> None:
    events = alarm_events(stage(), (Alarm.WARNING, Alarm.BREACH), now=DEADLINE)
    assert [type(event) for event in events] == [SlaWarning, SlaBreached]
    assert alarm_events(stage(), (), now=DEADLINE) == []


def test_every_alarm_has_one_event_class_and_back() -> None:
    assert set(EVENT_OF_ALARM) == set(Alarm)
    assert {ALARM_OF_EVENT[model]: model for model in ALARM_OF_EVENT} == EVENT_OF_ALARM


# --- stage predicates ----------------------------------------------------------------------


def test_a_started_stage_without_a_policy_needs_a_clock() -> None:
    assert stage(policy_id=None, target_s=None, warn_at=None, deadline=None).needs_clock
    assert not stage().needs_clock  # already timed
    assert not stage(started_at=None, policy_id=None, deadline=None).needs_clock  # end seen first


def test_a_stage_closes_once_both_ends_are_seen_and_only_once() -> None:
    assert not stage().can_close  # running
    assert not stage(started_at=None, ended_at=WARN).can_close  # end before its start
    assert stage(ended_at=WARN).can_close
    assert not stage(ended_at=WARN, duration_s=30.0).can_close  # duration recorded


def test_elapsed_seconds_of_an_ended_stage() -> None:
    assert stage(ended_at=WARN).elapsed_seconds() == 30.0
    assert stage(ended_at=T0 - timedelta(seconds=5)).elapsed_seconds() == 0.0  # reordered
    with pytest.raises(ValueError, match="has not ended"):
        stage().elapsed_seconds()


def test_alarms_due_skip_those_already_raised() -> None:
    late = DEADLINE + timedelta(seconds=1)
    assert stage().alarms_due(T0) == ()
    assert stage().alarms_due(WARN) == (Alarm.WARNING,)
    assert stage().alarms_due(late) == (Alarm.WARNING, Alarm.BREACH)
    assert stage(warning_raised_at=WARN).alarms_due(late) == (Alarm.BREACH,)
    assert stage(warning_raised_at=WARN, breach_raised_at=DEADLINE).alarms_due(late) == ()


def test_late_alarms_are_judged_at_the_stage_end() -> None:
    assert stage(ended_at=WARN - timedelta(seconds=1)).late_alarms() == ()
    assert stage(ended_at=DEADLINE + timedelta(seconds=1)).late_alarms() == (
        Alarm.WARNING,
        Alarm.BREACH,
    )
    assert stage(ended_at=DEADLINE, warning_raised_at=WARN).late_alarms() == (Alarm.BREACH,)
    assert stage().late_alarms() == ()  # still running: the clock judges it, not its end
    untimed = stage(policy_id=None, target_s=None, warn_at=None, deadline=None)
    assert dataclasses.replace(untimed, ended_at=DEADLINE).late_alarms() == ()


def test_a_breach_carries_its_policy_and_credit_a_warning_its_policy() -> None:
    breach = alarm_event(stage(), Alarm.BREACH, now=DEADLINE)
    assert isinstance(breach, SlaBreached)
    assert (breach.policy_id, breach.policy_version) == ("WHEELS", 1)
    assert breach.service_credit_pct == Decimal("7.5")
    warning = alarm_event(stage(), Alarm.WARNING, now=WARN)
    assert (warning.policy_id, warning.policy_version) == ("WHEELS", 1)
    assert "service_credit_pct" not in warning.model_dump()
