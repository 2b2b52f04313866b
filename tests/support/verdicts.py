"""Helpers of the monitoring tests that fire SLA clocks in process: what the watermark sampler
would have stored, had monitoring's consumer read the topics that end stages that far."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from monitoring.sla import watermark_store
from monitoring.sla.watermarks import VerdictRule
from monitoring.timeline.clocks import fire_due_clocks
from monitoring.timeline.sinks import AlarmSink
from supplychain_contracts import OrderPlaced

from support.events import order_placed

# Alarms due as soon as their time is known, and known only through the watermarks.
NO_GRACE = VerdictRule(relay_grace=timedelta(0), max_lateness=timedelta(days=365))


async def caught_up(pool: asyncpg.Pool, *, until: datetime, partitions: int = 1) -> None:
    """Monitoring has applied every record the topics that end stages held at `until` (on each
    of their first `partitions` partitions)."""
    known = {
        (topic, partition): until
        for topic in watermark_store.WATCHED_TOPICS
        for partition in range(partitions)
    }
    async with pool.acquire() as conn:
        await watermark_store.record_known_until(conn, known, sampled_at=until)


async def fire_caught_up(
    pool: asyncpg.Pool, sink: AlarmSink, *, now: datetime, rule: VerdictRule = NO_GRACE
) -> int:
    """The clock scan at `now`, monitoring having read every topic up to `now`."""
    await caught_up(pool, until=now)
    return await fire_due_clocks(pool, sink, now=now, rule=rule)


def wheels_order(at: datetime) -> OrderPlaced:
    """An order ASSEMBLY placed with WHEELS at `at` (the sample company times its stages)."""
    return order_placed(
        occurred_at=at,
        producer="order-intake",
        supplier="WHEELS",
        sku="WHEEL-26",
        quantity=2,
        unit_price="40.00",
    )
