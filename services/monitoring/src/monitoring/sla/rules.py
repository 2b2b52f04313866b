"""SLA rules (pure): which policy version applies, when a clock runs out, what a stage's status
is, which alarms a stored stage has due."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from supplychain_contracts import Stage
from supplychain_contracts.business_time import MAX_CALENDAR_DAYS as MAX_CALENDAR_DAYS
from supplychain_contracts.business_time import business_deadline as business_deadline
from supplychain_contracts.business_time import business_seconds as business_seconds
from supplychain_contracts.business_time import most_specific_policy
from supplychain_contracts.business_time import working_windows as working_windows
from supplychain_contracts.company import BusinessCalendar, FieldProblem, NamedCalendar, SlaPolicy

from monitoring.domain import Outcome, duration_seconds
from monitoring.reference.versions import Version, in_force


class Status(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"
    # closed with its order's outcome (domain.Outcome): neither met nor breached
    REJECTED = Outcome.REJECTED.value
    CANCELLED = Outcome.CANCELLED.value
    BLOCKED = Outcome.BLOCKED.value


class Alarm(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True)
class Clock:
    """When a stage's warning and deadline fall, under which policy (its number, its contract
    identity and version, and the credit it grants on a breach).

    A clock that may pause keeps what moving it needs: the working time to its warning, the
    calendar it counts in and the reasons that stop it (`pauses.reasons_pausing`)."""

    policy_id: int
    target_seconds: float
    warn_at: datetime
    deadline: datetime
    policy_key: str | None = None
    policy_version: int | None = None
    service_credit_pct: Decimal | None = None
    warning_seconds: float | None = None
    calendar: BusinessCalendar | None = None
    pause_reasons: tuple[str, ...] = ()


def policy_for(
    versions: Sequence[Version[SlaPolicy]],
    *,
    supplier: str,
    requester: str,
    priority: str | None,
    at: datetime,
) -> Version[SlaPolicy] | None:
    """The most specific policy of the supplier in force at `at` (a stage's start) that fits
    the requester and priority (`business_time.most_specific_policy`)."""
    return most_specific_policy(
        in_force(versions, at),
        supplier=supplier,
        requester=requester,
        priority=priority,
        policy_of=lambda version: version.content,
    )


def calendar_for(
    policy: SlaPolicy, calendars: Sequence[Version[NamedCalendar]], at: datetime
) -> BusinessCalendar:
    """The calendar a policy counts in at `at`: its named calendar's version then (before the
    calendar's first version: that one), else its own inline calendar."""
    if policy.calendar_code is None:
        return policy.calendar
    named = [v for v in calendars if v.key == policy.calendar_code and v.active]
    if not named:
        return policy.calendar
    effective = [v for v in named if v.effective_from <= at]
    if effective:
        return max(effective, key=lambda v: v.version).content
    return min(named, key=lambda v: v.version).content


def clock_for(
    version: Version[SlaPolicy], stage: Stage, started_at: datetime, calendar: BusinessCalendar
) -> Clock | None:
    """The stage's clock under a policy version, counted in `calendar` (`calendar_for`); None
    when the policy sets no target for the stage."""
    policy = version.content
    target = policy.targets_seconds.get(stage)
    if target is None:
        return None
    warning = target * policy.warning_threshold
    warn_at, deadline = business_deadlines(started_at, (warning, target), calendar)
    return Clock(
        policy_id=version.number,
        target_seconds=target,
        warn_at=warn_at,
        deadline=deadline,
        policy_key=version.key,
        policy_version=version.version,
        service_credit_pct=policy.service_credit_pct,
        warning_seconds=warning,
        calendar=calendar,
    )


def business_deadlines(
    start: datetime, seconds: Sequence[float], calendar: BusinessCalendar
) -> list[datetime]:
    """`business_deadline` of each of `seconds` from the same start, in one walk over the
    calendar's working windows (every stage start times a warning and a deadline: the walk
    is most of a clock's cost)."""
    wanted = sorted((timedelta(seconds=s), n) for n, s in enumerate(seconds))
    found: list[datetime] = [start] * len(wanted)
    counted, next_one = timedelta(), 0
    for begin, closes in working_windows(start, calendar):
        while next_one < len(wanted) and wanted[next_one][0] - counted <= closes - begin:
            remaining, n = wanted[next_one]
            found[n] = begin + (remaining - counted)
            next_one += 1
        if next_one == len(wanted):
            return found
        counted += closes - begin
    missing = wanted[next_one][0].total_seconds()
    raise ValueError(f"a target of {missing}s does not fit in {MAX_CALENDAR_DAYS} calendar days")


def target_problems(
    policy: SlaPolicy, calendar: BusinessCalendar, *, at: datetime
) -> list[FieldProblem]:
    """Targets a clock could not run: not a positive number of seconds, or more working time
    than the calendar has in MAX_CALENDAR_DAYS (the calendar must be usable)."""
    problems: list[FieldProblem] = []
    for stage, target in policy.targets_seconds.items():
        field = f"targets_seconds.{stage.value}"
        if not (math.isfinite(target) and target > 0):
            problems.append(FieldProblem(field, "a target is a positive number of seconds"))
            continue
        try:
            business_deadline(at, target, calendar)
        except OverflowError:  # more seconds than a timedelta holds
            problems.append(FieldProblem(field, f"{target:g}s is beyond any calendar"))
        except ValueError as exc:
            problems.append(FieldProblem(field, str(exc)))
    return problems


def stage_status(
    *,
    ended_at: datetime | None,
    warn_at: datetime | None,
    deadline: datetime | None,
    now: datetime,
    paused: bool = False,
    outcome: str | None = None,
    breach_raised: bool = False,
) -> Status:
    """met / breached for a closed stage (by its real end), open / paused / warning / breached
    while it runs (`paused`: its clock stands still now; a deadline already missed stays so).

    A stage closed with its order's `outcome` (rejected, cancelled, blocked) has that status,
    unless a breach was raised while it ran and its end came after the deadline: a verdict
    raised is final. A breach proved wrong by its end (retracted) leaves the stage met.
    A stage without a target (no policy) that has closed is met: there was nothing to miss.
    """
    if ended_at is not None:
        late = deadline is not None and ended_at > deadline
        if outcome is not None and not (late and breach_raised):
            return Status(outcome)
        return Status.BREACHED if late else Status.MET
    if deadline is not None and now >= deadline:
        return Status.BREACHED
    if paused:
        return Status.PAUSED
    if warn_at is not None and now >= warn_at:
        return Status.WARNING
    return Status.OPEN


def status_of(row: Mapping[str, Any], *, now: datetime) -> Status:
    """The status of a stored stage as its reads select it (`timeline.store.handoffs`,
    `stage_results`: with `breach_raised`)."""
    return stage_status(
        ended_at=row["ended_at"] if row["started_at"] else None,
        warn_at=row["warn_at"],
        deadline=row["deadline"],
        now=now,
        paused=row.get("paused_since") is not None,
        outcome=row.get("outcome"),
        breach_raised=bool(row.get("breach_raised")),
    )


def due_alarms(
    *,
    warn_at: datetime | None,
    deadline: datetime | None,
    warning_raised: bool,
    breach_raised: bool,
    now: datetime,
) -> tuple[Alarm, ...]:
    """Alarms of a running stage due at `now` that were not raised yet; warning before breach.

    A breach always comes with its warning, so a late scan (or a restart) never skips one.
    """
    breach_due = deadline is not None and now >= deadline and not breach_raised
    warning_due = warn_at is not None and (now >= warn_at or breach_due) and not warning_raised
    return (Alarm.WARNING,) * warning_due + (Alarm.BREACH,) * breach_due


@dataclass(frozen=True)
class StageRow:
    """One stage of one order as stored: its boundaries, its clock, the alarms it raised."""

    order_id: UUID
    stage: Stage
    root_order_id: UUID
    supplier: str
    requester: str
    employee_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    trace_id: str | None
    start_event_id: UUID | None  # the SLA events of the stage are caused by it
    traceparent: str | None  # ... and continue its trace
    policy_id: int | None
    target_s: float | None
    warn_at: datetime | None
    deadline: datetime | None
    warning_raised_at: datetime | None
    breach_raised_at: datetime | None
    policy_key: str | None = None  # the policy as the contract names it
    policy_version: int | None = None
    service_credit_pct: Decimal | None = None
    # a clock that may pause (pauses.py): what moving it needs, and how it stands
    pause_reasons: tuple[str, ...] = ()
    warning_s: float | None = None
    calendar: BusinessCalendar | None = None
    paused_s: float = 0.0  # business seconds its closed pauses took off the clock
    paused_since: datetime | None = None  # its clock stands still since then
    # how it ended when its order ended first (None: by its own ending event, or running)
    outcome: Outcome | None = None
    end_event_id: UUID | None = None  # the event that ended it
    end_event_type: str | None = None
    breach_retracted_at: datetime | None = None

    @property
    def needs_clock(self) -> bool:
        """Started, and no policy has timed it yet (looked up again while none applies)."""
        return self.started_at is not None and self.deadline is None and self.policy_id is None

    @property
    def can_close(self) -> bool:
        """Both ends seen and the duration not recorded yet."""
        return self.started_at is not None and self.ended_at is not None and self.duration_s is None

    def elapsed_seconds(self) -> float:
        """The real duration of a stage that has ended."""
        if self.started_at is None or self.ended_at is None:
            raise ValueError(f"stage {self.stage} of order {self.order_id} has not ended")
        return duration_seconds(self.started_at, self.ended_at)

    def alarms_due(self, now: datetime) -> tuple[Alarm, ...]:
        """Alarms of the stage due at `now` that it has not raised yet."""
        return due_alarms(
            warn_at=self.warn_at,
            deadline=self.deadline,
            warning_raised=self.warning_raised_at is not None,
            breach_raised=self.breach_raised_at is not None,
            now=now,
        )

    def late_alarms(self) -> tuple[Alarm, ...]:
        """Alarms its end came too late for that were not raised while it ran (the clock had
        not fired yet, or events arrived late). None for a stage its order's end closed: the
        outcome decides, no verdict comes after it."""
        if self.ended_at is None or self.outcome is not None:
            return ()
        return self.alarms_due(self.ended_at)

    @property
    def breach_proved_wrong(self) -> bool:
        """A breach was raised (and not retracted yet), but the stage ended by its deadline:
        the ending event was late (e.g. its producer's relay was down)."""
        return (
            self.breach_raised_at is not None
            and self.breach_retracted_at is None
            and self.ended_at is not None
            and self.deadline is not None
            and self.ended_at <= self.deadline
        )


def on_time_percent(met: int, breached: int) -> float | None:
    """Share of decided stages that met their deadline; None when none was decided."""
    decided = met + breached
    return round(100.0 * met / decided, 1) if decided else None
