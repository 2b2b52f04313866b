"""Supplier scorecards of a month, assembled from the stored timelines."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from pydantic import BaseModel

from monitoring import sla, store


class Scorecard(BaseModel):
    supplier: str
    period: str
    orders_handled: int
    on_time_pct: dict[str, float | None]
    rejected: int
    reject_rate: float | None
    breaches: int
    average_satisfaction: float | None
    ratings: int
    help_requests: int


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next) in UTC; period is YYYY-MM."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def for_period(conn: asyncpg.Connection, *, period: str, now: datetime) -> list[Scorecard]:
    start, end = period_bounds(period)
    handled = await store.orders_handled(conn, start=start, end=end)
    rejected = await store.event_counts(conn, event_type="OrderRejected", start=start, end=end)
    help_requests = await store.event_counts(conn, event_type="HelpRequested", start=start, end=end)
    ratings = await store.satisfaction(conn, start=start, end=end)
    on_time: dict[str, dict[str, float | None]] = {}
    breaches: dict[str, int] = {}
    for row in await store.stage_outcomes(conn, start=start, end=end, now=now):
        supplier = row["supplier"]
        on_time.setdefault(supplier, {})[row["stage"]] = sla.on_time_percent(
            row["met"], row["breached"]
        )
        breaches[supplier] = breaches.get(supplier, 0) + row["breached"]
    suppliers = sorted(
        set(handled) | set(rejected) | set(help_requests) | set(ratings) | set(on_time)
    )
    return [
        Scorecard(
            supplier=supplier,
            period=period,
            orders_handled=handled.get(supplier, 0),
            on_time_pct=on_time.get(supplier, {}),
            rejected=rejected.get(supplier, 0),
            reject_rate=rate(rejected.get(supplier, 0), handled.get(supplier, 0)),
            breaches=breaches.get(supplier, 0),
            average_satisfaction=(round(ratings[supplier][0], 2) if supplier in ratings else None),
            ratings=ratings.get(supplier, (0.0, 0))[1],
            help_requests=help_requests.get(supplier, 0),
        )
        for supplier in suppliers
    ]
