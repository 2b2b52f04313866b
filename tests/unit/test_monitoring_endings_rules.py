"""The status of a stage its order's end closed (issue 22, items 3 and 5), pure: the outcome
decides, unless a breach raised while it ran stands; a retracted breach leaves it met; the
clock raises no late alarm at such an end; which events end an order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from monitoring import domain
from monitoring.domain import Outcome
from monitoring.sla.rules import Alarm, StageRow, Status, stage_status
from supplychain_contracts import (
    OrderAccepted,
    OrderBlocked,
    OrderCancelled,
    OrderRejected,
    Stage,
    WorkCancelled,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DEADLINE = T0 + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("ended_after", "outcome", "breach_raised", "expected"),
    [
        (10, None, False, Status.MET),
        (40, None, False, Status.BREACHED),
        (10, None, True, Status.MET),  # a breach its end proved wrong (retracted)
        (10, "rejected", False, Status.REJECTED),
        (40, "cancelled", False, Status.CANCELLED),  # late, but the outcome decides
        (40, "blocked", True, Status.BREACHED),  # a breach raised while it ran stands
        (10, "cancelled", True, Status.CANCELLED),  # ... unless its end proved it wrong
    ],
)
def test_a_closed_stage_s_status(
    ended_after: float, outcome: str | None, breach_raised: bool, expected: Status
) -> None:
    status = stage_status(
        ended_at=T0 + timedelta(seconds=ended_after),
        warn_at=T0 + timedelta(seconds=22),
        deadline=DEADLINE,
        now=T0 + timedelta(hours=1),
        outcome=outcome,
        breach_raised=breach_raised,
    )
    assert status is expected


def stage(*, ended_after: float, outcome: Outcome | None, breach_raised: bool) -> StageRow:
    order_id = uuid.uuid4()
    return StageRow(
        order_id=order_id,
        stage=Stage.ACCEPTANCE,
        root_order_id=order_id,
        supplier="WHEELS",
        requester="ASSEMBLY",
        employee_id=None,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=ended_after),
        duration_s=None,
        trace_id=None,
        start_event_id=None,
        traceparent=None,
        policy_id=1,
        target_s=30.0,
        warn_at=T0 + timedelta(seconds=22),
        deadline=DEADLINE,
        warning_raised_at=None,
        breach_raised_at=DEADLINE + timedelta(seconds=2) if breach_raised else None,
        outcome=outcome,
    )


def test_no_late_alarm_at_an_order_s_end_and_a_retraction_only_for_an_end_in_time() -> None:
    assert stage(ended_after=40, outcome=None, breach_raised=False).late_alarms() == (
        Alarm.WARNING,
        Alarm.BREACH,
    )
    assert stage(ended_after=40, outcome=Outcome.CANCELLED, breach_raised=False).late_alarms() == ()
    assert stage(ended_after=10, outcome=None, breach_raised=True).breach_proved_wrong
    assert stage(ended_after=10, outcome=Outcome.REJECTED, breach_raised=True).breach_proved_wrong
    assert not stage(ended_after=40, outcome=None, breach_raised=True).breach_proved_wrong
    assert not stage(ended_after=10, outcome=None, breach_raised=False).breach_proved_wrong


def test_which_events_end_an_order() -> None:
    assert domain.outcome_of(OrderRejected) is Outcome.REJECTED
    assert domain.outcome_of(WorkCancelled) is Outcome.CANCELLED
    assert domain.outcome_of(OrderBlocked) is Outcome.BLOCKED
    assert domain.outcome_of(OrderCancelled) is None  # only the request
    assert domain.outcome_of(OrderAccepted) is None
    assert domain.may_meet_order_end(OrderBlocked, ())
    assert not domain.may_meet_order_end(OrderCancelled, ())
