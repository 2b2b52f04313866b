"""Monitoring's timelines applied as sets, on the real PostgreSQL: the policies and calendars
held in memory answer as the store does (and are read again once any replica changed them), and
a fetched batch handed to the handler at once leaves the stages, clocks, pauses and alarms that
applying its events one by one leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from monitoring.config import MonitoringSettings
from monitoring.reference import store as reference_store
from monitoring.reference.commands import define_calendar, define_policy, load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.reference.memory import ReferenceMemory
from monitoring.timeline import store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Priority,
    WorkCancelled,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.company import SlaPolicy
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.events import RequestedComponent
from supplychain_contracts.registry import topic_for
from supplychain_kit import db
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from support import fetched
from support.events import order_placed
from support.service import apply_events

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = "admin@test"


async def monitoring_schema(url: str, schema: str) -> asyncpg.Pool:
    """A migrated monitoring schema with the company's policies, as main.py's seeder loads."""
    pool = await db.create_pool(url, schema=schema, max_size=2)
    await db.migrate(
        pool, schema=schema, files=db.kit_migrations() + db.package_migrations("monitoring")
    )
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    return pool


@pytest.fixture
async def two_schemas(database: Any) -> Any:
    url = database.new_database()
    pools = [await monitoring_schema(url, "monitoring"), await monitoring_schema(url, "batched")]
    yield pools
    for pool in pools:
        await pool.close()


async def same_as_store(conn: asyncpg.Connection, memory: ReferenceMemory) -> None:
    policies = await reference_store.policy_versions(conn)
    for supplier in {v.content.supplier for v in policies} | {"NOBODY"}:
        stored = await reference_store.policy_versions(conn, supplier=supplier)
        assert memory.policy_versions(supplier) == stored
    for code in {v.key for v in await reference_store.calendar_versions(conn)} | {"NONE"}:
        assert memory.calendar_versions(code) == await reference_store.calendar_versions(
            conn, code=code
        )


async def test_policies_in_memory_answer_as_the_store_and_follow_any_replicas_changes(
    two_schemas: list[asyncpg.Pool],
) -> None:
    pool = two_schemas[0]
    memory = ReferenceMemory()
    async with pool.acquire() as conn, pool.acquire() as other_replica:
        await memory.refresh(conn, None)
        held = memory.token
        await same_as_store(conn, memory)
        await memory.refresh(conn, held)  # the same token: nothing read
        assert memory.token == held

        # another replica defines a policy of a new supplier, moves one to a new version and
        # closes a calendar for a day: the token changes, the memory reads them again
        newcomer = SlaPolicy(supplier="NEWCOMER", targets_seconds={"acceptance": 5})
        await define_policy(
            other_replica, "newcomer", newcomer, effective_from=None, changed_by=ADMIN, now=T0
        )
        wheels = (await reference_store.policy_versions(other_replica, supplier="WHEELS"))[-1]
        slower = SlaPolicy.model_validate(
            {**wheels.content.model_dump(), "targets_seconds": {"acceptance": 90}}
        )
        await define_policy(
            other_replica,
            wheels.key,
            slower,
            effective_from=T0 + timedelta(days=1),
            changed_by=ADMIN,
            now=T0,
        )
        calendars = await reference_store.calendar_versions(other_replica)
        if calendars:
            closed = calendars[-1].content.model_copy(
                update={"closure_days": ((T0 + timedelta(days=2)).date(),)}
            )
            await define_calendar(
                other_replica, closed.code, closed, effective_from=None, changed_by=ADMIN, now=T0
            )
        token = await conn.fetchval("SELECT token FROM reference_token")
        assert token != held
        await memory.refresh(conn, token)
        assert memory.token == token
        await same_as_store(conn, memory)
        assert [v.version for v in memory.policy_versions("WHEELS") if v.key == wheels.key] == [
            wheels.version,
            wheels.version + 1,
        ]


def placed(supplier: str, at: datetime, *, parent: OrderPlaced | None = None) -> OrderPlaced:
    return order_placed(
        parent=parent,
        occurred_at=at,
        producer="order-intake",
        supplier=supplier,
        requester=None if parent else "RETAIL_OPS",
        priority=Priority.STANDARD,
        sku="WHEEL-26",
        unit_price="40.00",
    )


def then(order: OrderPlaced, model: type[Envelope], after: float, **fields: Any) -> Envelope:
    at = order.occurred_at + timedelta(seconds=after)
    return follow_up(order, model, producer="fulfilment", occurred_at=at, **fields)


def orders_of_every_kind() -> list[Envelope]:
    """Delivered in time and late, rejected, shipped after its cancellation settled, and a
    chain whose parent's clock pauses while it waits on its component; interleaved."""
    in_time, late, rejected, cancelled = (placed(s, T0) for s in ("WHEELS",) * 4)
    parent = placed("ASSEMBLY", T0)
    component = placed("FRAMES", T0 + timedelta(seconds=3), parent=parent)
    wanted = RequestedComponent(
        order_id=component.order_id, sku="FRAME-CITY", quantity=1, supplier="FRAMES"
    )
    lives = [
        [
            in_time,
            then(in_time, OrderAccepted, 5, priority=Priority.STANDARD),
            then(in_time, WorkStarted, 6),
            then(in_time, OrderShipped, 60, priority=Priority.STANDARD),
            then(in_time, OrderDelivered, 70, lines=in_time.lines),
        ],
        [late, then(late, OrderAccepted, 50), then(late, OrderShipped, 400)],
        [rejected, then(rejected, OrderRejected, 4, reason="no capacity")],
        [
            cancelled,
            then(cancelled, OrderAccepted, 5),
            then(cancelled, WorkCancelled, 20),
            then(cancelled, OrderShipped, 30),
        ],
        [
            parent,
            then(parent, OrderAccepted, 2),
            then(parent, ComponentsRequested, 3, components=(wanted,)),
            then(parent, ComponentsReceived, 500, sub_order_ids=(component.order_id,)),
            then(parent, OrderShipped, 700),
        ],
        [component, then(component, OrderAccepted, 4), then(component, OrderShipped, 200)],
    ]
    events: list[Envelope] = []
    for step in range(max(len(life) for life in lives)):
        events.extend(life[step] for life in lives if step < len(life))
    return events


async def outcome(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
    stages = [
        {k: v for k, v in row.items() if k != "trace_id"}
        for row in await store.stage_results(conn, schema=schema)
    ]
    outbox = await conn.fetch(
        f"""SELECT event_type, payload::jsonb->>'order_id' AS order_id, payload::jsonb->>'stage' AS stage
            FROM "{schema}".outbox ORDER BY 2, 3, 1"""
    )
    edges = await conn.fetchval(f'SELECT count(*) FROM "{schema}".pause_edges')
    recorded = await conn.fetchval(f'SELECT count(*) FROM "{schema}".handoff_events')
    return {"stages": stages, "outbox": outbox, "edges": edges, "recorded": recorded}


async def test_a_batch_applied_at_once_leaves_what_its_events_one_by_one_leave(
    two_schemas: list[asyncpg.Pool],
) -> None:
    one_by_one, batched = two_schemas
    events = orders_of_every_kind()
    await apply_events(one_by_one, event_applier(Emitting()), *events)
    consumer = ReliableConsumer(
        service="monitoring",
        topics=["all"],
        pool=batched,
        broker=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
        apply=event_applier(Emitting(), batched=True),
        config=ConsumerConfig(group_id="monitoring"),
    )
    await consumer.handle_batch(
        [fetched(event, offset, topic=topic_for(event)) for offset, event in enumerate(events)]
    )

    async with one_by_one.acquire() as conn:
        expected = await outcome(conn, "monitoring")
        actual = await outcome(conn, "batched")
    assert actual == expected
    statuses = {(row["order_id"], row["stage"]): row for row in expected["stages"]}
    assert len(statuses) > 15 and expected["edges"] == 2  # every kind of order was applied
    assert expected["outbox"]  # the late order's alarms and the paused clock's notices
