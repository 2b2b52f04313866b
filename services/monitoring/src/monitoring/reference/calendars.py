"""Business calendars (pure): which local days are worked, and what makes a calendar unusable.

A day is worked when it is one of the calendar's working days, not a public holiday of its
country (and subdivision) as the `holidays` package knows them, and not a closure day of the
company. Holidays are computed, not fetched: the package ships the rules.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from supplychain_contracts.business_time import is_working_day as is_working_day
from supplychain_contracts.business_time import public_holidays as public_holidays
from supplychain_contracts.company import BusinessCalendar, FieldProblem


@cache
def _supported_regions() -> dict[str, frozenset[str]]:
    """ISO 3166 country → its subdivisions, as far as the holidays package knows them."""
    return {
        country: frozenset(subdivisions)
        for country, subdivisions in holidays.list_supported_countries().items()
    }


def holiday_region_problems(calendar: BusinessCalendar) -> list[FieldProblem]:
    """An unknown holidays country or subdivision (codes are exact: `DE`, `BE`)."""
    country, subdivision = calendar.holidays_country, calendar.holidays_subdivision
    if country is None:
        if subdivision is None:
            return []
        return [FieldProblem("holidays_subdivision", "a subdivision needs holidays_country")]
    regions = _supported_regions()
    if country not in regions:
        return [
            FieldProblem(
                "holidays_country",
                f"unknown holidays country {country!r}: an ISO 3166 alpha-2 code the holidays "
                "package supports, e.g. 'DE'",
            )
        ]
    if subdivision is not None and subdivision not in regions[country]:
        known = ", ".join(sorted(regions[country])) or "none"
        return [
            FieldProblem(
                "holidays_subdivision",
                f"unknown subdivision {subdivision!r} of {country} (known: {known})",
            )
        ]
    return []


def calendar_problems(calendar: BusinessCalendar) -> list[FieldProblem]:
    """Everything that would make a clock unable to run in the calendar."""
    problems: list[FieldProblem] = []
    try:
        ZoneInfo(calendar.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            FieldProblem(
                "time_zone", f"unknown time zone {calendar.time_zone!r}, e.g. 'Europe/Berlin'"
            )
        )
    if not calendar.working_days:
        problems.append(FieldProblem("working_days", "a business calendar needs a working day"))
    if any(not 0 <= day <= 6 for day in calendar.working_days):
        problems.append(FieldProblem("working_days", "working days are 0 (Monday) to 6 (Sunday)"))
    if calendar.start_hour >= calendar.end_hour:
        problems.append(FieldProblem("end_hour", "a working day must end after it starts"))
    return problems + holiday_region_problems(calendar)
