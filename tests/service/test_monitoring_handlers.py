"""Monitoring's handlers and SLA clock job on the real PostgreSQL: events applied the way the
consumer applies them build stages and their clocks; the clock job and late end events raise
SlaWarning / SlaBreached into the outbox once; the replay's silent sink writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.sla.alarms import alarm_event_id
from monitoring.sla.rules import Alarm
from monitoring.sla.watermarks import VerdictRule
from monitoring.timeline import store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import AlarmSink, Emitting, Silent
from prometheus_client import REGISTRY
from supplychain_contracts import (
    FeedbackGiven,
    OrderAccepted,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    Priority,
    SlaBreached,
    SlaWarning,
    Stage,
    WorkCancelled,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.reference import ReferenceEvent
from supplychain_kit.http.auth import EVERY_ROW
from support.events import order_placed
from support.service import ServicePool, apply_events, outbox_events
from support.verdicts import fire_caught_up

# The sample company's WHEELS policy (24/7 UTC calendar, warning at 75 %): acceptance 30 s,
# fulfilment 120 s, end to end 300 s.
SUPPLIER = "WHEELS"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TWO_SECONDS_GRACE = VerdictRule(relay_grace=timedelta(seconds=2), max_lateness=timedelta(days=1))


async def monitoring_pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Monitoring's schema with the SLA policies loaded as main.py's seeder loads them."""
    pool = await service_pool("monitoring")
    owned = owned_reference(MonitoringSettings(), at=T0)
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned, now=T0)
    return pool


def placed(
    *, at: datetime = T0, supplier: str = SUPPLIER, priority: Priority = Priority.STANDARD
) -> OrderPlaced:
    return order_placed(
        occurred_at=at,
        producer="order-intake",
        supplier=supplier,
        employee_id="E-1",
        priority=priority,
        sku="WHEEL-26",
        quantity=2,
        unit_price="40.00",
    )


def accepted(order: OrderPlaced, *, after: float) -> OrderAccepted:
    at = order.occurred_at + timedelta(seconds=after)
    return follow_up(order, OrderAccepted, producer="fulfilment", occurred_at=at)


async def stage_of(pool: asyncpg.Pool, order_id: uuid.UUID, stage: Stage) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM stages WHERE order_id = $1 AND stage = $2", order_id, stage.value
        )
    assert row is not None, f"no {stage} stage for order {order_id}"
    return dict(row)


async def outbox(pool: asyncpg.Pool) -> list[Any]:
    """The SLA events in the outbox (the load at start published the reference data)."""
    async with pool.acquire() as conn:
        return [e for e in await outbox_events(conn) if not isinstance(e, ReferenceEvent)]


def alarms_counted(alarm: Alarm, stage: Stage) -> float:
    name = {Alarm.WARNING: "supplychain_sla_warnings", Alarm.BREACH: "supplychain_sla_breaches"}
    labels = {"stage": stage.value, "supplier": SUPPLIER}
    return REGISTRY.get_sample_value(f"{name[alarm]}_total", labels) or 0.0


def durations_observed(stage: Stage) -> float:
    labels = {"stage": stage.value, "supplier": SUPPLIER, "requester": "ASSEMBLY"}
    return REGISTRY.get_sample_value("supplychain_handoff_duration_seconds_count", labels) or 0.0


# --- stages and clocks -----------------------------------------------------------------------


async def test_a_placed_order_starts_its_timed_stages(service_pool: ServicePool) -> None:
    pool = await monitoring_pool(service_pool)
    order = placed()
    await apply_events(pool, event_applier(Emitting()), order)

    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert (acceptance["started_at"], acceptance["ended_at"]) == (T0, None)
    assert acceptance["target_s"] == 30.0
    assert acceptance["warn_at"] == T0 + timedelta(seconds=22.5)
    assert acceptance["deadline"] == T0 + timedelta(seconds=30)
    assert acceptance["start_event_id"] == order.event_id
    end_to_end = await stage_of(pool, order.order_id, Stage.END_TO_END)
    assert end_to_end["deadline"] == T0 + timedelta(seconds=300)
    assert acceptance["policy_id"] == end_to_end["policy_id"] is not None
    assert (acceptance["policy_key"], acceptance["policy_version"]) == (SUPPLIER, 1)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stages") == 2
        assert await store.order_priority(conn, order.order_id) == "standard"
        assert await store.order_visible(conn, order.order_id, visible=EVERY_ROW)
    assert await outbox(pool) == []


async def test_an_end_in_time_closes_the_stage_once_and_starts_the_next(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    order = placed()
    observed = durations_observed(Stage.ACCEPTANCE)
    await apply_events(pool, apply, order, accepted(order, after=12))
    await apply_events(pool, apply, accepted(order, after=20))  # a second end: the first one wins

    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert acceptance["ended_at"] == T0 + timedelta(seconds=12)
    assert acceptance["duration_s"] == 12.0
    assert (acceptance["warning_raised_at"], acceptance["breach_raised_at"]) == (None, None)
    assert durations_observed(Stage.ACCEPTANCE) == observed + 1
    fulfilment = await stage_of(pool, order.order_id, Stage.FULFILMENT)
    assert fulfilment["started_at"] == T0 + timedelta(seconds=12)
    assert fulfilment["deadline"] == T0 + timedelta(seconds=12 + 120)
    assert await outbox(pool) == []


async def test_a_later_stage_is_timed_by_the_priority_of_its_order(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    rush = placed(supplier="ASSEMBLY", priority=Priority.RUSH)
    standard = placed(supplier="ASSEMBLY")
    await apply_events(
        pool, apply, rush, standard, accepted(rush, after=5), accepted(standard, after=5)
    )

    # OrderAccepted carries no priority: the stored order's decides (ASSEMBLY: rush 300 s, 600 s)
    rush_fulfilment = await stage_of(pool, rush.order_id, Stage.FULFILMENT)
    standard_fulfilment = await stage_of(pool, standard.order_id, Stage.FULFILMENT)
    assert (rush_fulfilment["target_s"], standard_fulfilment["target_s"]) == (300.0, 600.0)
    assert (await stage_of(pool, rush.order_id, Stage.ACCEPTANCE))["target_s"] == 10.0


async def test_events_without_boundaries_are_kept_on_the_timeline_only(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    order = placed()
    rejected = follow_up(order, OrderRejected, producer="fulfilment", reason="no stock")
    work = follow_up(order, WorkStarted, producer="fulfilment")
    feedback = follow_up(order, FeedbackGiven, producer="retail", rating=4)
    await apply_events(pool, event_applier(Emitting()), order, work, rejected, feedback)

    async with pool.acquire() as conn:
        types = await conn.fetch("SELECT event_type FROM handoff_events ORDER BY event_type")
        assert [row["event_type"] for row in types] == [
            "FeedbackGiven",
            "OrderPlaced",
            "OrderRejected",
            "WorkStarted",
        ]
        assert await conn.fetchval("SELECT rating FROM feedback") == 4
        stages = await conn.fetch("SELECT stage FROM stages ORDER BY stage")
    assert [row["stage"] for row in stages] == ["acceptance", "end_to_end"]
    assert (await stage_of(pool, order.order_id, Stage.ACCEPTANCE))["duration_s"] is not None


# --- the clock job -----------------------------------------------------------------------------


async def test_the_clock_job_raises_the_warning_then_the_breach_once_each(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    order = placed()
    await apply_events(pool, event_applier(Emitting()), order)
    warnings = alarms_counted(Alarm.WARNING, Stage.ACCEPTANCE)
    breaches = alarms_counted(Alarm.BREACH, Stage.ACCEPTANCE)
    sink = Emitting()

    assert await fire_caught_up(pool, sink, now=T0 + timedelta(seconds=20)) == 0
    at_warning = T0 + timedelta(seconds=25)
    assert await fire_caught_up(pool, sink, now=at_warning) == 1
    assert await fire_caught_up(pool, sink, now=at_warning) == 0
    (warning,) = await outbox(pool)
    assert isinstance(warning, SlaWarning)
    assert (warning.order_id, warning.stage, warning.occurred_at) == (
        order.order_id,
        Stage.ACCEPTANCE,
        at_warning,
    )
    assert warning.causation_id == order.event_id
    assert warning.deadline == T0 + timedelta(seconds=30)
    assert alarms_counted(Alarm.WARNING, Stage.ACCEPTANCE) == warnings + 1

    # past the deadline, but an end event may still be on its way for the relays' grace
    past_deadline = T0 + timedelta(seconds=31)
    assert await fire_caught_up(pool, sink, now=past_deadline, rule=TWO_SECONDS_GRACE) == 0
    for _ in range(2):
        await fire_caught_up(pool, sink, now=past_deadline + timedelta(seconds=2))
    events = await outbox(pool)
    assert [type(event) for event in events] == [SlaWarning, SlaBreached]
    assert events[1].event_id == alarm_event_id(order.order_id, Stage.ACCEPTANCE, Alarm.BREACH)
    assert alarms_counted(Alarm.BREACH, Stage.ACCEPTANCE) == breaches + 1
    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert acceptance["warning_raised_at"] == at_warning
    assert acceptance["breach_raised_at"] == past_deadline + timedelta(seconds=2)


async def test_a_late_scan_raises_the_warning_with_the_breach(service_pool: ServicePool) -> None:
    pool = await monitoring_pool(service_pool)
    await apply_events(pool, event_applier(Emitting()), placed())
    assert await fire_caught_up(pool, Emitting(), now=T0 + timedelta(hours=1)) == 4
    events = await outbox(pool)
    assert [(type(event), event.stage) for event in events] == [
        (SlaWarning, Stage.ACCEPTANCE),
        (SlaBreached, Stage.ACCEPTANCE),
        (SlaWarning, Stage.END_TO_END),
        (SlaBreached, Stage.END_TO_END),
    ]  # ordered by deadline
    assert len({event.event_id for event in events}) == 4


async def test_a_closed_stage_is_never_claimed_by_the_clock(service_pool: ServicePool) -> None:
    pool = await monitoring_pool(service_pool)
    order = placed()
    await apply_events(pool, event_applier(Emitting()), order, accepted(order, after=10))
    assert await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=60)) == 0
    assert await outbox(pool) == []


# --- late end events ---------------------------------------------------------------------------


async def test_an_end_event_after_the_deadline_raises_the_breach_itself(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    order = placed()
    breaches = alarms_counted(Alarm.BREACH, Stage.ACCEPTANCE)
    late = accepted(order, after=45)  # the clock job had not fired: events arrived late
    await apply_events(pool, apply, order, late)
    await apply_events(pool, apply, accepted(order, after=50))

    events = await outbox(pool)
    assert [type(event) for event in events] == [SlaWarning, SlaBreached]
    assert {event.stage for event in events} == {Stage.ACCEPTANCE}
    assert alarms_counted(Alarm.BREACH, Stage.ACCEPTANCE) == breaches + 1
    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert acceptance["duration_s"] == 45.0
    assert acceptance["breach_raised_at"] is not None
    # the clock job finds nothing left to raise for the closed stage
    assert await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=60)) == 0
    assert len(await outbox(pool)) == 2


async def test_a_late_end_after_the_warning_raises_only_the_breach(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    order = placed()
    await apply_events(pool, apply, order)
    await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=25))
    await apply_events(pool, apply, accepted(order, after=40))
    assert [type(event) for event in await outbox(pool)] == [SlaWarning, SlaBreached]


async def test_an_end_after_the_warning_but_in_time_raises_nothing_more(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    order = placed()
    await apply_events(pool, apply, order, accepted(order, after=25))  # warning due, deadline met
    assert await outbox(pool) == []
    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert (acceptance["warning_raised_at"], acceptance["breach_raised_at"]) == (None, None)


# --- the replay's silent sink ------------------------------------------------------------------


async def test_the_silent_sink_rebuilds_the_same_state_and_writes_nothing(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    replay: AlarmSink = Silent()
    apply = event_applier(replay)
    order = placed()
    breaches = alarms_counted(Alarm.BREACH, Stage.ACCEPTANCE)
    observed = durations_observed(Stage.ACCEPTANCE)
    await apply_events(pool, apply, order, accepted(order, after=45))
    # fulfilment (started by the acceptance) and end to end are both past their deadlines
    assert await fire_caught_up(pool, replay, now=T0 + timedelta(hours=1)) == 4

    assert await outbox(pool) == []
    assert alarms_counted(Alarm.BREACH, Stage.ACCEPTANCE) == breaches
    assert durations_observed(Stage.ACCEPTANCE) == observed
    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert acceptance["duration_s"] == 45.0
    assert acceptance["breach_raised_at"] is not None  # marked raised all the same
    for running in (Stage.FULFILMENT, Stage.END_TO_END):
        stage = await stage_of(pool, order.order_id, running)
        assert stage["warning_raised_at"] is not None
        assert stage["breach_raised_at"] is not None


async def test_the_replay_learns_raised_alarms_from_the_sla_topic(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    order = placed()
    clock = {"stage": Stage.ACCEPTANCE, "started_at": T0, "target_seconds": 30.0}
    deadline = T0 + timedelta(seconds=30)
    warning = follow_up(
        order,
        SlaWarning,
        producer="monitoring",
        occurred_at=T0 + timedelta(seconds=23),
        deadline=deadline,
        **clock,
    )
    breach = follow_up(
        order,
        SlaBreached,
        producer="monitoring",
        occurred_at=T0 + timedelta(seconds=31),
        deadline=deadline,
        **clock,
    )

    # the replay may read the SLA topic before the order's own topics
    await apply_events(
        pool, event_applier(Silent()), warning, breach, order, accepted(order, after=45)
    )
    acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
    assert acceptance["warning_raised_at"] == warning.occurred_at
    assert acceptance["breach_raised_at"] == breach.occurred_at  # not raised again at the end
    assert (acceptance["duration_s"], acceptance["deadline"]) == (45.0, deadline)
    assert await outbox(pool) == []


async def test_cancelled_work_ends_the_running_stages_in_any_order_the_topics_are_read(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)

    def cancelled_chain() -> list[Any]:
        order = placed()
        return [
            order,
            accepted(order, after=5),
            follow_up(
                order,
                OrderCancelled,
                producer="order-intake",
                occurred_at=T0 + timedelta(seconds=8),
            ),
            follow_up(
                order, WorkCancelled, producer="fulfilment", occurred_at=T0 + timedelta(seconds=10)
            ),
        ]

    live, replayed = cancelled_chain(), cancelled_chain()
    await apply_events(pool, event_applier(Emitting()), *live)
    # a replay may read fulfilment's topic (accepted, cancelled work) before the orders topic
    await apply_events(pool, event_applier(Silent()), *replayed[1:], *replayed[:1])

    def ends(rows: dict[Stage, dict[str, Any]]) -> dict[Stage, tuple[Any, ...]]:
        return {s: (r["started_at"], r["ended_at"], r["duration_s"]) for s, r in rows.items()}

    stages = (Stage.ACCEPTANCE, Stage.FULFILMENT, Stage.END_TO_END)
    results = [
        ends({s: await stage_of(pool, chain[0].order_id, s) for s in stages})
        for chain in (live, replayed)
    ]
    assert results[0] == results[1]
    assert results[0] == {
        Stage.ACCEPTANCE: (T0, T0 + timedelta(seconds=5), 5.0),  # accepted before
        Stage.FULFILMENT: (T0 + timedelta(seconds=5), T0 + timedelta(seconds=10), 5.0),
        Stage.END_TO_END: (T0, T0 + timedelta(seconds=10), 10.0),
    }
    # the request alone ends nothing
    requested = placed()
    await apply_events(
        pool,
        event_applier(Emitting()),
        requested,
        follow_up(requested, OrderCancelled, producer="order-intake", occurred_at=T0),
    )
    assert (await stage_of(pool, requested.order_id, Stage.END_TO_END))["ended_at"] is None
