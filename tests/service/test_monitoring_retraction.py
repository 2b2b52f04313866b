"""A breach a late ending event proves wrong is retracted (issue 22, item 3), on the real
PostgreSQL: SlaBreachRetracted once (deterministic id, caused by and in the trace of the
ending event, in the outbox of the transaction that applied it), the stage met with its breach
retracted, counted by its own metric; a replay reading the topics in any order rebuilds the
same state and emits nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from monitoring.sla import rules as sla
from monitoring.sla import store as clock_store
from monitoring.sla.alarms import alarm_event_id, retraction_event_id
from monitoring.sla.rules import Alarm
from monitoring.timeline import clocks
from monitoring.timeline import store as timeline_store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting, Silent
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from supplychain_contracts import (
    OrderAccepted,
    OrderPlaced,
    SlaBreached,
    SlaBreachRetracted,
    SlaWarning,
    Stage,
)
from supplychain_kit.messaging.dispatch import ApplyEvent
from supplychain_kit.telemetry import continue_trace
from support.service import ServicePool, apply_events, consumer_transaction, outbox_headers
from support.stage_endings import T0, monitoring_pool, sla_events, then, wheels_order

BREACHED_AT = T0 + timedelta(seconds=33)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def accepted_in_time(order: OrderPlaced) -> OrderAccepted:
    """Accepted 10 s after placement, its relay down past the 30 s deadline."""
    accepted: OrderAccepted = then(order, OrderAccepted, 10)
    return accepted


async def breached_order(pool: asyncpg.Pool, apply: ApplyEvent) -> OrderPlaced:
    """An order placed, its acceptance warned and breached as the clock scan raises them (its
    acceptance not read yet)."""
    order = wheels_order()
    await apply_events(pool, apply, order)
    async with consumer_transaction(pool) as conn:
        record = await conn.fetchrow(
            "SELECT * FROM stages WHERE order_id = $1 AND stage = 'acceptance'",
            order.order_id,
        )
        stage = clock_store.stage_row(record)
        alarms = (Alarm.WARNING, Alarm.BREACH)
        await clocks.raise_alarms(conn, Emitting(), stage, alarms, now=BREACHED_AT)
    return order


async def acceptance(pool: asyncpg.Pool, order_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await timeline_store.handoffs(conn, order_id)
    return next(row for row in rows if row["stage"] == "acceptance")


def retractions_counted() -> float:
    labels = {"stage": "acceptance", "supplier": "WHEELS"}
    return REGISTRY.get_sample_value("supplychain_sla_breaches_retracted_total", labels) or 0.0


async def test_a_late_ending_event_in_time_retracts_the_breach_once_in_its_trace(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    order = await breached_order(pool, apply)
    counted = retractions_counted()

    accepted = accepted_in_time(order)
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    with continue_trace("consume", {"traceparent": traceparent}, kind=SpanKind.CONSUMER):
        await apply_events(pool, apply, accepted)
    await apply_events(pool, apply, accepted)  # redelivered: the stage is closed already

    warning, breach, retraction = await sla_events(pool)
    assert (type(warning), type(breach)) == (SlaWarning, SlaBreached)
    assert isinstance(retraction, SlaBreachRetracted)
    assert retraction.event_id == retraction_event_id(order.order_id, Stage.ACCEPTANCE)
    assert retraction.breach_event_id == breach.event_id
    assert breach.event_id == alarm_event_id(order.order_id, Stage.ACCEPTANCE, Alarm.BREACH)
    assert (retraction.ended_at, retraction.deadline) == (accepted.occurred_at, breach.deadline)
    assert (retraction.ending_event_id, retraction.ending_event_type) == (
        accepted.event_id,
        "OrderAccepted",
    )
    assert retraction.causation_id == accepted.event_id
    assert (retraction.stage, retraction.supplier, retraction.requester) == (
        Stage.ACCEPTANCE,
        "WHEELS",
        "ASSEMBLY",
    )
    async with pool.acquire() as conn:
        headers = (await outbox_headers(conn))[-1]
    assert headers["traceparent"].split("-")[1] == TRACE_ID
    assert retractions_counted() == counted + 1

    # monitoring reads its own retraction back from the SLA topic: nothing changes
    await apply_events(pool, apply, retraction)
    assert len(await sla_events(pool)) == 3
    row = await acceptance(pool, order.order_id)
    assert sla.status_of(row, now=BREACHED_AT).value == "met"
    assert (row["breach_raised"], row["breach_retracted"]) == (True, True)
    assert retractions_counted() == counted + 1


async def test_an_ending_event_after_the_deadline_retracts_nothing(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    apply = event_applier(Emitting())
    order = await breached_order(pool, apply)
    late = then(order, OrderAccepted, 40)
    await apply_events(pool, apply, late)

    assert [type(e) for e in await sla_events(pool)] == [SlaWarning, SlaBreached]
    row = await acceptance(pool, order.order_id)
    assert sla.status_of(row, now=BREACHED_AT).value == "breached"
    assert row["breach_retracted"] is False


async def test_a_replay_reading_the_topics_in_any_order_rebuilds_the_retraction_silently(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    live = event_applier(Emitting())
    live_order = await breached_order(pool, live)
    await apply_events(pool, live, accepted_in_time(live_order))
    warning, breach, retraction = await sla_events(pool)

    def as_replayed(event: Any, order: OrderPlaced) -> Any:
        """The same record of another order (the replay here shares the live schema)."""
        ids = {"order_id": order.order_id, "root_order_id": order.order_id}
        return event.model_copy(update={**ids, "event_id": uuid.uuid4()})

    replays = []
    for topic_order in ("sla topic first", "fulfilment topic first"):
        order = wheels_order()
        sla_topic = [as_replayed(e, order) for e in (warning, breach, retraction)]
        ended = accepted_in_time(order)
        events = (
            [*sla_topic, order, ended]
            if topic_order == "sla topic first"
            else [ended, order, *sla_topic]
        )
        await apply_events(pool, event_applier(Silent()), *events)
        replays.append(await acceptance(pool, order.order_id))

    assert len(await sla_events(pool)) == 3  # the replays emitted nothing
    compared = (
        "ended_at",
        "duration_s",
        "deadline",
        "breach_raised",
        "breach_retracted",
        "outcome",
    )
    expected = {name: (await acceptance(pool, live_order.order_id))[name] for name in compared}
    for replayed in replays:
        assert {name: replayed[name] for name in compared} == expected
        assert sla.status_of(replayed, now=BREACHED_AT).value == "met"
