"""Currencies and chains in budgets (issue 21), on the real PostgreSQL: an order is priced in
its supplier's currency and charged to its requester translated at the rate of its day (a
missing rate refuses it, also one its production chain would need); sub-orders fulfilment
raises are recorded and charged to the department that raised them, over budget flagged but
never refused."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from order_intake import commands, company_commands, metrics, store
from order_intake.domain import (
    Limits,
    OrderRefused,
    OrderRequest,
    RequestedLine,
    budget_standing,
    request_fingerprint,
)
from order_intake.handlers import apply_event
from supplychain_contracts import (
    OrderAccepted,
    OrderPlaced,
    WorkCancelled,
    follow_up,
)
from supplychain_contracts.company import Company, FxRate, LegalEntity, sample_company
from supplychain_kit.http.auth import EVERY_ROW
from support.events import order_placed
from support.service import ServicePool, apply_events, outbox_events

USD_EUR = FxRate(base="USD", quote="EUR", rate=Decimal("0.9200"), valid_from=date(2020, 1, 1))


def two_currency_company(*rates: FxRate) -> Company:
    """The sample company with WHEELS in a US subsidiary (USD), and these rates."""
    company = sample_company()
    us = LegalEntity(code="NC-US", name="Nordcycle US Inc.", currency="USD")
    departments = tuple(
        d.model_copy(update={"legal_entity": "NC-US"}) if d.code == "WHEELS" else d
        for d in company.departments
    )
    return company.model_copy(
        update={
            "legal_entities": (*company.legal_entities, us),
            "departments": departments,
            "fx_rates": rates,
        }
    )


async def intake(service_pool: ServicePool, company: Company) -> asyncpg.Pool:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, company)
        await conn.execute("DELETE FROM outbox")
    return pool


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    return await intake(service_pool, two_currency_company(USD_EUR))


async def place(
    pool: asyncpg.Pool, requester: str, supplier: str, sku: str, quantity: int
) -> commands.Placement:
    request = OrderRequest(requester, supplier, (RequestedLine(sku, quantity),))
    async with pool.acquire() as conn:
        return await commands.place(
            conn,
            request,
            idempotency_key=f"key-{uuid4()}",
            fingerprint=request_fingerprint(asdict(request)),
            placed_by_key_id=f"{requester.lower()}-1",
            limits=Limits(max_lines=50, max_quantity=1_000_000),
        )


async def read(pool: asyncpg.Pool, order_id: UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        order = await store.get_order(conn, order_id, visible=EVERY_ROW)
    assert order is not None
    return order


async def committed(pool: asyncpg.Pool, department: str) -> Decimal:
    async with pool.acquire() as conn, conn.transaction():
        return await store.lock_spending(conn, department=department, employee_id=None)


# --- pricing across currencies -----------------------------------------------------------


async def test_an_order_is_priced_in_the_suppliers_currency_and_charged_translated(
    pool: asyncpg.Pool,
) -> None:
    # 2 wheels at 38.50 USD = 77.00 USD = 70.84 EUR at 0.92
    placed = await place(pool, "ASSEMBLY", "WHEELS", "WHEEL-28", 2)

    order = await read(pool, placed.order_id)
    assert (order["currency"], order["total"]) == ("USD", Decimal("77.00"))
    assert (order["requester_currency"], order["fx_rate"], order["requester_total"]) == (
        "EUR",
        Decimal("0.92"),
        Decimal("70.84"),
    )
    assert placed.event is not None
    assert (placed.event.currency, placed.event.requester_currency) == ("USD", "EUR")
    assert placed.event.fx_rate == Decimal("0.92")
    assert await committed(pool, "ASSEMBLY") == Decimal("70.84")

    # the other way the inverse is derived: 209.00 EUR / 0.92 = 227.17 USD (half-up)
    bought = await place(pool, "WHEELS", "FRAMES", "FRAME-CITY", 2)
    order = await read(pool, bought.order_id)
    assert (order["currency"], order["total"]) == ("EUR", Decimal("209.00"))
    assert (order["requester_currency"], order["requester_total"]) == ("USD", Decimal("227.17"))
    assert order["fx_rate"] == Decimal("1.0869565217")
    # within one currency nothing is translated and the event carries no rate
    same = await place(pool, "ASSEMBLY", "FRAMES", "FRAME-CITY", 1)
    assert same.event is not None and same.event.fx_rate is same.event.requester_currency is None
    order = await read(pool, same.order_id)
    assert (order["fx_rate"], order["requester_total"]) == (None, order["total"])


async def test_a_missing_rate_refuses_the_order_naming_the_pair(
    service_pool: ServicePool,
) -> None:
    today = datetime.now(UTC).date()
    not_yet = USD_EUR.model_copy(update={"valid_from": today + timedelta(days=2)})
    pool = await intake(service_pool, two_currency_company(not_yet))

    with pytest.raises(OrderRefused) as refused:
        await place(pool, "ASSEMBLY", "WHEELS", "WHEEL-28", 2)
    assert refused.value.status == 422
    assert refused.value.message == f"no exchange rate USD->EUR valid on {today.isoformat()}"

    # an order between EUR departments whose chain buys wheels in USD: refused before a
    # sub-order could stop half-way for want of the rate
    with pytest.raises(OrderRefused) as chain:
        await place(pool, "RETAIL_OPS", "ASSEMBLY", "BIKE-CITY", 1)
    assert chain.value.field == "lines"
    assert "no exchange rate USD->EUR" in chain.value.message
    # a chain within one currency needs no rate
    await place(pool, "ASSEMBLY", "FRAMES", "FRAME-CITY", 1)
    async with pool.acquire() as conn:
        assert [e.event_type for e in await outbox_events(conn)] == ["OrderPlaced"]


# --- sub-orders in budgets ---------------------------------------------------------------


def sub_order(
    parent: OrderPlaced, *, requester: str, supplier: str, sku: str, quantity: int, **fx: Any
) -> OrderPlaced:
    """A component's sub-order as fulfilment raises it."""
    return order_placed(
        parent=parent,
        causation_id=parent.event_id,
        producer="fulfilment",
        requester=requester,
        supplier=supplier,
        sku=sku,
        quantity=quantity,
        unit_price="38.50",
        **fx,
    )


async def test_a_sub_order_is_recorded_once_and_charged_to_the_department_that_raised_it(
    pool: asyncpg.Pool,
) -> None:
    root = await place(pool, "RETAIL_OPS", "ASSEMBLY", "BIKE-CITY", 1)
    assert root.event is not None
    wheels = sub_order(
        root.event,
        requester="ASSEMBLY",
        supplier="WHEELS",
        sku="WHEEL-28",
        quantity=2,
        currency="USD",
        requester_currency="EUR",
        fx_rate=Decimal("0.92"),
    )
    # its acceptance overtakes it (another topic), then it is redelivered
    accepted = follow_up(wheels, OrderAccepted, producer="fulfilment")
    await apply_events(pool, apply_event, accepted, wheels, wheels, root.event)

    order = await read(pool, wheels.order_id)
    assert order["status"] == "accepted"
    assert order["parent_order_id"] == root.order_id
    assert (order["currency"], order["total"], order["requester_total"]) == (
        "USD",
        Decimal("77.00"),
        Decimal("70.84"),
    )
    assert order["over_budget"] is False
    assert [t["event_type"] for t in order["timeline"]] == ["OrderPlaced", "OrderAccepted"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 2  # our own not twice
    assert await committed(pool, "ASSEMBLY") == Decimal("70.84")

    # not cancelled through intake: it is cancelled with its parent's work ...
    async with pool.acquire() as conn:
        with pytest.raises(OrderRefused) as refused:
            await commands.cancel(conn, wheels.order_id, department="ASSEMBLY", reason="")
    assert refused.value.status == 409
    # ... and then released like any order
    await apply_events(pool, apply_event, follow_up(wheels, WorkCancelled, producer="fulfilment"))
    assert await committed(pool, "ASSEMBLY") == 0


async def test_a_sub_order_over_budget_is_flagged_counted_and_shown_never_refused(
    pool: asyncpg.Pool,
) -> None:
    root = await place(pool, "RETAIL_OPS", "ASSEMBLY", "BIKE-CITY", 1)
    assert root.event is not None
    # ASSEMBLY's budget is 400000.00 EUR; 12000 frames at 38.50 = 462000.00 EUR
    big = sub_order(
        root.event, requester="ASSEMBLY", supplier="FRAMES", sku="FRAME-CITY", quantity=12_000
    )
    overruns = metrics.BUDGET_OVERRUNS.labels(department="ASSEMBLY")
    before = overruns._value.get()

    await apply_events(pool, apply_event, big, big)

    order = await read(pool, big.order_id)
    assert order["status"] == "placed" and order["over_budget"] is True
    [warning] = order["warnings"]
    assert "over its monthly budget of 400000.00 EUR" in warning
    assert overruns._value.get() == before + 1  # once, though redelivered
    async with pool.acquire() as conn:
        budget = await store.department_budget(conn, "ASSEMBLY")
        month = datetime.now(UTC).date().replace(day=1)
        use = await store.budget_use(conn, department="ASSEMBLY", month=month)
    assert budget is not None
    assert (use.own_orders, use.sub_orders, use.over_budget_sub_orders) == (
        Decimal("0"),
        Decimal("462000.00"),
        1,
    )
    standing = budget_standing(budget, own_orders=use.own_orders, sub_orders=use.sub_orders)
    assert (standing.overrun, standing.remaining, standing.over_budget) == (
        Decimal("62000.00"),
        Decimal("0.00"),
        True,
    )


# --- rates as reference data -----------------------------------------------------------


async def test_the_company_files_rates_are_kept_and_published_like_the_other_kinds(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("order_intake")
    async with pool.acquire() as conn:
        await company_commands.load_company(conn, two_currency_company(USD_EUR))
        [defined] = [e for e in await outbox_events(conn) if e.event_type == "FxRateDefined"]
        assert (defined.entity_key, defined.fx_rate, defined.active) == (
            "fx_rate:USD-EUR:2020-01-01",
            USD_EUR,
            True,
        )
        assert await store.fx_rates(conn) == [USD_EUR]

        # republished at every start; a file that no longer has it deactivates it
        await conn.execute("DELETE FROM outbox")
        await company_commands.load_company(conn, two_currency_company())
        [removed] = [e for e in await outbox_events(conn) if e.event_type == "FxRateDefined"]
        assert (removed.fx_rate, removed.active) == (USD_EUR, False)
        assert await store.fx_rates(conn) == []
