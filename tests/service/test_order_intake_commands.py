"""Order intake's commands against the real PostgreSQL: what each leaves in the order tables
and in the outbox (placement, idempotency, budgets, approval, cancellation, employees)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
from supplychain_contracts import OrderCancelled, OrderPlaced
from supplychain_contracts.company import sample_company
from supplychain_kit.http.auth import EVERY_ROW
from support.service import ServicePool, outbox_events

LIMITS = Limits(max_lines=50, max_quantity=10_000)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Order intake's schema with the sample company loaded as at start."""
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, sample_company())
        # the load's reference events: the tests read what the commands publish after it
        await conn.execute("DELETE FROM outbox")
    return pool


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn:
        yield conn


def order(
    requester: str = "ASSEMBLY",
    supplier: str = "FRAMES",
    lines: dict[str, int] | None = None,
    employee_id: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        requester=requester,
        supplier=supplier,
        lines=tuple(
            RequestedLine(sku, quantity) for sku, quantity in (lines or {"FRAME-CITY": 2}).items()
        ),
        employee_id=employee_id,
    )


async def place(
    conn: asyncpg.Connection,
    request: OrderRequest,
    *,
    key: str | None = None,
    by: str | None = None,
) -> commands.Placement:
    return await commands.place(
        conn,
        request,
        idempotency_key=key or f"key-{uuid4()}",
        fingerprint=request_fingerprint(asdict(request)),
        placed_by_key_id=by or f"{request.requester.lower()}-1",
        limits=LIMITS,
    )


async def refusal(conn: asyncpg.Connection, request: OrderRequest) -> OrderRefused:
    with pytest.raises(OrderRefused) as refused:
        await place(conn, request)
    return refused.value


async def stored(conn: asyncpg.Connection, order_id: UUID) -> dict[str, Any]:
    found = await store.get_order(conn, order_id, visible=EVERY_ROW)
    assert found is not None
    return found


async def order_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM orders")
    return count


# --- placing ---------------------------------------------------------------------------


async def test_a_department_order_is_stored_priced_and_announced(
    conn: asyncpg.Connection,
) -> None:
    placement = await place(conn, order(lines={"FRAME-CITY": 2}), key="po-assembly-0001")

    assert placement.created
    assert placement.status is OrderStatus.PLACED
    assert isinstance(placement.event, OrderPlaced)
    row = await stored(conn, placement.order_id)
    assert row["status"] == "placed"
    assert row["total"] == Decimal("209.00")
    assert row["placed_by_key_id"] == "assembly-1"
    assert row["placed_event_id"] == placement.event.event_id
    assert row["idempotency_key"] == "po-assembly-0001"
    assert row["lines"] == [{"sku": "FRAME-CITY", "quantity": 2, "unit_price": Decimal("104.50")}]
    assert [(t["event_id"], t["event_type"]) for t in row["timeline"]] == [
        (placement.event.event_id, "OrderPlaced")
    ]
    [published] = await outbox_events(conn)
    assert published == placement.event
    assert (published.order_id, published.requester, published.supplier) == (
        placement.order_id,
        "ASSEMBLY",
        "FRAMES",
    )


async def test_the_same_key_and_request_again_is_a_replay(conn: asyncpg.Connection) -> None:
    request = order()
    first = await place(conn, request, key="po-assembly-0002")
    again = await place(conn, request, key="po-assembly-0002")

    assert not again.created
    assert again.event is None
    assert (again.order_id, again.status) == (first.order_id, OrderStatus.PLACED)
    assert await order_count(conn) == 1
    assert len(await outbox_events(conn)) == 1


async def test_the_same_key_with_another_request_is_a_conflict(conn: asyncpg.Connection) -> None:
    await place(conn, order(lines={"FRAME-CITY": 2}), key="po-assembly-0003")
    with pytest.raises(commands.IdempotencyConflict):
        await place(conn, order(lines={"FRAME-CITY": 3}), key="po-assembly-0003")

    assert await order_count(conn) == 1
    assert len(await outbox_events(conn)) == 1


async def test_a_key_is_per_department(conn: asyncpg.Connection) -> None:
    mine = await place(conn, order(), key="po-shared-0001")
    theirs = await place(
        conn, order("WHEELS", "ELECTRONICS", {"DRIVE-250W": 1}), key="po-shared-0001"
    )
    assert mine.created and theirs.created
    assert mine.order_id != theirs.order_id


async def test_a_refused_order_leaves_nothing_behind(conn: asyncpg.Connection) -> None:
    refused = await refusal(conn, order(lines={"WHEEL-28": 1}))  # a WHEELS item from FRAMES
    assert (refused.field, refused.status) == ("lines.0.sku", 422)
    assert await order_count(conn) == 0
    assert await outbox_events(conn) == []


# --- budgets ---------------------------------------------------------------------------


async def test_an_order_over_a_refusing_budget_is_refused(conn: asyncpg.Connection) -> None:
    # LOGISTICS: 30,000 EUR a month, refuses; 215 cleanings at 140.00 = 30,100.00
    refused = await refusal(conn, order("LOGISTICS", "FACILITIES", {"WORKSHOP-CLEAN": 215}))

    assert refused.field == "total"
    assert "over its monthly budget of 30000.00 EUR" in refused.message
    assert await order_count(conn) == 0
    assert await outbox_events(conn) == []


async def test_the_budget_counts_the_departments_earlier_orders(conn: asyncpg.Connection) -> None:
    await place(conn, order("LOGISTICS", "FACILITIES", {"WORKSHOP-CLEAN": 200}))  # 28,000
    refused = await refusal(conn, order("LOGISTICS", "FACILITIES", {"WORKSHOP-CLEAN": 15}))

    assert refused.field == "total"
    assert "(28000.00 EUR already committed, 2000.00 EUR left)" in refused.message
    assert len(await outbox_events(conn)) == 1


async def test_an_order_over_a_warning_budget_is_placed_with_a_warning(
    conn: asyncpg.Connection,
) -> None:
    # FACILITIES: 20,000 EUR a month, warns; 1,200 pallet moves at 18.00 = 21,600.00
    placement = await place(conn, order("FACILITIES", "LOGISTICS", {"PALLET-MOVE": 1200}))

    assert placement.status is OrderStatus.PLACED
    row = await stored(conn, placement.order_id)
    [warning] = row["warnings"]
    assert "over its monthly budget of 20000.00 EUR" in warning
    assert [e.order_id for e in await outbox_events(conn)] == [placement.order_id]


# --- approval --------------------------------------------------------------------------


async def pending_marketing_order(conn: asyncpg.Connection) -> commands.Placement:
    # MARKETING: approval above 10,000 EUR; 11 demo sets at 945.00 = 10,395.00
    return await place(
        conn, order("MARKETING", "RETAIL_OPS", {"DEMO-BIKE-SET": 11}), by="marketing-1"
    )


async def test_an_order_above_the_threshold_waits_unannounced(conn: asyncpg.Connection) -> None:
    placement = await pending_marketing_order(conn)

    assert placement.created
    assert placement.status is OrderStatus.PENDING_APPROVAL
    assert placement.event is None
    row = await stored(conn, placement.order_id)
    assert row["status"] == "pending_approval"
    assert row["placed_event_id"] is None
    assert row["timeline"] == []
    assert await outbox_events(conn) == []


async def test_another_key_of_the_department_approves_and_places_it(
    conn: asyncpg.Connection,
) -> None:
    placement = await pending_marketing_order(conn)

    event = await commands.approve(
        conn, placement.order_id, department="MARKETING", approver_key_id="marketing-2"
    )

    assert isinstance(event, OrderPlaced)
    assert event.order_id == placement.order_id
    row = await stored(conn, placement.order_id)
    assert row["status"] == "placed"
    assert row["approved_by_key_id"] == "marketing-2"
    assert row["approved_at"] is not None
    assert row["placed_event_id"] == event.event_id
    assert [t["event_type"] for t in row["timeline"]] == ["OrderPlaced"]
    [published] = await outbox_events(conn)
    assert published == event
    assert (published.requester, published.supplier) == ("MARKETING", "RETAIL_OPS")
    assert [(line.sku, line.quantity) for line in published.lines] == [("DEMO-BIKE-SET", 11)]


async def test_the_key_that_placed_an_order_cannot_approve_it(conn: asyncpg.Connection) -> None:
    placement = await pending_marketing_order(conn)

    with pytest.raises(OrderRefused) as refused:
        await commands.approve(
            conn, placement.order_id, department="MARKETING", approver_key_id="marketing-1"
        )

    assert (refused.value.status, refused.value.field) == (403, "Authorization")
    assert refused.value.status_now is OrderStatus.PENDING_APPROVAL
    assert (await stored(conn, placement.order_id))["status"] == "pending_approval"
    assert await outbox_events(conn) == []


async def test_only_an_order_pending_approval_is_approved(conn: asyncpg.Connection) -> None:
    placement = await place(conn, order())
    with pytest.raises(OrderRefused) as refused:
        await commands.approve(
            conn, placement.order_id, department="ASSEMBLY", approver_key_id="assembly-2"
        )
    assert (refused.value.status, refused.value.status_now) == (409, OrderStatus.PLACED)


async def test_another_department_cannot_even_see_the_order_to_approve(
    conn: asyncpg.Connection,
) -> None:
    placement = await pending_marketing_order(conn)
    for department in ("RETAIL_OPS", "ASSEMBLY"):
        with pytest.raises(commands.UnknownOrder):
            await commands.approve(
                conn, placement.order_id, department=department, approver_key_id="x-1"
            )
    with pytest.raises(commands.UnknownOrder):
        await commands.approve(conn, uuid4(), department="MARKETING", approver_key_id="m-2")


# --- cancelling ------------------------------------------------------------------------


async def test_cancelling_an_announced_order_asks_the_supplier(conn: asyncpg.Connection) -> None:
    placement = await place(conn, order())
    assert placement.event is not None

    cancellation = await commands.cancel(
        conn, placement.order_id, department="ASSEMBLY", reason="plan changed"
    )

    assert cancellation.requested
    event = cancellation.event
    assert isinstance(event, OrderCancelled)
    # caused by the last handoff the order saw: its OrderPlaced
    assert event.causation_id == placement.event.event_id
    assert (event.order_id, event.root_order_id) == (placement.order_id, placement.order_id)
    assert (event.requester, event.supplier, event.reason) == ("ASSEMBLY", "FRAMES", "plan changed")
    row = await stored(conn, placement.order_id)
    # a request: the status (and the budget) follow the supplier's settlement, not this
    assert row["status"] == "placed"
    assert (row["cancellation_status"], row["cancellation_reason"]) == ("requested", "plan changed")
    assert [(t["event_type"], t["detail"]) for t in row["timeline"]] == [
        ("OrderPlaced", None),
        ("OrderCancelled", "plan changed"),
    ]
    assert await outbox_events(conn) == [placement.event, event]


async def test_cancelling_a_pending_order_withdraws_it_silently(conn: asyncpg.Connection) -> None:
    placement = await pending_marketing_order(conn)

    cancellation = await commands.cancel(
        conn, placement.order_id, department="MARKETING", reason=""
    )

    assert (cancellation.requested, cancellation.event) == (False, None)
    assert (await stored(conn, placement.order_id))["status"] == "cancelled"
    assert await outbox_events(conn) == []


async def test_only_the_requester_cancels_and_asking_again_sends_nothing_new(
    conn: asyncpg.Connection,
) -> None:
    placement = await place(conn, order())
    with pytest.raises(commands.NotTheRequester) as other:
        await commands.cancel(conn, placement.order_id, department="FRAMES", reason="")
    assert (other.value.department, other.value.requester) == ("FRAMES", "ASSEMBLY")
    with pytest.raises(commands.UnknownOrder):
        await commands.cancel(conn, placement.order_id, department="WHEELS", reason="")

    first = await commands.cancel(conn, placement.order_id, department="ASSEMBLY", reason="")
    again = await commands.cancel(conn, placement.order_id, department="ASSEMBLY", reason="")
    assert first.requested and first.event is not None
    assert again.requested and again.event is None
    assert [e.event_type for e in await outbox_events(conn)] == ["OrderPlaced", "OrderCancelled"]


async def test_the_supplier_does_not_see_a_pending_order_to_cancel(
    conn: asyncpg.Connection,
) -> None:
    placement = await pending_marketing_order(conn)
    with pytest.raises(commands.UnknownOrder):
        await commands.cancel(conn, placement.order_id, department="RETAIL_OPS", reason="")


# --- employee purchases ----------------------------------------------------------------


def shop_order(lines: dict[str, int], employee_id: str = "E-1001") -> OrderRequest:
    return order("ASSEMBLY", "EMPLOYEE_SHOP", lines, employee_id=employee_id)


async def test_an_employee_buys_within_the_allowance_at_the_discounted_list_price(
    conn: asyncpg.Connection,
) -> None:
    placement = await place(conn, shop_order({"SHOP-HELMET": 2}))  # 59.00 less 30 %

    assert placement.status is OrderStatus.PLACED
    row = await stored(conn, placement.order_id)
    assert (row["employee_id"], row["total"]) == ("E-1001", Decimal("82.60"))
    assert row["lines"] == [{"sku": "SHOP-HELMET", "quantity": 2, "unit_price": Decimal("41.30")}]
    [published] = await outbox_events(conn)
    assert published.employee_id == "E-1001"
    assert published.lines[0].unit_price == Decimal("41.30")


async def test_an_employee_purchase_over_the_allowance_is_refused(
    conn: asyncpg.Connection,
) -> None:
    # E-1001 may spend 2,000.00 a year; an e-bike costs 1,049.30 after the discount
    await place(conn, shop_order({"SHOP-EBIKE-CITY": 1}))
    refused = await refusal(conn, shop_order({"SHOP-EBIKE-CITY": 1}))

    assert refused.field == "employee_id"
    assert "(1049.30 EUR already spent, 950.70 EUR left)" in refused.message
    assert await order_count(conn) == 1
    assert len(await outbox_events(conn)) == 1


async def test_employee_purchases_do_not_count_against_the_department_budget(
    conn: asyncpg.Connection,
) -> None:
    await place(conn, shop_order({"SHOP-EBIKE-CITY": 1}))
    async with conn.transaction():
        assert await store.lock_spending(conn, department="ASSEMBLY", employee_id=None) == 0


async def test_an_employee_buys_only_for_their_own_department_and_from_the_shop(
    conn: asyncpg.Connection,
) -> None:
    assert (await refusal(conn, shop_order({"SHOP-HELMET": 1}, "E-1002"))).field == "employee_id"
    assert (await refusal(conn, shop_order({"SHOP-HELMET": 1}, "E-9999"))).field == "employee_id"
    not_a_shop = order("ASSEMBLY", "FRAMES", {"FRAME-CITY": 1}, employee_id="E-1001")
    assert (await refusal(conn, not_a_shop)).field == "supplier"
    assert await order_count(conn) == 0


# --- cost ------------------------------------------------------------------------------


async def test_placing_a_department_order_takes_two_round_trips(
    conn: asyncpg.Connection,
) -> None:
    """Read the references (with the month's running total, unlocked), then one statement:
    lock the running total, claim the key with the order's insert, its lines, timeline and
    outbox row (no transaction around them: the statement is its own).

    Counted in the steady state (statements already prepared on the connection, the month's
    running total made by the first order)."""
    await place(conn, order())
    statements: list[str] = []

    def log(query: Any) -> None:
        statements.append(" ".join(query.query.split())[:60])

    conn.add_query_logger(log)
    try:
        await place(conn, order())
        await asyncio.sleep(0)  # query loggers are called soon after each statement
    finally:
        conn.remove_query_logger(log)
    assert len(statements) == 2, statements
    assert statements[0].startswith("SELECT reference.")
    assert statements[1].startswith("WITH running AS ( SELECT committed FROM spending")
