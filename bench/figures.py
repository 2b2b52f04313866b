"""Small figures the bench's phases share: percentiles, milliseconds, completion rates."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f}"


def per_second(times: list[float]) -> float:
    """Events per second over the span of their times (epoch seconds): the completion rate of
    a phase, not diluted by the wait for its first event."""
    if len(times) < 2:
        return 0.0
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else float(len(times))
