"""Order intake's subscriber against the real PostgreSQL: a fulfilment or invoicing event of
one of its orders enters the order's timeline and moves its status, never backwards."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from order_intake import commands, company_commands, store
from order_intake.domain import Limits, OrderRequest, RequestedLine, request_fingerprint
from order_intake.handlers import apply_event
from supplychain_contracts import (
    FeedbackGiven,
    OrderAccepted,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.company import sample_company
from supplychain_kit.http.auth import EVERY_ROW
from support.service import ServicePool

FULFILMENT = "fulfilment"


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
        # the load's reference events: the tests read what the commands publish after it
        await conn.execute("DELETE FROM outbox")
    return pool


async def placed_order(conn: asyncpg.Connection) -> OrderPlaced:
    request = OrderRequest("ASSEMBLY", "FRAMES", (RequestedLine("FRAME-CITY", 1),))
    placement = await commands.place(
        conn,
        request,
        idempotency_key="po-assembly-0001",
        fingerprint=request_fingerprint(asdict(request)),
        placed_by_key_id="assembly-1",
        limits=Limits(max_lines=50, max_quantity=100),
    )
    assert placement.event is not None
    return placement.event


async def apply(conn: asyncpg.Connection, event: Any) -> None:
    async with conn.transaction():
        await apply_event(conn, event)


async def read(conn: asyncpg.Connection, order_id: UUID) -> dict[str, Any]:
    order = await store.get_order(conn, order_id, visible=EVERY_ROW)
    assert order is not None
    return order


async def test_the_suppliers_events_move_the_order_along(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        placed = await placed_order(conn)
        accepted = follow_up(placed, OrderAccepted, producer=FULFILMENT)
        started = follow_up(accepted, WorkStarted, producer=FULFILMENT)
        for event in (accepted, started):
            await apply(conn, event)

        order = await read(conn, placed.order_id)
        assert order["status"] == "in_progress"
        assert [t["event_id"] for t in order["timeline"]] == [
            placed.event_id,
            accepted.event_id,
            started.event_id,
        ]


async def test_a_late_event_never_moves_the_status_back(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        placed = await placed_order(conn)
        shipped = follow_up(placed, OrderShipped, producer=FULFILMENT)
        accepted = follow_up(placed, OrderAccepted, producer=FULFILMENT)
        await apply(conn, shipped)
        await apply(conn, accepted)  # arrives after the shipment

        order = await read(conn, placed.order_id)
        assert order["status"] == "shipped"
        assert {t["event_type"] for t in order["timeline"]} == {
            "OrderPlaced",
            "OrderShipped",
            "OrderAccepted",
        }


async def test_a_rejection_ends_the_order_with_its_reason(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        placed = await placed_order(conn)
        await apply(conn, follow_up(placed, OrderRejected, producer=FULFILMENT, reason="no steel"))

        order = await read(conn, placed.order_id)
        assert order["status"] == "rejected"
        assert order["timeline"][-1]["detail"] == "no steel"


async def test_feedback_enters_the_timeline_without_moving_the_status(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        placed = await placed_order(conn)
        await apply(conn, follow_up(placed, FeedbackGiven, producer=FULFILMENT, rating=5))

        order = await read(conn, placed.order_id)
        assert order["status"] == "placed"
        assert [t["event_type"] for t in order["timeline"]] == ["OrderPlaced", "FeedbackGiven"]


async def test_events_of_other_orders_and_of_no_handoff_leave_our_orders_alone(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        placed = await placed_order(conn)
        sub_order = placed.model_copy(update={"order_id": UUID(int=1)})
        await apply(conn, follow_up(sub_order, OrderAccepted, producer=FULFILMENT))
        # an OrderPlaced of a root order (no parent) is not a sub-order: not recorded
        await apply(conn, follow_up(placed, OrderPlaced, producer=FULFILMENT, lines=placed.lines))

        # the handoff of an order not recorded (yet) is kept for it: a sub-order whose
        # OrderPlaced comes on another topic starts from it (test_order_intake_sub_orders)
        timeline = await conn.fetch("SELECT order_id, event_type FROM order_timeline")
        assert sorted((r["order_id"], r["event_type"]) for r in timeline) == sorted(
            [(placed.order_id, "OrderPlaced"), (UUID(int=1), "OrderAccepted")]
        )
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1
        assert (await read(conn, placed.order_id))["status"] == "placed"
