"""Paused SLA clocks (monitoring.pauses, pure): an order's waits from its events in any order,
which stages a reason stops under a policy, a stage's pauses cut to it, and where a clock's
warning and deadline fall in a business calendar with a weekend once the pauses are out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from monitoring.domain import Edge
from monitoring.sla.alarms import pause_events
from monitoring.sla.pauses import (
    Pause,
    PauseEdge,
    edge_of,
    pause_intervals,
    paused_clock,
    paused_deadline,
    paused_seconds,
    reasons_pausing,
    stage_pauses,
)
from monitoring.sla.rules import StageRow, business_deadline, business_seconds
from supplychain_contracts import (
    ComponentsReceived,
    HelpAnswered,
    HelpAwaitingRequester,
    OrderAccepted,
    SlaPaused,
    SlaResumed,
    Stage,
)
from supplychain_contracts.company import BusinessCalendar, SlaPolicy
from supplychain_contracts.events import PauseReason

BERLIN = ZoneInfo("Europe/Berlin")
# Monday to Friday, 07:00-18:00 Berlin: 2026-11-06 is a Friday, 2026-11-09 a Monday
OFFICE = BusinessCalendar(
    time_zone="Europe/Berlin", working_days=(0, 1, 2, 3, 4), start_hour=7, end_hour=18
)
HOUR = 3600.0
AWAITING, BLOCKED = PauseReason.AWAITING_REQUESTER, PauseReason.BLOCKED_ON_SUB_ORDERS


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN).astimezone(UTC)  # type: ignore[misc]


def pause(start: datetime, end: datetime | None, reason: PauseReason = AWAITING) -> Pause:
    return Pause(reason, start, end, uuid.uuid4())


def edge(reason: PauseReason, key: str, kind: Edge, at: datetime) -> PauseEdge:
    return PauseEdge(uuid.uuid4(), reason, key, kind, at)


# --- events and policies ---------------------------------------------------------------------


def test_the_events_that_start_and_end_a_wait() -> None:
    help_id, order_id = uuid.uuid4(), uuid.uuid4()
    parties = {
        "order_id": order_id,
        "root_order_id": order_id,
        "producer": "fulfilment",
        "supplier": "FRAMES",
        "requester": "ASSEMBLY",
    }
    asked = HelpAwaitingRequester(**parties, help_event_id=help_id, question="which colour?")
    answered = HelpAnswered(**parties, help_event_id=help_id, answer="red")
    received = ComponentsReceived(**parties, sub_order_ids=(uuid.uuid4(),))
    assert edge_of(asked) == PauseEdge(
        asked.event_id, AWAITING, str(help_id), Edge.START, asked.occurred_at
    )
    answered_edge = edge_of(answered)
    assert answered_edge is not None and answered_edge.edge is Edge.END
    assert answered_edge.key == str(help_id)
    received_edge = edge_of(received)
    assert received_edge is not None
    assert (received_edge.reason, received_edge.edge) == (BLOCKED, Edge.END)
    assert edge_of(OrderAccepted(**parties)) is None


def test_the_policy_says_which_stages_a_reason_stops() -> None:
    base = {"supplier": "FRAMES", "targets_seconds": {"acceptance": 30, "fulfilment": 60}}
    neither = SlaPolicy.model_validate(base)
    both = SlaPolicy.model_validate(
        {**base, "pause_when_awaiting_requester": True, "pause_when_blocked": True}
    )
    assert all(reasons_pausing(neither, stage) == () for stage in Stage)
    assert reasons_pausing(both, Stage.ACCEPTANCE) == (AWAITING,)
    assert reasons_pausing(both, Stage.FULFILMENT) == (AWAITING, BLOCKED)
    for stage in (Stage.DELIVERY, Stage.INVOICING, Stage.END_TO_END):
        assert reasons_pausing(both, stage) == ()


# --- intervals --------------------------------------------------------------------------------


def test_waits_pair_starts_with_ends_by_time_whatever_order_they_were_seen_in() -> None:
    t = berlin(2026, 11, 2, 9)
    edges = [
        edge(AWAITING, "h1", Edge.END, t + timedelta(minutes=10)),
        edge(AWAITING, "h1", Edge.START, t),
        edge(AWAITING, "h1", Edge.START, t + timedelta(minutes=20)),  # asked again
        edge(AWAITING, "h2", Edge.END, t),  # an answer to nothing open: no wait
        edge(BLOCKED, "sub-orders", Edge.START, t + timedelta(minutes=5)),
        edge(BLOCKED, "sub-orders", Edge.START, t + timedelta(minutes=6)),  # already open
    ]
    forwards = pause_intervals(edges)
    assert pause_intervals(reversed(edges)) == forwards
    assert [(p.reason, p.paused_at, p.resumed_at) for p in forwards] == [
        (AWAITING, t, t + timedelta(minutes=10)),
        (BLOCKED, t + timedelta(minutes=5), None),
        (AWAITING, t + timedelta(minutes=20), None),
    ]
    assert forwards[0].paused_by == edges[1].event_id


def test_a_stage_sees_only_its_reasons_cut_to_its_own_span() -> None:
    t = berlin(2026, 11, 2, 9)
    waits = [
        pause(t, t + timedelta(hours=2)),  # began before the stage
        pause(t + timedelta(hours=3), None, BLOCKED),  # open when the stage ends
        pause(t + timedelta(hours=6), None),  # after the stage
    ]
    start, end = t + timedelta(hours=1), t + timedelta(hours=5)
    cut = stage_pauses(waits, [AWAITING, BLOCKED], started_at=start, ended_at=end)
    assert [(p.paused_at, p.resumed_at) for p in cut] == [
        (start, t + timedelta(hours=2)),
        (t + timedelta(hours=3), end),  # a stage ending while paused ends its pause
    ]
    assert [p.paused_by for p in cut] == [waits[0].paused_by, waits[1].paused_by]
    running = stage_pauses(waits, [BLOCKED], started_at=start, ended_at=None)
    assert [(p.paused_at, p.resumed_at) for p in running] == [(t + timedelta(hours=3), None)]


# --- deadlines in a business calendar ---------------------------------------------------------


def test_a_pause_moves_the_deadline_by_the_working_time_it_took() -> None:
    start = berlin(2026, 11, 2, 9)  # Monday
    assert paused_deadline(start, 4 * HOUR, OFFICE, []) == berlin(2026, 11, 2, 13)
    wait = pause(berlin(2026, 11, 2, 10), berlin(2026, 11, 2, 11, 30))
    assert paused_deadline(start, 4 * HOUR, OFFICE, [wait]) == berlin(2026, 11, 2, 14, 30)


def test_a_pause_over_a_weekend_takes_off_only_its_working_time() -> None:
    friday_4pm = berlin(2026, 11, 6, 16)
    # 3 working hours: Friday 16-18, Monday 7-8
    assert business_deadline(friday_4pm, 3 * HOUR, OFFICE) == berlin(2026, 11, 9, 8)
    # paused Friday 17:00 → Monday 07:30: one working hour on Friday, half an hour on Monday
    wait = pause(berlin(2026, 11, 6, 17), berlin(2026, 11, 9, 7, 30))
    assert paused_deadline(friday_4pm, 3 * HOUR, OFFICE, [wait]) == berlin(2026, 11, 9, 9, 30)
    assert paused_seconds([wait], OFFICE) == 1.5 * HOUR
    # a pause from Saturday to Sunday takes off nothing
    weekend = pause(berlin(2026, 11, 7, 9), berlin(2026, 11, 8, 20))
    assert paused_deadline(friday_4pm, 3 * HOUR, OFFICE, [weekend]) == berlin(2026, 11, 9, 8)
    assert paused_seconds([weekend], OFFICE) == 0


def test_overlapping_pauses_count_once() -> None:
    start = berlin(2026, 11, 2, 9)
    first = pause(berlin(2026, 11, 2, 10), berlin(2026, 11, 2, 12))
    second = pause(berlin(2026, 11, 2, 11), berlin(2026, 11, 2, 13), BLOCKED)
    assert paused_deadline(start, 2 * HOUR, OFFICE, [first, second]) == berlin(2026, 11, 2, 14)
    assert paused_seconds([first, second], OFFICE) == 3 * HOUR


def test_an_open_pause_stops_the_clock_until_it_resumes() -> None:
    start = berlin(2026, 11, 2, 9)
    waiting = pause(berlin(2026, 11, 2, 10), None)
    assert paused_deadline(start, 4 * HOUR, OFFICE, [waiting]) is None
    # the warning fell before the pause began: it stands
    assert paused_deadline(start, 1 * HOUR, OFFICE, [waiting]) == berlin(2026, 11, 2, 10)
    clock = paused_clock(
        started_at=start, target_s=4 * HOUR, warning_s=HOUR, calendar=OFFICE, pauses=[waiting]
    )
    assert (clock.warn_at, clock.deadline) == (berlin(2026, 11, 2, 10), None)
    assert (clock.paused_s, clock.paused_since) == (0.0, waiting.paused_at)


def test_a_pause_after_the_deadline_changes_nothing() -> None:
    start = berlin(2026, 11, 2, 9)
    late = pause(berlin(2026, 11, 2, 15), None)
    assert paused_deadline(start, 4 * HOUR, OFFICE, [late]) == berlin(2026, 11, 2, 13)


moments = st.integers(min_value=0, max_value=14 * 24 * 60).map(
    lambda minutes: berlin(2026, 11, 2, 0) + timedelta(minutes=minutes)
)
closed_pauses = st.lists(
    st.tuples(moments, st.integers(min_value=0, max_value=3 * 24 * 60)).map(
        lambda p: pause(p[0], p[0] + timedelta(minutes=p[1]))
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    start=moments,
    seconds=st.integers(min_value=1, max_value=40 * 3600),
    pauses=closed_pauses,
    extra=closed_pauses,
)
def test_pauses_never_bring_a_deadline_earlier(
    start: datetime, seconds: int, pauses: list[Pause], extra: list[Pause]
) -> None:
    unpaused = business_deadline(start, seconds, OFFICE)
    assert paused_deadline(start, seconds, OFFICE, []) == unpaused
    paused = paused_deadline(start, seconds, OFFICE, pauses)
    more = paused_deadline(start, seconds, OFFICE, [*pauses, *extra])
    assert paused is not None and more is not None
    assert unpaused <= paused <= more
    # the working time from start to deadline is the target plus what the pauses took off
    within = stage_pauses(pauses, [AWAITING], started_at=start, ended_at=paused)
    assert business_seconds(start, paused, OFFICE) == seconds + paused_seconds(within, OFFICE)


# --- SlaPaused / SlaResumed ------------------------------------------------------------------


def test_a_stage_announces_each_pause_and_its_end_with_the_working_time_it_took() -> None:
    order_id = uuid.uuid4()
    row = StageRow(
        order_id=order_id,
        stage=Stage.FULFILMENT,
        root_order_id=order_id,
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id=None,
        started_at=berlin(2026, 11, 6, 16),
        ended_at=None,
        duration_s=None,
        trace_id=None,
        start_event_id=uuid.uuid4(),
        traceparent=None,
        policy_id=3,
        target_s=3 * HOUR,
        warn_at=None,
        deadline=berlin(2026, 11, 9, 9, 30),
        warning_raised_at=None,
        breach_raised_at=None,
        policy_key="FRAMES",
        policy_version=2,
        calendar=OFFICE,
    )
    over_the_weekend = Pause(
        AWAITING, berlin(2026, 11, 6, 17), berlin(2026, 11, 9, 7, 30), uuid.uuid4(), uuid.uuid4()
    )
    still_blocked = pause(berlin(2026, 11, 9, 8), None, BLOCKED)
    events = pause_events(row, [over_the_weekend, still_blocked])
    assert [type(e) for e in events] == [SlaPaused, SlaResumed, SlaPaused]
    paused, resumed, blocked = events
    assert isinstance(resumed, SlaResumed)
    assert (paused.paused_at, paused.occurred_at) == (over_the_weekend.paused_at,) * 2
    assert paused.causation_id == over_the_weekend.paused_by
    assert resumed.causation_id == over_the_weekend.resumed_by
    assert resumed.paused_seconds == 1.5 * HOUR  # Friday 17-18, Monday 7-7:30
    assert resumed.deadline == row.deadline
    assert (resumed.policy_id, resumed.policy_version) == ("FRAMES", 2)
    assert blocked.reason is BLOCKED and blocked.stage is Stage.FULFILMENT
    # the same pause of the same stage is always the same event: announced once
    assert [e.event_id for e in pause_events(row, [over_the_weekend])] == [
        paused.event_id,
        resumed.event_id,
    ]
    assert len({e.event_id for e in events}) == 3
