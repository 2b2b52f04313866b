"""Business time (contract, pure): which local days a calendar works, when a number of working
seconds runs out, and which SLA policy applies to an order. Shared by monitoring (SLA clocks)
and fulfilment (auto-receipt), so both count the same time under the same policy.

A day is worked when it is one of the calendar's working days, not a public holiday of its
country (and subdivision) as the `holidays` package knows them, and not a closure day of the
company. Holidays are computed, not fetched: the package ships the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays

from supplychain_contracts.company import BusinessCalendar, SlaPolicy

# A calendar with working days always has working time within a week; a target of years of
# working time is a configuration error, not a loop to run forever.
MAX_CALENDAR_DAYS = 3 * 366
# The auto-receipt window of a policy that sets none: this many working days of its calendar.
DEFAULT_AUTO_RECEIPT_WORKING_DAYS = 5


@cache
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of a country (and subdivision) in a year."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def is_working_day(day: date, calendar: BusinessCalendar) -> bool:
    """One of the calendar's working days, not a public holiday and not a closure day."""
    if day.weekday() not in calendar.working_days or day in calendar.closure_days:
        return False
    if calendar.holidays_country is None:
        return True
    holidays_of_year = public_holidays(
        calendar.holidays_country, calendar.holidays_subdivision, day.year
    )
    return day not in holidays_of_year


def working_window(
    day: date, calendar: BusinessCalendar, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """The working hours of a local day, in UTC."""
    start = datetime.combine(day, time(calendar.start_hour), tzinfo=zone)
    if calendar.end_hour == 24:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    else:
        end = datetime.combine(day, time(calendar.end_hour), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def business_deadline(start: datetime, seconds: float, calendar: BusinessCalendar) -> datetime:
    """The instant at which `seconds` of working time have passed since `start`.

    The clock runs only on the calendar's working days that are neither public holidays nor
    closure days, between its start and end hour, in its time zone; outside them it stands
    still. Hours are wall-clock hours of the zone: a working day across a daylight saving
    change is an hour shorter or longer in real time, and the clock counts real time.
    """
    remaining = timedelta(seconds=seconds)
    for begin, closes in working_windows(start, calendar):
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise ValueError(f"a target of {seconds}s does not fit in {MAX_CALENDAR_DAYS} calendar days")


def working_windows(
    start: datetime, calendar: BusinessCalendar
) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's working windows from `start` on (the first one cut at `start`), in UTC and
    in order, over at most MAX_CALENDAR_DAYS: the windows `business_deadline` counts in."""
    if not calendar.working_days:
        raise ValueError("a business calendar needs at least one working day")
    if calendar.start_hour >= calendar.end_hour:
        raise ValueError("a working day must end after it starts")
    return _windows(start, calendar, days=MAX_CALENDAR_DAYS)


def _windows(
    start: datetime, calendar: BusinessCalendar, *, days: int
) -> Iterator[tuple[datetime, datetime]]:
    """The working windows of `days` local days from the day before `start`'s (a window may
    span midnight UTC), each cut at `start`; the one walk over the calendar every count uses."""
    zone = ZoneInfo(calendar.time_zone)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(zone).date() - timedelta(days=1)
    for _ in range(days):
        if is_working_day(day, calendar):
            opens, closes = working_window(day, calendar, zone)
            begin = max(opens, cursor)
            if begin < closes:
                yield begin, closes
        day += timedelta(days=1)


def business_seconds(start: datetime, end: datetime, calendar: BusinessCalendar) -> float:
    """Working time of `calendar` between two instants (0 when `end` is not after `start`):
    the inverse of `business_deadline`, counted over the same windows."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(calendar.time_zone)
    days = (end.astimezone(zone).date() - start.astimezone(zone).date()).days + 2
    worked = (
        min(closes, end) - begin
        for begin, closes in _windows(start, calendar, days=days)
        if begin < end
    )
    return sum(worked, timedelta()).total_seconds()


P = TypeVar("P")


def most_specific_policy(
    candidates: Sequence[P],
    *,
    supplier: str,
    requester: str,
    priority: str | None,
    policy_of: Callable[[P], SlaPolicy],
) -> P | None:
    """The most specific of `candidates` (the policies in force, in the order they were first
    defined; `policy_of` gives each one's policy) of the supplier that fits the requester and
    priority.

    A policy naming the requester beats one naming the priority, which beats the supplier's
    general policy; among equals the first defined wins.
    """

    def fits(policy: SlaPolicy) -> bool:
        return (
            policy.supplier == supplier
            and policy.requester in (None, requester)
            and (policy.priority is None or policy.priority.value == priority)
        )

    def specificity(candidate: P) -> int:
        policy = policy_of(candidate)
        return 2 * (policy.requester is not None) + (policy.priority is not None)

    fitting = [candidate for candidate in candidates if fits(policy_of(candidate))]
    if not fitting:
        return None
    best = max(specificity(candidate) for candidate in fitting)
    return next(candidate for candidate in fitting if specificity(candidate) == best)


def auto_receipt_seconds(policy: SlaPolicy | None, calendar: BusinessCalendar) -> float:
    """Business seconds after shipment when an unconfirmed delivery is confirmed for the
    requester: the policy's own window, else (no window, or no policy) 5 working days of the
    calendar's hours."""
    if policy is not None and policy.auto_receipt_after_seconds is not None:
        return policy.auto_receipt_after_seconds
    hours_per_day = calendar.end_hour - calendar.start_hour
    return DEFAULT_AUTO_RECEIPT_WORKING_DAYS * hours_per_day * 3600.0
