"""Business calendars of monitoring (monitoring.calendars, monitoring.sla), pure: deadlines
across weekends, public holidays, closure days and daylight saving changes; which calendar a
policy counts in; what makes a calendar unusable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from monitoring.reference.calendars import (
    FieldProblem,
    calendar_problems,
    is_working_day,
    public_holidays,
)
from monitoring.reference.versions import SINCE_EVER, Version
from monitoring.sla.rules import business_deadline, calendar_for
from supplychain_contracts.company import BusinessCalendar, NamedCalendar, SlaPolicy

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0
WEEKDAYS, EVERY_DAY = (0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5, 6)
# Berlin office: Monday to Friday 09:00-17:00, Berlin's public holidays, closed on New Year's Eve.
OFFICE = BusinessCalendar(
    time_zone="Europe/Berlin",
    working_days=WEEKDAYS,
    start_hour=9,
    end_hour=17,
    holidays_country="DE",
    holidays_subdivision="BE",
    closure_days=(date(2026, 12, 31),),
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def office(**changes: object) -> BusinessCalendar:
    return OFFICE.model_copy(update=changes)


# --- deadlines -------------------------------------------------------------------------------


def test_a_deadline_across_a_weekend() -> None:
    # Friday 2026-11-06 16:00 + 2 h: 1 h on Friday, 1 h from 09:00 on Monday
    assert business_deadline(berlin(2026, 11, 6, 16), 2 * HOUR, OFFICE) == berlin(2026, 11, 9, 10)


def test_a_deadline_across_public_holidays() -> None:
    # Thursday 2026-12-24 16:00 + 2 h, working every day: Christmas (Friday 25th) and the
    # second day of Christmas (Saturday 26th) are Berlin's public holidays: Sunday 27th 10:00
    every_day = office(working_days=EVERY_DAY)
    start = berlin(2026, 12, 24, 16)
    assert business_deadline(start, 2 * HOUR, every_day) == berlin(2026, 12, 27, 10)
    # the same calendar without public holidays counts Christmas Day
    plain = every_day.model_copy(update={"holidays_country": None, "holidays_subdivision": None})
    assert business_deadline(start, 2 * HOUR, plain) == berlin(2026, 12, 25, 10)
    # Monday to Friday: the holidays, then the weekend: Monday 28th
    assert business_deadline(start, 2 * HOUR, OFFICE) == berlin(2026, 12, 28, 10)


def test_a_deadline_across_a_closure_day() -> None:
    # Wednesday 2026-12-30 16:00 + 2 h: closed on Thursday 31st (the company), New Year's Day
    # (Friday) is a public holiday, then the weekend: Monday 2027-01-04 10:00
    assert business_deadline(berlin(2026, 12, 30, 16), 2 * HOUR, OFFICE) == berlin(2027, 1, 4, 10)
    # a closure day alone: Monday 2026-11-02 16:00 + 2 h, closed on Tuesday 3rd
    closed = office(closure_days=(date(2026, 11, 3),))
    assert business_deadline(berlin(2026, 11, 2, 16), 2 * HOUR, closed) == berlin(2026, 11, 4, 10)


def test_a_deadline_across_the_end_of_daylight_saving_time() -> None:
    # Clocks go back at 03:00 on Sunday 2026-10-25 in Berlin (CEST → CET).
    # Office hours: Friday 23rd 16:00 + 2 h → Monday 26th 10:00 local, 09:00 UTC (CET) while
    # Friday 16:00 was 14:00 UTC (CEST).
    deadline = business_deadline(berlin(2026, 10, 23, 16), 2 * HOUR, OFFICE)
    assert deadline == berlin(2026, 10, 26, 10)
    assert deadline.astimezone(UTC) == datetime(2026, 10, 26, 9, tzinfo=UTC)
    # Round the clock in Berlin: 24 h of working time from Saturday noon is 24 real hours,
    # which the wall clock shows as 11:00 on Sunday (its day has 25 hours).
    around = BusinessCalendar(time_zone="Europe/Berlin")
    start = berlin(2026, 10, 24, 12)
    deadline = business_deadline(start, 24 * HOUR, around)
    assert deadline - start == timedelta(hours=24)
    assert deadline == berlin(2026, 10, 25, 11)
    # Sunday alone, midnight to midnight, holds 25 hours of working time
    sunday = BusinessCalendar(time_zone="Europe/Berlin", working_days=(6,))
    midnight = berlin(2026, 10, 25, 0)
    assert business_deadline(midnight, 25 * HOUR, sunday) == berlin(2026, 10, 26, 0)


def test_a_deadline_across_the_start_of_daylight_saving_time() -> None:
    # Clocks go forward at 02:00 on Sunday 2026-03-29: that day has 23 hours
    sunday = BusinessCalendar(time_zone="Europe/Berlin", working_days=(6,))
    midnight = berlin(2026, 3, 29, 0)
    assert business_deadline(midnight, 23 * HOUR, sunday) == berlin(2026, 3, 30, 0)
    assert business_deadline(midnight, 24 * HOUR, sunday) == berlin(2026, 4, 5, 1)


# --- working days ----------------------------------------------------------------------------


def test_working_days_are_neither_holidays_nor_closure_days() -> None:
    assert is_working_day(date(2026, 12, 23), OFFICE)
    assert not is_working_day(date(2026, 12, 25), OFFICE)  # Christmas Day
    assert not is_working_day(date(2026, 12, 31), OFFICE)  # closure day
    assert not is_working_day(date(2026, 12, 27), office(working_days=WEEKDAYS))  # Sunday


def test_holidays_depend_on_the_subdivision() -> None:
    # International Women's Day is a public holiday in Berlin, not in all of Germany
    assert date(2026, 3, 8) in public_holidays("DE", "BE", 2026)
    assert date(2026, 3, 8) not in public_holidays("DE", None, 2026)
    assert date(2026, 12, 25) in public_holidays("DE", None, 2026)


# --- what makes a calendar unusable ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"holidays_country": "XX"}, "holidays_country", "unknown holidays country 'XX'"),
        ({"holidays_country": "de"}, "holidays_country", "unknown holidays country 'de'"),
        ({"holidays_subdivision": "ZZ"}, "holidays_subdivision", "unknown subdivision 'ZZ' of DE"),
        (
            {"holidays_country": None},
            "holidays_subdivision",
            "a subdivision needs holidays_country",
        ),
        ({"time_zone": "Europe/Atlantis"}, "time_zone", "unknown time zone"),
        ({"working_days": ()}, "working_days", "needs a working day"),
        ({"working_days": (0, 7)}, "working_days", "0 (Monday) to 6 (Sunday)"),
        ({"start_hour": 17, "end_hour": 9}, "end_hour", "must end after it starts"),
    ],
)
def test_an_unusable_calendar_is_refused_by_field(
    changes: dict[str, object], field: str, words: str
) -> None:
    problems = calendar_problems(office(**changes))
    assert [p.field for p in problems] == [field]
    assert words in problems[0].message


def test_a_usable_calendar_has_no_problem() -> None:
    assert calendar_problems(OFFICE) == []
    assert calendar_problems(BusinessCalendar()) == []
    assert calendar_problems(office(holidays_subdivision=None)) == []
    subdivisions = calendar_problems(office(holidays_subdivision="XY"))
    assert (
        subdivisions == [FieldProblem("holidays_subdivision", subdivisions[0].message)]
        and "BE" in subdivisions[0].message
    )  # the known ones are listed


# --- the calendar a policy counts in ---------------------------------------------------------

CHANGED_AT = datetime(2026, 11, 10, tzinfo=UTC)


def named(version: int, effective_from: datetime, *, start_hour: int) -> Version[NamedCalendar]:
    calendar = NamedCalendar(code="BERLIN", time_zone="Europe/Berlin", start_hour=start_hour)
    return Version(
        key="BERLIN",
        number=1,
        version=version,
        effective_from=effective_from,
        active=True,
        content=calendar,
        changed_by="company-file",
        changed_at=effective_from,
    )


def test_a_policy_counts_in_its_named_calendar_as_it_was_when_the_stage_started() -> None:
    policy = SlaPolicy(supplier="ASSEMBLY", targets_seconds={}, calendar_code="BERLIN")
    history = [named(1, SINCE_EVER, start_hour=8), named(2, CHANGED_AT, start_hour=10)]
    before = CHANGED_AT - timedelta(seconds=1)
    assert calendar_for(policy, history, before).start_hour == 8
    assert calendar_for(policy, history, CHANGED_AT).start_hour == 10
    # a stage older than the calendar's first version counts in that first version
    later = [named(1, CHANGED_AT, start_hour=10)]
    assert calendar_for(policy, later, before).start_hour == 10


def test_a_policy_without_a_named_calendar_counts_in_its_own() -> None:
    own = BusinessCalendar(time_zone="Europe/Berlin", start_hour=6)
    policy = SlaPolicy(supplier="ASSEMBLY", targets_seconds={}, calendar=own)
    assert calendar_for(policy, [named(1, SINCE_EVER, start_hour=8)], CHANGED_AT) == own
