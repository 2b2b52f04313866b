"""SLA rules of monitoring (monitoring.sla, pure): policy matching among the versions in force,
business-calendar deadlines, stage status, which alarms are due, and scorecard arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from monitoring.analytics.scorecards import period_bounds
from monitoring.reference.versions import SINCE_EVER, Version
from monitoring.replay.repair import compare
from monitoring.sla.rules import (
    Alarm,
    Status,
    business_deadline,
    business_deadlines,
    business_seconds,
    clock_for,
    due_alarms,
    on_time_percent,
    policy_for,
    stage_status,
)
from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar, SlaPolicy, sample_company

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessCalendar(
    time_zone="Europe/Berlin", working_days=(0, 1, 2, 3, 4), start_hour=7, end_hour=18
)
HOUR = 3600.0


def policy(**fields: object) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {"supplier": "ASSEMBLY", "targets_seconds": {"acceptance": 30}, **fields}
    )


def version(number: int, content: SlaPolicy, **fields: Any) -> Version[SlaPolicy]:
    """Version 1 of a policy, in force since ever, unless `fields` say otherwise."""
    defaults: dict[str, Any] = {
        "key": content.policy_key,
        "number": number,
        "version": 1,
        "effective_from": SINCE_EVER,
        "active": True,
        "changed_by": "company-file",
        "changed_at": SINCE_EVER,
    }
    return Version(content=content, **{**defaults, **fields})


# --- policy matching -------------------------------------------------------------------------

POLICIES = [
    version(1, policy()),
    version(2, policy(priority="rush")),
    version(3, policy(requester="RETAIL_OPS")),
    version(4, policy(requester="RETAIL_OPS", priority="rush")),
    version(5, policy(supplier="WHEELS")),
]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("supplier", "requester", "priority", "expected"),
    [
        ("ASSEMBLY", "FRAMES", "standard", 1),
        ("ASSEMBLY", "FRAMES", None, 1),  # priority unknown: only general policies fit
        ("ASSEMBLY", "FRAMES", "rush", 2),
        ("ASSEMBLY", "RETAIL_OPS", "standard", 3),
        ("ASSEMBLY", "RETAIL_OPS", "rush", 4),
        ("WHEELS", "RETAIL_OPS", "rush", 5),
        ("PAINTSHOP", "ASSEMBLY", "standard", None),
    ],
)
def test_the_most_specific_fitting_policy_wins(
    supplier: str, requester: str, priority: str | None, expected: int | None
) -> None:
    found = policy_for(POLICIES, supplier=supplier, requester=requester, priority=priority, at=NOW)
    assert (found.number if found else None) == expected


def test_a_requester_policy_beats_a_priority_policy() -> None:
    policies = [version(1, policy(priority="rush")), version(2, policy(requester="FRAMES"))]
    found = policy_for(policies, supplier="ASSEMBLY", requester="FRAMES", priority="rush", at=NOW)
    assert found is not None and found.number == 2


def test_the_sample_company_has_a_policy_for_every_supplier_and_a_rush_one() -> None:
    company = sample_company()
    policies = [version(n, p) for n, p in enumerate(company.sla_policies, start=1)]
    suppliers = {item.supplier for item in company.catalogue}
    for supplier in suppliers:
        assert policy_for(policies, supplier=supplier, requester="X", priority="standard", at=NOW)
    rush = policy_for(
        policies, supplier="ASSEMBLY", requester="RETAIL_OPS", priority="rush", at=NOW
    )
    assert rush is not None and rush.content.priority is not None


# --- versions in force -------------------------------------------------------------------------

CHANGED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
GENERAL_V2 = version(
    1, policy(targets_seconds={"acceptance": 60}), version=2, effective_from=CHANGED_AT
)


@pytest.mark.parametrize(
    ("started_at", "expected"),
    [
        (CHANGED_AT - timedelta(microseconds=1), 1),  # started before: version 1
        (CHANGED_AT, 2),  # a version applies from its effective time on
        (CHANGED_AT + timedelta(days=30), 2),
    ],
)
def test_a_stage_is_timed_by_the_version_in_force_when_it_started(
    started_at: datetime, expected: int
) -> None:
    found = policy_for(
        [POLICIES[0], GENERAL_V2],
        supplier="ASSEMBLY",
        requester="FRAMES",
        priority="standard",
        at=started_at,
    )
    assert found is not None and found.version == expected


def test_a_removed_policy_no_longer_applies_but_did_before() -> None:
    rush_removed = version(
        2, policy(priority="rush"), version=2, effective_from=CHANGED_AT, active=False
    )
    timeline = [*POLICIES[:2], rush_removed]
    before = policy_for(timeline, supplier="ASSEMBLY", requester="FRAMES", priority="rush", at=NOW)
    after = policy_for(
        timeline, supplier="ASSEMBLY", requester="FRAMES", priority="rush", at=CHANGED_AT
    )
    assert before is not None and before.key == "ASSEMBLY:rush"
    assert after is not None and after.key == "ASSEMBLY"  # the general policy again


def test_a_policy_defined_later_does_not_time_earlier_stages() -> None:
    later = version(6, policy(requester="FRAMES"), effective_from=CHANGED_AT)
    timeline = [POLICIES[0], later]
    early = policy_for(timeline, supplier="ASSEMBLY", requester="FRAMES", priority=None, at=NOW)
    late = policy_for(
        timeline, supplier="ASSEMBLY", requester="FRAMES", priority=None, at=CHANGED_AT
    )
    assert early is not None and early.number == 1
    assert late is not None and late.number == 6


def test_a_later_version_replaces_one_defined_for_a_later_time() -> None:
    # version 2 was due next month; version 3, defined after it, applies from now and on
    due = NOW + timedelta(days=30)
    v2 = version(1, policy(targets_seconds={"acceptance": 60}), version=2, effective_from=due)
    v3 = version(1, policy(targets_seconds={"acceptance": 90}), version=3, effective_from=NOW)
    for at in (NOW, due, due + timedelta(days=1)):
        found = policy_for(
            [POLICIES[0], v2, v3], supplier="ASSEMBLY", requester="X", priority=None, at=at
        )
        assert found is not None and found.version == 3


# --- business calendar -----------------------------------------------------------------------


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_a_round_the_clock_calendar_is_plain_elapsed_time() -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert business_deadline(start, 30, BusinessCalendar()) == start + timedelta(seconds=30)
    assert business_deadline(start, 3 * 86400, BusinessCalendar()) == start + timedelta(days=3)


def test_within_working_hours_the_clock_runs_normally() -> None:
    # Monday 2026-11-02, 09:00 Berlin
    assert business_deadline(berlin(2026, 11, 2, 9), 2 * HOUR, OFFICE) == berlin(2026, 11, 2, 11)


def test_the_clock_stops_at_closing_time_and_resumes_next_morning() -> None:
    # 2 h left at 17:00 on Monday: 1 h on Monday, 1 h from 07:00 on Tuesday
    assert business_deadline(berlin(2026, 11, 2, 17), 2 * HOUR, OFFICE) == berlin(2026, 11, 3, 8)


def test_a_stage_started_at_night_starts_its_clock_in_the_morning() -> None:
    assert business_deadline(berlin(2026, 11, 2, 22), 30, OFFICE) == berlin(2026, 11, 3, 7, 0, 30)
    assert business_deadline(berlin(2026, 11, 3, 5), HOUR, OFFICE) == berlin(2026, 11, 3, 8)


def test_the_weekend_does_not_count() -> None:
    # Friday 2026-11-06 17:30 + 1 h → 30 min on Friday, 30 min on Monday 07:00
    assert business_deadline(berlin(2026, 11, 6, 17, 30), HOUR, OFFICE) == berlin(
        2026, 11, 9, 7, 30
    )
    # started on Saturday
    assert business_deadline(berlin(2026, 11, 7, 12), HOUR, OFFICE) == berlin(2026, 11, 9, 8)


def test_a_full_working_week_is_five_days_of_eleven_hours() -> None:
    assert business_deadline(berlin(2026, 11, 2, 7), 55 * HOUR, OFFICE) == berlin(2026, 11, 6, 18)


def test_daylight_saving_change_is_wall_clock_in_the_calendar_zone() -> None:
    # Clocks go back on Sunday 2026-10-25 in Berlin; Friday 17:00 + 2 h → Monday 08:00 local,
    # which is 07:00 UTC (CET) while Friday 17:00 was 15:00 UTC (CEST).
    deadline = business_deadline(berlin(2026, 10, 23, 17), 2 * HOUR, OFFICE)
    assert deadline == berlin(2026, 10, 26, 8)
    assert deadline.astimezone(UTC).hour == 7


def test_a_calendar_in_another_zone_than_the_event() -> None:
    # 06:30 UTC on Monday is 07:30 in Berlin (CET): the office is already open.
    start = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
    assert business_deadline(start, HOUR, OFFICE) == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="working day"):
        business_deadline(berlin(2026, 11, 2, 9), 1, BusinessCalendar(working_days=()))


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.lists(st.floats(min_value=0, max_value=200 * HOUR), min_size=1, max_size=3),
)
def test_deadlines_of_one_walk_are_those_of_one_walk_each(
    start: datetime, targets: list[float]
) -> None:
    """A clock's warning and deadline come from one walk over the windows (in any order)."""
    one_each = [business_deadline(start, target, OFFICE) for target in targets]
    assert business_deadlines(start, targets, OFFICE) == one_each


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.floats(min_value=0, max_value=200 * HOUR),
    st.floats(min_value=0, max_value=200 * HOUR),
)
def test_deadlines_never_precede_the_start_and_grow_with_the_target(
    start: datetime, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    first, second = business_deadline(start, low, OFFICE), business_deadline(start, high, OFFICE)
    assert start <= first <= second
    # the clock never runs faster than real time
    assert second - start >= timedelta(seconds=high) - timedelta(microseconds=1)
    local = second.astimezone(BERLIN)
    if high > 0:  # a positive target ends inside working hours (or at closing time)
        assert local.weekday() < 5
        assert 7 <= local.hour + local.minute / 60 + local.second / 3600 <= 18


def test_a_clock_has_its_warning_at_the_threshold() -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    timed = version(
        7,
        policy(targets_seconds={"acceptance": 40}, warning_threshold=0.5, service_credit_pct=8),
        version=3,
    )
    clock = clock_for(timed, Stage.ACCEPTANCE, start, BusinessCalendar())
    assert clock is not None
    assert (clock.policy_id, clock.target_seconds) == (7, 40)
    assert (clock.policy_key, clock.policy_version, clock.service_credit_pct) == (
        "ASSEMBLY",
        3,
        8,
    )
    assert clock.warn_at == start + timedelta(seconds=20)
    assert clock.deadline == start + timedelta(seconds=40)
    no_target = clock_for(version(7, policy()), Stage.DELIVERY, start, BusinessCalendar())
    assert no_target is None  # no target for that stage


# --- status and alarms -----------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WARN, DEADLINE = T0 + timedelta(seconds=30), T0 + timedelta(seconds=40)


@pytest.mark.parametrize(
    ("ended_at", "now", "expected"),
    [
        (None, T0, Status.OPEN),
        (None, WARN, Status.WARNING),
        (None, DEADLINE, Status.BREACHED),
        (T0 + timedelta(seconds=35), T0 + timedelta(days=1), Status.MET),
        (DEADLINE, T0 + timedelta(days=1), Status.MET),
        (DEADLINE + timedelta(microseconds=1), DEADLINE, Status.BREACHED),
    ],
)
def test_stage_status(ended_at: datetime | None, now: datetime, expected: Status) -> None:
    assert stage_status(ended_at=ended_at, warn_at=WARN, deadline=DEADLINE, now=now) == expected


def test_an_untimed_stage_is_open_then_met() -> None:
    assert stage_status(ended_at=None, warn_at=None, deadline=None, now=T0) == Status.OPEN
    assert stage_status(ended_at=T0, warn_at=None, deadline=None, now=T0) == Status.MET


@pytest.mark.parametrize(
    ("now", "warning_raised", "breach_raised", "expected"),
    [
        (T0, False, False, ()),
        (WARN, False, False, (Alarm.WARNING,)),
        (WARN, True, False, ()),
        (DEADLINE, True, False, (Alarm.BREACH,)),
        (DEADLINE, False, False, (Alarm.WARNING, Alarm.BREACH)),  # late scan: both, in order
        (DEADLINE, True, True, ()),
    ],
)
def test_due_alarms_are_raised_once_and_in_order(
    now: datetime, warning_raised: bool, breach_raised: bool, expected: tuple[Alarm, ...]
) -> None:
    alarms = due_alarms(
        warn_at=WARN,
        deadline=DEADLINE,
        warning_raised=warning_raised,
        breach_raised=breach_raised,
        now=now,
    )
    assert alarms == expected


def test_on_time_percent_and_period_bounds() -> None:
    assert on_time_percent(3, 1) == 75.0
    assert on_time_percent(0, 0) is None
    assert period_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_bounds("2026-02")[1] == datetime(2026, 3, 1, tzinfo=UTC)


# --- replay comparison -------------------------------------------------------------------


def stage_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "order_id": "o-1",
        "stage": "acceptance",
        "supplier": "WHEELS",
        "requester": "ASSEMBLY",
        "started_at": T0,
        "ended_at": None,
        "duration_s": None,
        "target_s": 40.0,
        "warn_at": WARN,
        "deadline": DEADLINE,
        "trace_id": "t",
        "policy_key": "WHEELS",
        "policy_version": 1,
        "warning_raised": True,
        "breach_raised": False,
    }
    return {**row, **changes}


def test_replay_reports_each_differing_field_and_missing_stages() -> None:
    live = [stage_row(), stage_row(stage="end_to_end")]
    replayed = [stage_row(breach_raised=True, ended_at=WARN, duration_s=30.0)]
    compared = compare(live, replayed, now=WARN)
    assert compared.stages == 1
    assert {(d["stage"], d["field"]) for d in compared.differences} == {
        ("acceptance", "breach_raised"),
        ("acceptance", "ended_at"),
        ("acceptance", "duration_s"),
        ("acceptance", "status"),  # warning (running) live, met (closed) in the replay
        ("end_to_end", "*"),
    }
    same = compare(live, live, now=WARN)
    assert (same.stages, same.differences) == (2, [])


def test_replay_tells_a_stage_timed_by_another_policy() -> None:
    """Equal targets by chance still differ when another policy (or version) timed the stage."""
    live = [stage_row()]
    replayed = [stage_row(policy_key="WHEELS:rush", policy_version=2)]
    differences = compare(live, replayed, now=WARN).differences
    assert {d["field"] for d in differences} == {"policy_key", "policy_version"}


def test_replay_leaves_out_the_stages_of_orders_before_the_window() -> None:
    live = [stage_row(), stage_row(stage="end_to_end"), stage_row(order_id="o-2")]
    replayed = [stage_row(order_id="o-2", stage="invoicing")]  # o-2's start is gone
    compared = compare(live, replayed, now=WARN, outside={"o-2"})  # type: ignore[arg-type]
    assert compared.differences == [
        {"order_id": "o-1", "stage": s, "field": "*", "live": "present", "replay": None}
        for s in ("acceptance", "end_to_end")
    ]
    assert (compared.stages, compared.outside_orders, compared.outside_stages) == (0, 1, 2)


def test_business_seconds_counts_only_working_time() -> None:
    # Friday 17:30 → Monday 07:30 Berlin: 30 min on Friday, 30 min on Monday
    assert business_seconds(berlin(2026, 11, 6, 17, 30), berlin(2026, 11, 9, 7, 30), OFFICE) == HOUR
    assert business_seconds(berlin(2026, 11, 7, 9), berlin(2026, 11, 8, 20), OFFICE) == 0
    assert business_seconds(berlin(2026, 11, 2, 9), berlin(2026, 11, 2, 8), OFFICE) == 0
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert business_seconds(start, start + timedelta(days=3), BusinessCalendar()) == 3 * 86400


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.floats(min_value=0, max_value=200 * HOUR),
)
def test_business_seconds_inverts_business_deadline(start: datetime, target: float) -> None:
    deadline = business_deadline(start, target, OFFICE)
    assert business_seconds(start, deadline, OFFICE) == pytest.approx(target, abs=1e-3)
