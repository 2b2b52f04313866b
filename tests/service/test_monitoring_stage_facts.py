"""The SLA policy of a stage does not depend on the order events arrive across topics (issue 16,
item 9), on the real PostgreSQL: the fulfilment events that start a stage carry the order's
priority, so a stage opened before monitoring saw the OrderPlaced (the orders topic lagging
behind the fulfilment topic) is timed as when the OrderPlaced came first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import define_policy, load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.replay.repair import compare
from monitoring.timeline import store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Silent
from supplychain_contracts import (
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    Priority,
    Stage,
    follow_up,
)
from supplychain_contracts.company import SlaPolicy
from supplychain_contracts.envelope import Envelope
from supplychain_kit import db
from supplychain_kit.http.auth import EVERY_ROW
from support.events import order_placed
from support.service import apply_events

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LINE = OrderLine(sku="EBIKE-CITY", quantity=1, unit_price="1290.00")
# ASSEMBLY's sample policies: rush (fulfilment 300 s, delivery 30 s) beats the general one
# (600 s, 60 s); the test adds one for RETAIL_OPS buying from WHEELS (fulfilment 45 s).
REQUESTER_POLICY = SlaPolicy.model_validate(
    {
        "supplier": "WHEELS",
        "requester": "RETAIL_OPS",
        "targets_seconds": {"acceptance": 15, "fulfilment": 45, "delivery": 20},
    }
)


async def monitoring_schema(url: str, schema: str) -> asyncpg.Pool:
    """A migrated monitoring schema with the sample policies and the requester's one."""
    pool = await db.create_pool(url, schema=schema, max_size=2)
    await db.migrate(
        pool, schema=schema, files=db.kit_migrations() + db.package_migrations("monitoring")
    )
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
        await define_policy(
            conn,
            REQUESTER_POLICY.policy_key,
            REQUESTER_POLICY,
            effective_from=None,
            changed_by="test",
            now=T0 - timedelta(hours=1),
        )
    return pool


def chain_of(supplier: str, requester: str, priority: Priority) -> list[Envelope]:
    """One order from placement to invoice, as order intake, fulfilment and invoicing emit it:
    the fulfilment events carry the priority of the order they store."""
    placed = order_placed(
        occurred_at=T0,
        producer="order-intake",
        supplier=supplier,
        requester=requester,
        priority=priority,
        lines=(LINE,),
    )
    at = {"accepted": 5, "shipped": 200, "delivered": 220, "invoiced": 221}

    def then(model: type[Envelope], step: str, **fields: Any) -> Envelope:
        when = T0 + timedelta(seconds=at[step])
        return follow_up(placed, model, producer="fulfilment", occurred_at=when, **fields)

    return [
        placed,
        then(OrderAccepted, "accepted", priority=priority),
        then(OrderShipped, "shipped", priority=priority),
        then(OrderDelivered, "delivered", priority=priority, lines=(LINE,)),
        then(
            InvoiceIssued,
            "invoiced",
            invoice_id=uuid.uuid4(),
            period="2026-03",
            currency="EUR",
            lines=(),
            total="0",
        ),
    ]


def orders_topic_last(events: list[Envelope]) -> list[Envelope]:
    """The same events with the orders topic lagging: every OrderPlaced after the others."""
    return [e for e in events if not isinstance(e, OrderPlaced)] + [
        e for e in events if isinstance(e, OrderPlaced)
    ]


async def stage(pool: asyncpg.Pool, order_id: uuid.UUID, name: Stage) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM stages WHERE order_id = $1 AND stage = $2", order_id, name.value
        )
    assert row is not None, f"no {name} stage of {order_id}"
    return dict(row)


async def test_a_stage_opened_before_its_order_was_seen_gets_the_rush_policy(database) -> None:
    url = database.new_database()
    pool = await monitoring_schema(url, "monitoring")
    try:
        rush = chain_of("ASSEMBLY", "RETAIL_OPS", Priority.RUSH)
        order_id = rush[0].order_id
        # the fulfilment topic first: monitoring has never seen this order placed
        await apply_events(pool, event_applier(Silent()), *rush[1:4])
        async with pool.acquire() as conn:
            assert not await store.order_visible(conn, order_id, visible=EVERY_ROW)
        fulfilment = await stage(pool, order_id, Stage.FULFILMENT)
        delivery = await stage(pool, order_id, Stage.DELIVERY)
        assert (fulfilment["target_s"], fulfilment["policy_key"]) == (300.0, "ASSEMBLY:rush")
        assert (delivery["target_s"], delivery["policy_key"]) == (30.0, "ASSEMBLY:rush")
        assert fulfilment["deadline"] == T0 + timedelta(seconds=5 + 300)

        # the OrderPlaced comes late: the acceptance stage gets the rush policy too
        await apply_events(pool, event_applier(Silent()), *rush[:1])
        acceptance = await stage(pool, order_id, Stage.ACCEPTANCE)
        assert (acceptance["target_s"], acceptance["duration_s"]) == (10.0, 5.0)
        assert (await stage(pool, order_id, Stage.FULFILMENT))["target_s"] == 300.0
    finally:
        await pool.close()


async def test_an_event_without_the_priority_falls_back_to_the_order_as_seen(database) -> None:
    """Events published before fulfilment carried the priority still time their stage."""
    url = database.new_database()
    pool = await monitoring_schema(url, "monitoring")
    try:
        seen, unseen = (chain_of("ASSEMBLY", "RETAIL_OPS", Priority.RUSH) for _ in range(2))
        old_style = [e.model_copy(update={"priority": None}) for e in (*seen[1:3], *unseen[1:3])]
        await apply_events(pool, event_applier(Silent()), seen[0], *old_style)
        # the OrderPlaced was seen: its priority times the stage, as before
        assert (await stage(pool, seen[0].order_id, Stage.FULFILMENT))["target_s"] == 300.0
        # never seen: the general policy, as before (nothing told the priority)
        assert (await stage(pool, unseen[0].order_id, Stage.FULFILMENT))["target_s"] == 600.0
    finally:
        await pool.close()


async def test_results_are_the_same_whichever_topic_comes_first(database) -> None:
    """Live with the orders topic in time, and a replay reading it last, agree stage by stage:
    rush and standard orders, a requester with its own policy, a chain with a sub-order."""
    url = database.new_database()
    in_time = await monitoring_schema(url, "monitoring")
    lagging = await monitoring_schema(url, "monitoring_lagging")
    try:
        parent = chain_of("ASSEMBLY", "RETAIL_OPS", Priority.RUSH)
        sub_order = [
            e.model_copy(update={"root_order_id": parent[0].order_id})
            for e in chain_of("WHEELS", "ASSEMBLY", Priority.RUSH)
        ]
        events = [
            *parent,
            *sub_order,
            *chain_of("ASSEMBLY", "FRAMES", Priority.STANDARD),
            *chain_of("WHEELS", "RETAIL_OPS", Priority.RUSH),  # its requester's policy wins
        ]
        await apply_events(in_time, event_applier(Silent()), *events)
        await apply_events(lagging, event_applier(Silent()), *orders_topic_last(events))
        async with in_time.acquire() as conn:
            live = await store.stage_results(conn, schema="monitoring")
            replayed = await store.stage_results(conn, schema="monitoring_lagging")
        compared = compare(live, replayed, now=T0 + timedelta(hours=1))
        assert compared.differences == []
        assert compared.stages == 4 * 5
        keys = {(str(r["order_id"]), r["stage"]): r["policy_key"] for r in live}
        requester_order = events[-5].order_id
        assert keys[(str(requester_order), "fulfilment")] == "WHEELS:from-RETAIL_OPS"
        assert keys[(str(parent[0].order_id), "delivery")] == "ASSEMBLY:rush"
    finally:
        await in_time.close()
        await lagging.close()
