"""SLA rules (pure): which policy applies, when a clock runs out, what a stage's status is,
which alarms a stored stage has due."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar, SlaPolicy

from monitoring.domain import duration_seconds

# Policies are not versioned yet: every policy is its version 1 (SlaPolicyDefined carries
# versions once policies change at run time).
POLICY_VERSION = 1
# A calendar with working days always has working time within a week; a target of years of
# working time is a configuration error, not a loop to run forever.
MAX_CALENDAR_DAYS = 3 * 366


class Status(StrEnum):
    OPEN = "open"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"


class Alarm(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True)
class Clock:
    """When a stage's warning and deadline fall, under which policy (its row, its contract
    identity and version, and the credit it grants on a breach)."""

    policy_id: int
    target_seconds: float
    warn_at: datetime
    deadline: datetime
    policy_key: str | None = None
    policy_version: int | None = None
    service_credit_pct: Decimal | None = None


def policy_for(
    policies: Sequence[tuple[int, SlaPolicy]],
    *,
    supplier: str,
    requester: str,
    priority: str | None,
) -> tuple[int, SlaPolicy] | None:
    """The most specific policy of the supplier that fits the requester and priority.

    A policy naming the requester beats one naming the priority, which beats the supplier's
    general policy; among equals the first listed wins.
    """

    def fits(policy: SlaPolicy) -> bool:
        return (
            policy.supplier == supplier
            and policy.requester in (None, requester)
            and (policy.priority is None or policy.priority.value == priority)
        )

    def specificity(entry: tuple[int, SlaPolicy]) -> int:
        policy = entry[1]
        return 2 * (policy.requester is not None) + (policy.priority is not None)

    candidates = [entry for entry in policies if fits(entry[1])]
    if not candidates:
        return None
    best = max(specificity(entry) for entry in candidates)
    return next(entry for entry in candidates if specificity(entry) == best)


def _working_window(
    day: date, calendar: BusinessCalendar, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(calendar.start_hour), tzinfo=zone)
    if calendar.end_hour == 24:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    else:
        end = datetime.combine(day, time(calendar.end_hour), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def business_deadline(start: datetime, seconds: float, calendar: BusinessCalendar) -> datetime:
    """The instant at which `seconds` of working time have passed since `start`.

    The clock runs only on the calendar's working days, between its start and end hour, in
    its time zone (daylight saving included); outside them it stands still.
    """
    if not calendar.working_days:
        raise ValueError("a business calendar needs at least one working day")
    if calendar.start_hour >= calendar.end_hour:
        raise ValueError("a working day must end after it starts")
    zone = ZoneInfo(calendar.time_zone)
    cursor = start.astimezone(UTC)
    remaining = timedelta(seconds=seconds)
    day = cursor.astimezone(zone).date() - timedelta(days=1)  # a window may span midnight UTC
    for _ in range(MAX_CALENDAR_DAYS):
        if day.weekday() in calendar.working_days:
            opens, closes = _working_window(day, calendar, zone)
            begin = max(opens, cursor)
            if begin < closes:
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
                cursor = closes
        day += timedelta(days=1)
    raise ValueError(f"a target of {seconds}s does not fit in {MAX_CALENDAR_DAYS} calendar days")


def clock_for(
    policy_id: int, policy: SlaPolicy, stage: Stage, started_at: datetime
) -> Clock | None:
    """The stage's clock under the policy; None when the policy sets no target for it."""
    target = policy.targets_seconds.get(stage)
    if target is None:
        return None
    return Clock(
        policy_id=policy_id,
        target_seconds=target,
        warn_at=business_deadline(started_at, target * policy.warning_threshold, policy.calendar),
        deadline=business_deadline(started_at, target, policy.calendar),
        policy_key=policy.policy_key,
        policy_version=POLICY_VERSION,
        service_credit_pct=policy.service_credit_pct,
    )


def stage_status(
    *,
    ended_at: datetime | None,
    warn_at: datetime | None,
    deadline: datetime | None,
    now: datetime,
) -> Status:
    """met / breached for a closed stage (by its real end), open / warning / breached while it runs.

    A stage without a target (no policy) that has closed is met: there was nothing to miss.
    """
    if ended_at is not None:
        return Status.BREACHED if deadline is not None and ended_at > deadline else Status.MET
    if deadline is not None and now >= deadline:
        return Status.BREACHED
    if warn_at is not None and now >= warn_at:
        return Status.WARNING
    return Status.OPEN


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
        not fired yet, or events arrived late)."""
        if self.ended_at is None:
            return ()
        return self.alarms_due(self.ended_at)


def on_time_percent(met: int, breached: int) -> float | None:
    """Share of decided stages that met their deadline; None when none was decided."""
    decided = met + breached
    return round(100.0 * met / decided, 1) if decided else None
