"""Paused SLA clocks on the real PostgreSQL (issue 15, item 3): under the sample company's
FRAMES policy (24/7 UTC, acceptance 30 s, fulfilment 300 s, warning at 75 %, pausing on the
requester and on sub-orders) a wait stops the supplier's clock, the scheduler leaves it alone,
the answer moves its deadline, a stage ending while paused ends its pause; SlaPaused and
SlaResumed go to the outbox once each, however often the events come; and the results are the
same whichever topic is read first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.replay.repair import compare
from monitoring.timeline import store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting, Silent
from prometheus_client import REGISTRY
from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    HelpAnswered,
    HelpAwaitingRequester,
    OrderAccepted,
    OrderPlaced,
    OrderShipped,
    SlaPaused,
    SlaResumed,
    Stage,
    follow_up,
)
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.events import RequestedComponent, SlaClockPause
from supplychain_kit import db
from support.events import order_placed
from support.service import apply_events, outbox_events
from support.verdicts import fire_caught_up

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUPPLIER = "FRAMES"


async def monitoring_schema(url: str, schema: str) -> asyncpg.Pool:
    pool = await db.create_pool(url, schema=schema, max_size=2)
    files = db.kit_migrations() + db.package_migrations("monitoring")
    await db.migrate(pool, schema=schema, files=files)
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    return pool


def placed() -> OrderPlaced:
    return order_placed(
        occurred_at=T0, producer="order-intake", supplier=SUPPLIER, unit_price="104.50"
    )


def after(order: OrderPlaced, model: type[Any], seconds: float, **fields: Any) -> Any:
    at = order.occurred_at + timedelta(seconds=seconds)
    return follow_up(order, model, producer="fulfilment", occurred_at=at, **fields)


def asked_and_answered(order: OrderPlaced, asked: float, answered: float) -> list[Any]:
    help_id = uuid.uuid4()
    return [
        after(order, HelpAwaitingRequester, asked, help_event_id=help_id, question="which size?"),
        after(order, HelpAnswered, answered, help_event_id=help_id, answer="56 cm"),
    ]


def components(order: OrderPlaced, requested: float) -> Any:
    part = RequestedComponent(
        order_id=uuid.uuid4(), sku="TUBE-AL-6061", quantity=3, supplier="METALWORKS"
    )
    return after(order, ComponentsRequested, requested, components=(part,))


async def stage_of(pool: asyncpg.Pool, order_id: uuid.UUID, stage: Stage) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM stages WHERE order_id = $1 AND stage = $2", order_id, stage.value
        )
    assert row is not None
    return dict(row)


async def pause_events(pool: asyncpg.Pool) -> list[SlaClockPause]:
    async with pool.acquire() as conn:
        return [e for e in await outbox_events(conn) if isinstance(e, SlaClockPause)]


async def alarms_of(pool: asyncpg.Pool, stage: Stage) -> list[str]:
    async with pool.acquire() as conn:
        return [
            e.event_type
            for e in await outbox_events(conn)
            if e.event_type in ("SlaWarning", "SlaBreached") and e.stage is stage
        ]


def pauses_counted(reason: str) -> float:
    labels = {"stage": "fulfilment", "supplier": SUPPLIER, "reason": reason}
    return REGISTRY.get_sample_value("supplychain_sla_pauses_total", labels) or 0.0


async def test_a_wait_on_the_requester_stops_the_clock_and_the_answer_moves_its_deadline(
    database: Any,
) -> None:
    pool = await monitoring_schema(database.new_database(), "monitoring")
    apply = event_applier(Emitting())
    counted = pauses_counted("awaiting_requester")
    try:
        order = placed()
        asked, answered = asked_and_answered(order, asked=60, answered=160)
        await apply_events(pool, apply, order, after(order, OrderAccepted, 10), asked)

        fulfilment = await stage_of(pool, order.order_id, Stage.FULFILMENT)
        assert fulfilment["paused_since"] == T0 + timedelta(seconds=60)
        # its warning (225 s of 300) and deadline fall after the pause began: unknown meanwhile
        assert (fulfilment["warn_at"], fulfilment["deadline"]) == (None, None)
        # long past the unpaused deadline (T0 + 310 s): the scheduler leaves it alone
        await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=400))
        assert await alarms_of(pool, Stage.FULFILMENT) == []
        # the acceptance ended before the wait: untouched
        acceptance = await stage_of(pool, order.order_id, Stage.ACCEPTANCE)
        assert (acceptance["deadline"], acceptance["paused_s"]) == (T0 + timedelta(seconds=30), 0)

        await apply_events(pool, apply, answered)
        fulfilment = await stage_of(pool, order.order_id, Stage.FULFILMENT)
        assert fulfilment["paused_since"] is None
        assert fulfilment["paused_s"] == 100.0
        assert fulfilment["warn_at"] == T0 + timedelta(seconds=10 + 225 + 100)
        assert fulfilment["deadline"] == T0 + timedelta(seconds=10 + 300 + 100)

        # redelivered, all of them: nothing changes, nothing is announced twice
        await apply_events(pool, apply, order, after(order, OrderAccepted, 10), asked, answered)
        assert await stage_of(pool, order.order_id, Stage.FULFILMENT) == fulfilment
        paused, resumed = await pause_events(pool)
        assert isinstance(paused, SlaPaused) and isinstance(resumed, SlaResumed)
        assert (paused.stage, paused.reason.value) == (Stage.FULFILMENT, "awaiting_requester")
        assert paused.paused_at == T0 + timedelta(seconds=60)
        assert paused.causation_id == asked.event_id
        assert (paused.policy_id, paused.policy_version) == (SUPPLIER, 1)
        assert resumed.resumed_at == T0 + timedelta(seconds=160)
        assert resumed.paused_seconds == 100.0
        assert resumed.deadline == fulfilment["deadline"]
        assert resumed.causation_id == answered.event_id
        assert pauses_counted("awaiting_requester") == counted + 1

        # shipped at 400 s: in time, though the unpaused deadline was 310 s
        await apply_events(pool, apply, after(order, OrderShipped, 400))
        fulfilment = await stage_of(pool, order.order_id, Stage.FULFILMENT)
        assert fulfilment["duration_s"] == 390.0
        assert fulfilment["ended_at"] <= fulfilment["deadline"]
        await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=500))
        assert await alarms_of(pool, Stage.FULFILMENT) == []
    finally:
        await pool.close()


async def test_a_deadline_missed_before_the_pause_began_still_fires(database: Any) -> None:
    """The deadline (310 s) passed before the wait began (320 s), the scan had not fired it
    yet: its alarms are due though the clock now stands still. One paused before its deadline
    fires nothing (the test above)."""
    pool = await monitoring_schema(database.new_database(), "monitoring")
    try:
        order = placed()
        asked, _ = asked_and_answered(order, asked=320, answered=900)
        apply = event_applier(Emitting())
        await apply_events(pool, apply, order, after(order, OrderAccepted, 10), asked)
        fulfilment = await stage_of(pool, order.order_id, Stage.FULFILMENT)
        assert fulfilment["paused_since"] == T0 + timedelta(seconds=320)
        assert fulfilment["deadline"] == T0 + timedelta(seconds=310)
        await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=600))
        assert await alarms_of(pool, Stage.FULFILMENT) == ["SlaWarning", "SlaBreached"]
    finally:
        await pool.close()


async def test_a_stage_that_ends_while_blocked_ends_its_pause(database: Any) -> None:
    pool = await monitoring_schema(database.new_database(), "monitoring")
    apply = event_applier(Emitting())
    try:
        order = placed()
        events = [order, after(order, OrderAccepted, 10), components(order, 20)]
        await apply_events(pool, apply, *events)
        await fire_caught_up(pool, Emitting(), now=T0 + timedelta(seconds=600))
        assert await alarms_of(pool, Stage.FULFILMENT) == []

        # shipped at 700 s without ComponentsReceived: the pause ends with the stage
        await apply_events(pool, apply, after(order, OrderShipped, 700))
        fulfilment = await stage_of(pool, order.order_id, Stage.FULFILMENT)
        assert fulfilment["paused_since"] is None
        assert fulfilment["paused_s"] == 680.0
        assert fulfilment["deadline"] == T0 + timedelta(seconds=10 + 300 + 680)
        paused, resumed = await pause_events(pool)
        assert isinstance(paused, SlaPaused) and isinstance(resumed, SlaResumed)
        assert (resumed.reason.value, resumed.resumed_at) == (
            "blocked_on_sub_orders",
            T0 + timedelta(seconds=700),
        )
        # the sub-orders' delivery afterwards changes nothing
        late = after(order, ComponentsReceived, 710, sub_order_ids=(uuid.uuid4(),))
        await apply_events(pool, apply, late)
        assert await stage_of(pool, order.order_id, Stage.FULFILMENT) == fulfilment
        assert len(await pause_events(pool)) == 2
    finally:
        await pool.close()


async def test_a_pause_seen_before_its_order_gives_the_same_clocks(database: Any) -> None:
    """Live in time, and a replay reading the orders topic last (the pause known before the
    acceptance clock is set), agree stage by stage; the replay announces nothing."""
    url = database.new_database()
    live = await monitoring_schema(url, "monitoring")
    lagging = await monitoring_schema(url, "monitoring_lag")
    try:
        order, other = placed(), placed()
        events: list[Envelope] = [
            order,
            *asked_and_answered(order, asked=5, answered=25),  # during acceptance
            after(order, OrderAccepted, 40),
            components(order, 50),
            after(order, ComponentsReceived, 90, sub_order_ids=(uuid.uuid4(),)),
            *asked_and_answered(order, asked=80, answered=120),  # overlaps the block
            other,
            after(other, OrderAccepted, 10),
            *asked_and_answered(other, asked=15, answered=2000)[:1],  # never answered
        ]
        await apply_events(live, event_applier(Emitting()), *events)
        orders_last = [e for e in events if not isinstance(e, OrderPlaced)] + [order, other]
        await apply_events(lagging, event_applier(Silent()), *orders_last)

        acceptance = await stage_of(live, order.order_id, Stage.ACCEPTANCE)
        assert acceptance["paused_s"] == 20.0
        assert acceptance["deadline"] == T0 + timedelta(seconds=50)
        fulfilment = await stage_of(live, order.order_id, Stage.FULFILMENT)
        assert fulfilment["paused_s"] == 70.0  # 50 → 120, the overlap once
        async with live.acquire() as conn:
            live_rows = await store.stage_results(conn, schema="monitoring")
            lag_rows = await store.stage_results(conn, schema="monitoring_lag")
        compared = compare(live_rows, lag_rows, now=T0 + timedelta(seconds=1000))
        assert compared.differences == []
        paused = {(r["order_id"], r["stage"]) for r in live_rows if r["paused_since"]}
        assert paused == {(other.order_id, "fulfilment")}
        assert await pause_events(lagging) == []
        assert len(await pause_events(live)) == 2 * 3 + 1  # 3 closed on `order`, 1 open
    finally:
        await live.close()
        await lagging.close()
