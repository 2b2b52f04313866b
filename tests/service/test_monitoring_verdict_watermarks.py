"""SLA verdicts held while monitoring is behind (issue 22, items 2 and 6), on the real
PostgreSQL: the clock scan raises a warning or breach only once the watermarks say monitoring
has read the topics that could end the stage past its time (plus the relays' grace), or the
maximum lateness has passed; meanwhile the held verdicts are counted (a gauge) and the
console's SLA board says how many and how far behind monitoring is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.console.api import overview, templates
from monitoring.console.model import FINISHED, KEYLESS, GroupTopicLag
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.sla import watermark_store
from monitoring.sla.watermarks import VerdictRule
from monitoring.timeline.clocks import count_held_verdicts, fire_due_clocks
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from prometheus_client import REGISTRY
from supplychain_contracts import SlaBreached, SlaWarning, Stage, topics
from support.service import ServicePool, apply_events, outbox_events
from support.verdicts import caught_up, wheels_order

# The sample company's WHEELS policy: acceptance 30 s (warning at 22.5 s), end to end 300 s.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULE = VerdictRule(relay_grace=timedelta(seconds=5), max_lateness=timedelta(seconds=900))
FULFILMENT, INVOICING = topics.FULFILMENT, topics.INVOICING


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _monitoring_with_an_order(service_pool: ServicePool) -> tuple[asyncpg.Pool, uuid.UUID]:
    pool = await service_pool("monitoring")
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    placed = wheels_order(T0)
    await apply_events(pool, event_applier(Emitting()), placed)
    return pool, placed.order_id


async def _alarms(pool: asyncpg.Pool) -> list[tuple[str, Stage]]:
    async with pool.acquire() as conn:
        events = await outbox_events(conn)
    return [(type(e).__name__, e.stage) for e in events if isinstance(e, SlaWarning | SlaBreached)]


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def _board_html(pool: asyncpg.Pool, *, now: datetime, lag: list[GroupTopicLag]) -> str:
    async with pool.acquire() as conn:
        view = await overview(
            conn, now=now, dead_letters={}, lag=lag, verdicts=RULE, audience=KEYLESS
        )
    return templates.get_template("overview.html").render(finished=FINISHED, view=view)


async def test_verdicts_wait_for_the_watermarks_and_the_board_says_they_are_held(
    service_pool: ServicePool,
) -> None:
    pool, _ = await _monitoring_with_an_order(service_pool)
    now = at(60)  # the acceptance's warning (22.5 s) and deadline (30 s) are long past
    # ... but monitoring has read the fulfilment topic only to 18 s (frozen, or behind)
    await caught_up(pool, until=at(18), partitions=3)

    assert await fire_due_clocks(pool, Emitting(), now=now, rule=RULE) == 0
    assert await _alarms(pool) == []
    await count_held_verdicts(pool, now=now, rule=RULE)
    assert _gauge("supplychain_sla_verdicts_held") == 2
    assert _gauge("supplychain_sla_verdict_lag_seconds") == 42.0
    lag = [
        GroupTopicLag(
            group="monitoring", topic=FULFILMENT, records=80, seconds=42.0, measured_at=now
        ),
        GroupTopicLag(group="monitoring", topic=INVOICING, records=0, seconds=0.0, measured_at=now),
        GroupTopicLag(
            group="fulfilment", topic=topics.ORDERS, records=0, seconds=0.0, measured_at=now
        ),
    ]
    html = await _board_html(pool, now=now, lag=lag)
    assert "2 verdicts held: monitoring is 42.0 s behind" in html
    assert 'fulfilment: caught up</span> · <span class="warn">monitoring: 42.0 s behind' in html

    # one partition has caught up, the others not: still held
    async with pool.acquire() as conn:
        await watermark_store.record_known_until(
            conn,
            {(FULFILMENT, 0): now, (FULFILMENT, 1): at(18), (FULFILMENT, 2): at(18)}
            | {(INVOICING, p): now for p in range(3)},
            sampled_at=now,
        )
    assert await fire_due_clocks(pool, Emitting(), now=now, rule=RULE) == 0

    # monitoring has read everything to the deadline plus the grace: the breach is known
    await caught_up(pool, until=at(35), partitions=3)
    assert await fire_due_clocks(pool, Emitting(), now=now, rule=RULE) == 2
    assert await _alarms(pool) == [
        ("SlaWarning", Stage.ACCEPTANCE),
        ("SlaBreached", Stage.ACCEPTANCE),
    ]
    await count_held_verdicts(pool, now=now, rule=RULE)
    assert _gauge("supplychain_sla_verdicts_held") == 0
    assert "verdicts held" not in await _board_html(pool, now=now, lag=[])


async def test_when_nothing_can_be_known_the_maximum_lateness_raises_the_verdict(
    service_pool: ServicePool,
) -> None:
    pool, _ = await _monitoring_with_an_order(service_pool)  # no watermark was ever sampled
    assert await fire_due_clocks(pool, Emitting(), now=at(60), rule=RULE) == 0
    html = await _board_html(pool, now=at(60), lag=[])
    assert "2 verdicts held: monitoring cannot tell yet how far it has read" in html
    # the deadline plus the maximum lateness: raised (the end to end's are not due yet)
    assert await fire_due_clocks(pool, Emitting(), now=at(30 + 900), rule=RULE) == 2
    assert await _alarms(pool) == [
        ("SlaWarning", Stage.ACCEPTANCE),
        ("SlaBreached", Stage.ACCEPTANCE),
    ]


async def test_a_stage_is_known_as_far_as_every_partition_of_its_ending_topics(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    async with pool.acquire() as conn:
        known = await watermark_store.known_until_by_stage(conn)
        assert set(known.values()) == {None}  # nothing sampled yet

        await watermark_store.record_known_until(
            conn,
            {(FULFILMENT, 0): at(10), (FULFILMENT, 1): at(20), (INVOICING, 0): None},
            sampled_at=at(20),
        )
        known = await watermark_store.known_until_by_stage(conn)
        assert known[Stage.ACCEPTANCE] == known[Stage.END_TO_END] == at(10)  # the oldest
        assert known[Stage.INVOICING] is None  # a partition of its topic known not at all

        # another replica with an older sample never moves a watermark back
        await watermark_store.record_known_until(
            conn,
            {(FULFILMENT, 0): at(5), (FULFILMENT, 1): at(5), (INVOICING, 0): at(30)},
            sampled_at=at(21),
        )
        known = await watermark_store.known_until_by_stage(conn)
        assert known[Stage.ACCEPTANCE] == at(10)
        assert known[Stage.INVOICING] == at(10)  # both its topics: fulfilment's is older

        # a partition the broker no longer has is forgotten
        await watermark_store.record_known_until(
            conn, {(FULFILMENT, 0): at(40), (INVOICING, 0): at(40)}, sampled_at=at(40)
        )
        known = await watermark_store.known_until_by_stage(conn)
        assert known[Stage.ACCEPTANCE] == known[Stage.INVOICING] == at(40)
