"""A stage ends with its order (issue 22, item 5), on the real PostgreSQL: a rejection, a
settled cancellation and a block that ends the chain close the order's running stages with
their outcome, never met and never breached after the end, in whichever order the topics are
read; the clock scan leaves them alone; scorecards count them in their own columns."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from monitoring.analytics import scorecards
from monitoring.sla import rules as sla
from monitoring.sla import store as clock_store
from monitoring.timeline import store as timeline_store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting, Silent
from supplychain_contracts import (
    OrderAccepted,
    OrderBlocked,
    OrderCancelled,
    OrderRejected,
    Stage,
    WorkCancelled,
)
from support.service import ServicePool, apply_events
from support.stage_endings import T0, monitoring_pool, sla_events, then, wheels_order

LONG_AFTER = T0 + timedelta(hours=2)  # every deadline of the order has passed


async def stages_of(pool: asyncpg.Pool, order_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await timeline_store.handoffs(conn, order_id)
    return {row["stage"]: row for row in rows}


def statuses(stages: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: sla.status_of(row, now=LONG_AFTER).value for name, row in stages.items()}


async def running(pool: asyncpg.Pool) -> list[Any]:
    """Stages the clock scan could still judge (it claims running stages only)."""
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT order_id, stage FROM stages WHERE ended_at IS NULL")


async def stage_row(pool: asyncpg.Pool, order_id: uuid.UUID, stage: Stage) -> sla.StageRow:
    async with pool.acquire() as conn:
        record = await conn.fetchrow(
            "SELECT * FROM stages WHERE order_id = $1 AND stage = $2", order_id, stage.value
        )
    return clock_store.stage_row(record)


async def test_a_rejection_closes_every_running_stage_rejected_even_long_after_its_deadlines(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    order = wheels_order()
    rejected = then(order, OrderRejected, 3600, reason="no stock")  # past every deadline
    await apply_events(pool, event_applier(Emitting()), order, rejected)

    stages = await stages_of(pool, order.order_id)
    assert statuses(stages) == {"acceptance": "rejected", "end_to_end": "rejected"}
    for row in stages.values():
        assert (row["ended_at"], row["outcome"]) == (rejected.occurred_at, "rejected")
        assert (row["end_event_id"], row["end_event_type"]) == (rejected.event_id, "OrderRejected")
        assert row["breach_raised_at"] is None
    assert await sla_events(pool) == []  # no breach after the end, none at it
    assert await running(pool) == []  # nothing left for the clock scan


async def test_a_settled_cancellation_after_the_deadline_raises_no_breach_and_replays_the_same(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)

    def cancelled_chain() -> list[Any]:
        order = wheels_order()
        return [
            order,
            then(order, OrderAccepted, 5),
            then(order, OrderCancelled, 170, reason="not needed"),
            then(order, WorkCancelled, 180, reason="not needed"),  # fulfilment's 125 s passed
        ]

    live, replayed = cancelled_chain(), cancelled_chain()
    await apply_events(pool, event_applier(Emitting()), *live)
    # a replay may read fulfilment's topic before the orders topic
    await apply_events(pool, event_applier(Silent()), *replayed[1:], *replayed[:1])

    assert await sla_events(pool) == []
    results = []
    for chain in (live, replayed):
        stages = await stages_of(pool, chain[0].order_id)
        results.append(
            {
                name: (row["ended_at"], row["duration_s"], row["outcome"], row["breach_raised"])
                for name, row in stages.items()
            }
        )
        assert statuses(stages) == {
            "acceptance": "met",
            "fulfilment": "cancelled",
            "end_to_end": "cancelled",
        }
    assert results[0] == results[1]
    assert results[0]["fulfilment"] == (T0 + timedelta(seconds=180), 175.0, "cancelled", False)


async def test_a_block_ends_the_chain_and_a_later_cancellation_changes_nothing(
    service_pool: ServicePool,
) -> None:
    pool = await monitoring_pool(service_pool)
    order = wheels_order()
    blocked = then(order, OrderBlocked, 20, reason="sub-order rejected")
    cancelled = then(order, WorkCancelled, 900, reason="blocked")
    await apply_events(
        pool, event_applier(Emitting()), order, then(order, OrderAccepted, 5), blocked, cancelled
    )

    stages = await stages_of(pool, order.order_id)
    assert statuses(stages) == {
        "acceptance": "met",
        "fulfilment": "blocked",
        "end_to_end": "blocked",
    }
    assert stages["fulfilment"]["ended_at"] == blocked.occurred_at
    assert stages["fulfilment"]["end_event_id"] == blocked.event_id
    assert await sla_events(pool) == []


async def test_a_breach_raised_while_the_stage_ran_stands_when_its_order_ends_later(
    service_pool: ServicePool,
) -> None:
    """A verdict raised is final: the stage was past its deadline when it was judged."""
    pool = await monitoring_pool(service_pool)
    order = wheels_order()
    apply = event_applier(Emitting())
    await apply_events(pool, apply, order)
    acceptance = await stage_row(pool, order.order_id, Stage.ACCEPTANCE)
    assert acceptance.deadline is not None
    async with pool.acquire() as conn:  # as the scan raises it, once it knows
        await clock_store.mark_raised(
            conn,
            order_id=order.order_id,
            stage=Stage.ACCEPTANCE,
            alarms=(sla.Alarm.WARNING, sla.Alarm.BREACH),
            at=acceptance.deadline + timedelta(seconds=2),
        )
    await apply_events(pool, apply, then(order, WorkCancelled, 100, reason="too slow"))

    stages = await stages_of(pool, order.order_id)
    assert statuses(stages) == {"acceptance": "breached", "end_to_end": "cancelled"}
    assert stages["acceptance"]["outcome"] == "cancelled"


async def test_scorecards_count_outcomes_in_their_own_columns(service_pool: ServicePool) -> None:
    pool = await monitoring_pool(service_pool)
    rejected, cancelled, blocked, met = (
        wheels_order(),
        wheels_order(),
        wheels_order(),
        wheels_order(),
    )
    await apply_events(
        pool,
        event_applier(Emitting()),
        rejected,
        then(rejected, OrderRejected, 3600, reason="no stock"),
        cancelled,
        then(cancelled, OrderAccepted, 5),
        then(cancelled, WorkCancelled, 600),
        blocked,
        then(blocked, OrderAccepted, 5),
        then(blocked, OrderBlocked, 30, reason="sub-order rejected"),
        met,
        then(met, OrderAccepted, 5),
    )
    async with pool.acquire() as conn:
        (card,) = await scorecards.for_period(conn, period="2026-03", now=LONG_AFTER)

    assert card.stages["acceptance"].model_dump() == {
        "met": 3,
        "breached": 0,
        "rejected": 1,
        "cancelled": 0,
        "blocked": 0,
        "breaches_retracted": 0,
    }
    assert card.stages["fulfilment"].model_dump() == {
        "met": 0,
        "breached": 1,  # `met`'s, still running long past its deadline
        "rejected": 0,
        "cancelled": 1,
        "blocked": 1,
        "breaches_retracted": 0,
    }
    assert (card.stages["end_to_end"].rejected, card.stages["end_to_end"].cancelled) == (1, 1)
    assert card.on_time_pct["acceptance"] == 100.0  # outcomes are neither met nor breached
    assert (card.rejected, card.cancelled, card.blocked, card.breaches) == (1, 2, 2, 2)
