"""A cancellation is a request the supplier settles (issue 21): order intake's status, budget
(or allowance) and timeline follow the settlement (WorkCancelled, CancellationRefused), never
the request, on the real PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from order_intake import commands, company_commands, store
from order_intake.domain import (
    Limits,
    OrderRefused,
    OrderRequest,
    OrderStatus,
    RequestedLine,
    request_fingerprint,
)
from order_intake.handlers import apply_event
from supplychain_contracts import (
    CancellationRefused,
    OrderCancelled,
    OrderShipped,
    WorkCancelled,
    follow_up,
)
from supplychain_contracts.company import sample_company
from supplychain_kit.http.auth import EVERY_ROW
from support.service import ServicePool, apply_events, outbox_events

FULFILMENT = "fulfilment"


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
        await conn.execute("DELETE FROM outbox")
    return pool


async def place(
    pool: asyncpg.Pool, requester: str, supplier: str, sku: str, quantity: int, **extra: Any
) -> commands.Placement:
    request = OrderRequest(requester, supplier, (RequestedLine(sku, quantity),), **extra)
    async with pool.acquire() as conn:
        return await commands.place(
            conn,
            request,
            idempotency_key=f"key-{uuid4()}",
            fingerprint=request_fingerprint(asdict(request)),
            placed_by_key_id=f"{requester.lower()}-1",
            limits=Limits(max_lines=50, max_quantity=10_000),
        )


async def cancel(pool: asyncpg.Pool, order_id: UUID, requester: str) -> OrderCancelled:
    async with pool.acquire() as conn:
        cancellation = await commands.cancel(
            conn, order_id, department=requester, reason="plan changed"
        )
    assert cancellation.requested and cancellation.event is not None
    return cancellation.event


async def committed(pool: asyncpg.Pool, department: str, employee_id: str | None = None) -> Decimal:
    async with pool.acquire() as conn, conn.transaction():
        return await store.lock_spending(conn, department=department, employee_id=employee_id)


async def read(pool: asyncpg.Pool, order_id: UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        order = await store.get_order(conn, order_id, visible=EVERY_ROW)
    assert order is not None
    return order


async def test_work_cancelled_cancels_the_order_and_only_then_releases_the_budget(
    pool: asyncpg.Pool,
) -> None:
    # 150 workshop cleans at 140.00 = 21000.00 of LOGISTICS' 30000.00
    placed = await place(pool, "LOGISTICS", "FACILITIES", "WORKSHOP-CLEAN", 150)
    request = await cancel(pool, placed.order_id, "LOGISTICS")

    # requested: nothing released yet, the order goes on as far as intake knows
    assert await committed(pool, "LOGISTICS") == Decimal("21000.00")
    assert (await read(pool, placed.order_id))["status"] == "placed"

    settled = follow_up(request, WorkCancelled, producer=FULFILMENT, reason="stopped")
    await apply_events(pool, apply_event, settled, settled)  # redelivered: the same

    order = await read(pool, placed.order_id)
    assert order["status"] == "cancelled"
    assert (order["cancellation_status"], order["cancellation_reason"]) == ("cancelled", "stopped")
    assert order["cancellation_settled_at"] == settled.occurred_at
    assert [(t["event_type"], t["detail"]) for t in order["timeline"]] == [
        ("OrderPlaced", None),
        ("OrderCancelled", "plan changed"),
        ("WorkCancelled", "stopped"),
    ]
    assert await committed(pool, "LOGISTICS") == 0


async def test_a_refused_cancellation_leaves_the_order_and_its_budget_and_says_why(
    pool: asyncpg.Pool,
) -> None:
    placed = await place(pool, "LOGISTICS", "FACILITIES", "WORKSHOP-CLEAN", 150)
    request = await cancel(pool, placed.order_id, "LOGISTICS")

    refused = follow_up(request, CancellationRefused, producer=FULFILMENT, reason="already shipped")
    shipped = follow_up(request, OrderShipped, producer=FULFILMENT)
    await apply_events(pool, apply_event, refused, shipped)

    order = await read(pool, placed.order_id)
    assert order["status"] == "shipped"
    assert (order["cancellation_status"], order["cancellation_reason"]) == (
        "refused",
        "already shipped",
    )
    assert ("CancellationRefused", "already shipped") in [
        (t["event_type"], t["detail"]) for t in order["timeline"]
    ]
    assert await committed(pool, "LOGISTICS") == Decimal("21000.00")
    # shipped as intake now knows: too late to ask again
    async with pool.acquire() as conn:
        with pytest.raises(OrderRefused) as too_late:
            await commands.cancel(conn, placed.order_id, department="LOGISTICS", reason="")
        assert too_late.value.status == 409
        assert [e.event_type for e in await outbox_events(conn)] == [
            "OrderPlaced",
            "OrderCancelled",
        ]


async def test_a_request_refused_while_the_order_is_still_open_may_be_asked_again(
    pool: asyncpg.Pool,
) -> None:
    placed = await place(pool, "ASSEMBLY", "FRAMES", "FRAME-CITY", 1)
    request = await cancel(pool, placed.order_id, "ASSEMBLY")
    await apply_events(
        pool,
        apply_event,
        follow_up(request, CancellationRefused, producer=FULFILMENT, reason="frame welded"),
    )

    again = await cancel(pool, placed.order_id, "ASSEMBLY")

    assert again.event_id != request.event_id
    order = await read(pool, placed.order_id)
    assert (order["status"], order["cancellation_status"]) == ("placed", "requested")


async def test_work_cancelled_gives_an_employee_their_allowance_back(pool: asyncpg.Pool) -> None:
    bought = await place(pool, "ASSEMBLY", "EMPLOYEE_SHOP", "SHOP-HELMET", 1, employee_id="E-1001")
    spent = await committed(pool, "ASSEMBLY", "E-1001")
    assert spent > 0
    request = await cancel(pool, bought.order_id, "ASSEMBLY")
    assert await committed(pool, "ASSEMBLY", "E-1001") == spent

    await apply_events(pool, apply_event, follow_up(request, WorkCancelled, producer=FULFILMENT))

    assert await committed(pool, "ASSEMBLY", "E-1001") == 0
    assert (await read(pool, bought.order_id))["status"] == OrderStatus.CANCELLED
