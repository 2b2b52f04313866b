"""The verdict rule (issue 22, item 2), pure: an SLA alarm is due once monitoring knows its
stage's ending topics `relay_grace` past its time, or `max_lateness` has passed since it; the
watermark of a partition is the latest sample of the broker's end offsets the group reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.sla.rules import due_alarms
from monitoring.sla.watermarks import OffsetSample, SampleWindow, VerdictRule, behind_seconds
from monitoring.timeline.clocks import next_wake_s, scan_now
from supplychain_contracts import Stage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(seconds=30)
RULE = VerdictRule(relay_grace=timedelta(seconds=5), max_lateness=timedelta(seconds=900))
FULFILMENT_0 = ("supplychain.fulfilment.v1", 0)
FULFILMENT_1 = ("supplychain.fulfilment.v1", 1)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def breach_due(*, known_until: datetime | None, now: datetime) -> bool:
    cutoff = RULE.cutoff(known_until=known_until, now=now)
    return due_alarms(
        warn_at=None, deadline=DEADLINE, warning_raised=False, breach_raised=False, now=cutoff
    ) == ("breach",)


def test_a_breach_waits_until_the_topics_are_known_a_grace_past_the_deadline() -> None:
    late_in_the_day = DEADLINE + seconds(600)
    # the wall clock is long past the deadline, but monitoring knows the topics only to it
    assert not breach_due(known_until=DEADLINE, now=late_in_the_day)
    assert not breach_due(known_until=DEADLINE + seconds(4.9), now=late_in_the_day)
    assert breach_due(known_until=DEADLINE + seconds(5), now=late_in_the_day)


def test_a_breach_known_in_time_is_due_even_if_the_wall_clock_is_close() -> None:
    # the watermark never runs ahead of the wall clock; known is known
    now = DEADLINE + seconds(5)
    assert breach_due(known_until=now, now=now)


def test_when_nothing_can_be_known_the_maximum_lateness_decides() -> None:
    assert not breach_due(known_until=None, now=DEADLINE + seconds(899))
    assert breach_due(known_until=None, now=DEADLINE + seconds(900))
    # a watermark stuck long ago (a partition stuck on a record) decides nothing either
    assert not breach_due(known_until=T0, now=DEADLINE + seconds(899))
    assert breach_due(known_until=T0, now=DEADLINE + seconds(900))


def test_the_cutoff_of_each_stage_follows_its_own_topics() -> None:
    now = DEADLINE + seconds(60)
    cutoffs = RULE.cutoffs({Stage.ACCEPTANCE: now, Stage.INVOICING: None}, now=now)
    assert cutoffs[Stage.ACCEPTANCE] == now - seconds(5)
    assert cutoffs[Stage.INVOICING] == now - seconds(900)  # its topics are not known at all
    assert cutoffs[Stage.DELIVERY] == now - seconds(900)  # not in the mapping: not known
    assert RULE.unheld_cutoff(now) == now - seconds(5)


def test_how_far_behind_the_oldest_watermark_is() -> None:
    now = T0 + seconds(100)
    assert behind_seconds([T0 + seconds(58), T0 + seconds(99)], now=now) == 42.0
    assert behind_seconds([now + seconds(1)], now=now) == 0.0
    assert behind_seconds([T0, None], now=now) is None
    assert behind_seconds([], now=now) is None


def test_a_partition_is_known_until_the_latest_sample_its_group_reached() -> None:
    window = SampleWindow(horizon=seconds(900))
    window.add(OffsetSample(T0, {FULFILMENT_0: 10, FULFILMENT_1: 4}))
    window.add(OffsetSample(T0 + seconds(1), {FULFILMENT_0: 12, FULFILMENT_1: 4}))
    window.add(OffsetSample(T0 + seconds(2), {FULFILMENT_0: 20, FULFILMENT_1: 4}))
    known = window.known_until({FULFILMENT_0: 12, FULFILMENT_1: 4})
    assert known == {FULFILMENT_0: T0 + seconds(1), FULFILMENT_1: T0 + seconds(2)}
    # the samples no partition needs any more are forgotten
    assert [s.taken_at for s in window.samples] == [T0 + seconds(1), T0 + seconds(2)]
    # a frozen consumer reaches nothing newer: its watermark stands still
    window.add(OffsetSample(T0 + seconds(60), {FULFILMENT_0: 30, FULFILMENT_1: 5}))
    assert window.known_until({FULFILMENT_0: 12, FULFILMENT_1: 4})[FULFILMENT_0] == T0 + seconds(1)
    # once it has applied the backlog, it knows everything the broker held then
    assert window.known_until({FULFILMENT_0: 30, FULFILMENT_1: 5}) == {
        FULFILMENT_0: T0 + seconds(60),
        FULFILMENT_1: T0 + seconds(60),
    }


def test_a_partition_behind_every_sample_is_not_known_and_old_samples_expire() -> None:
    window = SampleWindow(horizon=seconds(10))
    window.add(OffsetSample(T0, {FULFILMENT_0: 10}))
    assert window.known_until({FULFILMENT_0: 9}) == {FULFILMENT_0: None}
    # a partition the samples never saw (created since) is not known either
    assert window.known_until({FULFILMENT_1: 0})[FULFILMENT_1] is None
    window.add(OffsetSample(T0 + seconds(11), {FULFILMENT_0: 11}))
    assert [s.taken_at for s in window.samples] == [T0 + seconds(11)]
    assert window.known_until({FULFILMENT_0: 10}) == {FULFILMENT_0: None}


def test_no_alarm_is_due_before_its_time_plus_the_grace_however_far_the_watermarks() -> None:
    """The clock scan sleeps until then: no cutoff reaches an alarm earlier."""
    may_be_due, due_anyway = RULE.wake_times(DEADLINE)
    assert (may_be_due, due_anyway) == (DEADLINE + seconds(5), DEADLINE + seconds(900))
    just_before = may_be_due - seconds(0.001)
    # known up to the wall clock itself (the furthest a watermark goes)
    assert not breach_due(known_until=just_before, now=just_before)
    assert breach_due(known_until=may_be_due, now=may_be_due)
    assert breach_due(known_until=None, now=due_anyway)
    # a maximum lateness shorter than the grace: due by it first
    short = VerdictRule(relay_grace=seconds(5), max_lateness=seconds(2))
    assert short.wake_times(DEADLINE)[0] == DEADLINE + seconds(2)
    assert short.cutoff(known_until=None, now=DEADLINE + seconds(2)) == DEADLINE


def test_the_clock_scan_wakes_at_the_next_point_of_the_earliest_alarm() -> None:
    assert next_wake_s(None, now=T0, rule=RULE) is None
    assert next_wake_s(DEADLINE, now=DEADLINE, rule=RULE) == 5
    # past its grace (the watermarks decide now): next, the maximum lateness
    assert next_wake_s(DEADLINE, now=DEADLINE + seconds(6), rule=RULE) == 894
    assert next_wake_s(DEADLINE, now=DEADLINE + seconds(900), rule=RULE) is None


def test_the_clock_scan_runs_once_an_alarm_may_be_due_then_as_the_watermarks_move() -> None:
    def scan(now: datetime, last: datetime | None, moved: bool = False) -> bool:
        return scan_now(DEADLINE, now=now, last_scan=last, watermarks_moved=moved, rule=RULE)

    assert not scan_now(None, now=T0, last_scan=None, watermarks_moved=True, rule=RULE)
    may_be_due, due_anyway = RULE.wake_times(DEADLINE)
    before = may_be_due - seconds(1)
    assert not scan(before, None, moved=True)  # nothing can be due yet, however known
    assert scan(may_be_due, before)  # the first scan once it may be
    after = may_be_due + seconds(1)
    assert not scan(after + seconds(1), after)  # scanned: now the watermarks decide
    assert scan(after + seconds(1), after, moved=True)
    assert scan(due_anyway, after)  # the maximum lateness makes it due, known or not
    assert not scan(due_anyway + seconds(1), due_anyway)
