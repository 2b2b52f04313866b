"""Fulfilment's part of issue 21 in process on the real PostgreSQL: cancellation requests the
supplier settles (and races with shipping), auto-receipt, and sub-orders in currencies.

Reference data comes as its owners publish it (order intake's company, monitoring's SLA
policies), applied by fulfilment's handlers; sub-orders' events come back through `consume`
as fulfilment's consumer would bring them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fulfilment import auto_receipt, commands, store
from fulfilment.domain import Command, IllegalTransition, WorkStatus
from supplychain_contracts import (
    CancellationRefused,
    OrderBlocked,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    WorkCancelled,
    follow_up,
)
from supplychain_contracts.company import Company, FxRate, LegalEntity, SlaPolicy, sample_company
from supplychain_contracts.reference import SlaPolicyDefined, fx_rate_defined
from supplychain_kit.http.auth import EVERY_ROW
from support import reference_events
from support.events import order_placed
from support.service import ServicePool
from test_fulfilment_commands import command, consume, published

WHEELS = (OrderLine(sku="WHEEL-28", quantity=2, unit_price=Decimal("38.50")),)
FRAMES_ORDER = (OrderLine(sku="FRAME-CITY", quantity=1, unit_price=Decimal("104.50")),)
AUTO_RECEIPT_S = 60
RACE_PAIRS = 40


def window_policy() -> SlaPolicyDefined:
    """Monitoring's policy for WHEELS: a one-minute auto-receipt in a round-the-clock
    calendar (tests must not wait five days; they pass `now` to the scan instead)."""
    policy = SlaPolicy(
        supplier="WHEELS",
        targets_seconds={"delivery": 60},
        auto_receipt_after_seconds=AUTO_RECEIPT_S,
    )
    return SlaPolicyDefined(
        producer="monitoring",
        entity_key=f"sla_policy:{policy.policy_key}",
        policy_id=policy.policy_key,
        version=1,
        effective_from=datetime(1970, 1, 1, tzinfo=UTC),
        policy=policy,
    )


def us_metalworks(*, with_rate: bool) -> tuple[Company, list[Any]]:
    """The sample company with METALWORKS in a US subsidiary (USD), and a EUR/USD rate."""
    company = sample_company()
    us = LegalEntity(code="NC-US", name="Nordcycle US Inc.", currency="USD")
    departments = tuple(
        d.model_copy(update={"legal_entity": "NC-US"}) if d.code == "METALWORKS" else d
        for d in company.departments
    )
    company = company.model_copy(
        update={"legal_entities": (*company.legal_entities, us), "departments": departments}
    )
    rate = FxRate(base="EUR", quote="USD", rate=Decimal("1.0800"), valid_from=date(2020, 1, 1))
    rates = [fx_rate_defined(rate, producer="order-intake")] if with_rate else []
    return company, rates


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("fulfilment")
    await consume(pool, *reference_events(sample_company()), window_policy())
    return pool


async def view(pool: asyncpg.Pool, order_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        found = await store.work_item_view(conn, order_id, visible=EVERY_ROW)
    assert found is not None
    return found


async def place(
    pool: asyncpg.Pool, supplier: str, lines: tuple[OrderLine, ...], **fields: Any
) -> OrderPlaced:
    """ASSEMBLY's order of `lines` from `supplier`, as order intake announces it."""
    placed = order_placed(producer="order-intake", supplier=supplier, lines=lines, **fields)
    await consume(pool, placed)
    return placed


async def wheels_order(
    pool: asyncpg.Pool, up_to: Command | None = None, **fields: Any
) -> OrderPlaced:
    """ASSEMBLY orders wheels of WHEELS; WHEELS works it up to `up_to` (None: received)."""
    placed = await place(pool, "WHEELS", WHEELS, **fields)
    order_id = placed.order_id
    steps = [Command.ACCEPT, Command.START, Command.SHIP]
    for step in steps[: steps.index(up_to) + 1] if up_to else []:
        await command(pool, order_id, step, "WHEELS")
    return placed


def settlements(events: list[Any], request: OrderCancelled) -> list[Any]:
    return [e for e in events if e.causation_id == request.event_id]


# --- cancellation requests --------------------------------------------------------------------


async def test_a_request_cancels_work_that_can_still_stop_once(pool: asyncpg.Pool) -> None:
    placed = await wheels_order(pool, Command.START)
    request = follow_up(placed, OrderCancelled, producer="order-intake", reason="plans changed")

    await consume(pool, request, request)  # redelivered: settled once

    [settled] = settlements(await published(pool), request)
    assert isinstance(settled, WorkCancelled)
    assert (settled.order_id, settled.supplier, settled.requester) == (
        placed.order_id,
        "WHEELS",
        "ASSEMBLY",
    )
    assert settled.reason == "plans changed"
    shown = await view(pool, placed.order_id)
    assert (shown["status"], shown["reason"], shown["cancellation_refused"]) == (
        "cancelled",
        "plans changed",
        None,
    )
    with pytest.raises(IllegalTransition):
        await command(pool, placed.order_id, Command.SHIP, "WHEELS")


async def test_a_request_after_shipping_is_refused_with_the_reason(pool: asyncpg.Pool) -> None:
    placed = await wheels_order(pool, Command.SHIP)
    request = follow_up(placed, OrderCancelled, producer="order-intake")

    await consume(pool, request)

    [settled] = settlements(await published(pool), request)
    assert isinstance(settled, CancellationRefused)
    assert settled.reason == "already shipped"
    shown = await view(pool, placed.order_id)
    assert (shown["status"], shown["cancellation_refused"]) == ("shipped", "already shipped")
    async with pool.acquire() as conn:
        queued = {
            row["order_id"]: row for row in await store.queue(conn, "WHEELS", visible=EVERY_ROW)
        }
    assert queued[placed.order_id]["cancellation_refused"] == "already shipped"
    # the order goes on: the requester confirms it, and a later request is refused again
    await command(pool, placed.order_id, Command.RECEIPT, "ASSEMBLY")
    again = follow_up(placed, OrderCancelled, producer="order-intake")
    await consume(pool, again)
    [refused] = settlements(await published(pool), again)
    assert isinstance(refused, CancellationRefused) and refused.reason == "already delivered"


async def test_a_request_for_an_unknown_order_is_refused(pool: asyncpg.Pool) -> None:
    order_id = uuid.uuid4()
    request = OrderCancelled(
        order_id=order_id,
        root_order_id=order_id,
        producer="order-intake",
        supplier="WHEELS",
        requester="ASSEMBLY",
    )
    await consume(pool, request)
    [refused] = settlements(await published(pool), request)
    assert isinstance(refused, CancellationRefused) and "unknown order" in refused.reason


async def test_a_cancelled_sub_order_blocks_its_parent(pool: asyncpg.Pool) -> None:
    order_id = (await place(pool, "FRAMES", FRAMES_ORDER)).order_id
    accepted = await command(pool, order_id, Command.ACCEPT, "FRAMES")
    raised = [e for e in await published(pool) if isinstance(e, OrderPlaced)]
    await consume(pool, *raised)
    paint = next(s for s in accepted.sub_orders if s.sku == "PAINT-FRAME")

    request = OrderCancelled(
        order_id=paint.order_id,
        root_order_id=order_id,
        producer="order-intake",
        supplier="PAINTSHOP",
        requester="FRAMES",
        reason="colour dropped",
    )
    await consume(pool, request)
    [settled] = settlements(await published(pool), request)
    assert isinstance(settled, WorkCancelled)

    # in the settlement's own transaction: nothing travels back through the broker first
    shown = await view(pool, order_id)
    assert shown["status"] == "blocked"
    assert {s["sku"]: s["status"] for s in shown["sub_orders"]}["PAINT-FRAME"] == "cancelled"
    [blocked] = [e for e in await published(pool) if isinstance(e, OrderBlocked)]
    assert blocked.blocking_order_id == paint.order_id
    assert blocked.causation_id == settled.event_id and "colour dropped" in blocked.reason


async def test_concurrent_ship_and_cancel_end_in_exactly_one_outcome(pool: asyncpg.Pool) -> None:
    """Many pairs at once, each a supplier shipping and a requester's cancellation arriving
    together: shipped with the cancellation refused, or cancelled with the ship refused."""
    orders = [await wheels_order(pool, Command.START) for _ in range(RACE_PAIRS)]
    requests = {o.order_id: follow_up(o, OrderCancelled, producer="order-intake") for o in orders}

    async def ship(order_id: uuid.UUID) -> WorkStatus | None:
        """None: shipped; else the state the ship was refused in (the route's 409)."""
        try:
            await command(pool, order_id, Command.SHIP, "WHEELS")
        except IllegalTransition as refused:
            return refused.current
        return None

    async def cancel(order_id: uuid.UUID) -> str:
        await consume(pool, requests[order_id])
        return "settled"

    racers: list[Any] = []
    for i, order in enumerate(orders):  # who starts first alternates
        pair = [ship(order.order_id), cancel(order.order_id)]
        racers += pair if i % 2 else pair[::-1]
    results = await asyncio.gather(*racers)
    ship_results = [r for r in results if r != "settled"]
    refused_in = dict(zip([o.order_id for o in orders], ship_results, strict=True))

    events = await published(pool)
    outcomes = {"shipped, cancellation refused": 0, "cancelled, ship refused": 0}
    for order in orders:
        [settled] = settlements(events, requests[order.order_id])
        shipments = [
            e for e in events if isinstance(e, OrderShipped) and e.order_id == order.order_id
        ]
        status = (await view(pool, order.order_id))["status"]
        if refused_in[order.order_id] is None:
            assert isinstance(settled, CancellationRefused)
            assert settled.reason == "already shipped"
            assert (status, len(shipments)) == ("shipped", 1)
            outcomes["shipped, cancellation refused"] += 1
        else:
            assert refused_in[order.order_id] is WorkStatus.CANCELLED
            assert isinstance(settled, WorkCancelled)
            assert (status, len(shipments)) == ("cancelled", 0)
            outcomes["cancelled, ship refused"] += 1
    print(f"\nship/cancel race, {RACE_PAIRS} pairs: {outcomes}")
    assert sum(outcomes.values()) == RACE_PAIRS


# --- auto-receipt -----------------------------------------------------------------------------


async def test_auto_receipt_confirms_a_due_delivery_once_and_not_before(
    pool: asyncpg.Pool,
) -> None:
    placed = await wheels_order(
        pool, Command.SHIP, currency="USD", requester_currency="EUR", fx_rate=Decimal("0.92")
    )
    [shipped] = [e for e in await published(pool) if isinstance(e, OrderShipped)]
    shown = await view(pool, placed.order_id)
    assert shown["shipped_at"] == shipped.occurred_at
    due = shown["auto_receipt_due_at"]
    assert due == shipped.occurred_at + timedelta(seconds=AUTO_RECEIPT_S)

    assert await auto_receipt.confirm_due(pool, now=due - timedelta(seconds=1)) == (0, due)
    assert (await view(pool, placed.order_id))["status"] == "shipped"

    # two scanners (replicas) at once: the delivery is confirmed by one of them
    later = due + timedelta(seconds=1)
    scans = await asyncio.gather(*(auto_receipt.confirm_due(pool, now=later) for _ in range(2)))
    assert sorted(confirmed for confirmed, _ in scans) == [0, 1]
    assert await auto_receipt.confirm_due(pool, now=later) == (0, None)

    [delivered] = [e for e in await published(pool) if isinstance(e, OrderDelivered)]
    assert delivered.order_id == placed.order_id
    assert delivered.confirmed_by == "auto"
    assert delivered.shipped_at == shipped.occurred_at
    assert (delivered.currency, delivered.requester_currency, delivered.fx_rate) == (
        "USD",
        "EUR",
        Decimal("0.92"),
    )
    assert delivered.lines == WHEELS
    assert (await view(pool, placed.order_id))["status"] == "delivered"


async def test_no_auto_receipt_after_the_requesters_receipt(pool: asyncpg.Pool) -> None:
    placed = await wheels_order(pool, Command.SHIP)
    due = (await view(pool, placed.order_id))["auto_receipt_due_at"]
    await command(pool, placed.order_id, Command.RECEIPT, "ASSEMBLY")

    assert await auto_receipt.confirm_due(pool, now=due + timedelta(days=1)) == (0, None)

    [delivered] = [e for e in await published(pool) if isinstance(e, OrderDelivered)]
    assert delivered.confirmed_by == "requester"
    assert delivered.shipped_at is not None
    assert (delivered.requester_currency, delivered.fx_rate) == (None, None)


async def test_without_a_policy_the_window_is_five_working_days(pool: asyncpg.Pool) -> None:
    pallet = (OrderLine(sku="PALLET-MOVE", quantity=1, unit_price=Decimal("18.00")),)
    order_id = (await place(pool, "LOGISTICS", pallet)).order_id
    for step in (Command.ACCEPT, Command.START, Command.SHIP):
        await command(pool, order_id, step, "LOGISTICS")
    shown = await view(pool, order_id)
    # LOGISTICS has no policy in this test's copy: the round-the-clock calendar's 5 days
    assert shown["auto_receipt_due_at"] == shown["shipped_at"] + timedelta(days=5)


# --- sub-orders in their suppliers' currencies ------------------------------------------------


async def accept_frames(pool: asyncpg.Pool) -> tuple[uuid.UUID, commands.Outcome]:
    order_id = (await place(pool, "FRAMES", FRAMES_ORDER)).order_id
    return order_id, await command(pool, order_id, Command.ACCEPT, "FRAMES")


async def test_sub_orders_are_priced_in_their_suppliers_currencies(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("fulfilment")
    company, rates = us_metalworks(with_rate=True)
    await consume(pool, *reference_events(company), *rates)

    order_id, accepted = await accept_frames(pool)

    assert accepted.status is WorkStatus.ACCEPTED
    placed = {e.lines[0].sku: e for e in await published(pool) if isinstance(e, OrderPlaced)}
    for sku in ("TUBE-AL-6061", "DROPOUT-STEEL"):  # METALWORKS, in the US entity
        assert (placed[sku].currency, placed[sku].requester_currency) == ("USD", "EUR")
        assert placed[sku].fx_rate == Decimal("0.9259259259")  # 1 / 1.08, derived
        assert placed[sku].requester == "FRAMES"
    paint = placed["PAINT-FRAME"]
    assert (paint.currency, paint.requester_currency, paint.fx_rate) == ("EUR", None, None)
    # the sub-order's supplier keeps the order's translation for its delivery
    await consume(pool, placed["TUBE-AL-6061"])
    shown = await view(pool, placed["TUBE-AL-6061"].order_id)
    assert (shown["currency"], shown["requester_currency"], shown["fx_rate"]) == (
        "USD",
        "EUR",
        "0.9259259259",
    )
    assert order_id == placed["TUBE-AL-6061"].parent_order_id


async def test_a_missing_rate_blocks_the_parent_naming_the_pair(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("fulfilment")
    company, _ = us_metalworks(with_rate=False)
    await consume(pool, *reference_events(company))

    order_id, accepted = await accept_frames(pool)

    assert accepted.status is WorkStatus.BLOCKED
    assert accepted.sub_orders == ()
    events = await published(pool)
    assert not any(isinstance(e, OrderPlaced) for e in events)
    [blocked] = [e for e in events if isinstance(e, OrderBlocked)]
    assert blocked.order_id == order_id and "USD/EUR" in blocked.reason
    shown = await view(pool, order_id)
    assert shown["status"] == "blocked" and "USD/EUR" in shown["reason"]


async def test_a_sub_order_blocked_by_a_missing_rate_blocks_its_parent(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("fulfilment")
    company, _ = us_metalworks(with_rate=False)
    await consume(pool, *reference_events(company))
    bike = await place(
        pool, "ASSEMBLY", (OrderLine(sku="EBIKE-CITY", quantity=1, unit_price=Decimal("1")),)
    )
    await command(pool, bike.order_id, Command.ACCEPT, "ASSEMBLY")  # all in EUR: no rate needed
    raised = [e for e in await published(pool) if isinstance(e, OrderPlaced)]
    await consume(pool, *raised)
    frame = next(e for e in raised if e.lines[0].sku == "FRAME-CITY")

    accepted = await command(pool, frame.order_id, Command.ACCEPT, "FRAMES")

    assert accepted.status is WorkStatus.BLOCKED
    frame_blocked, bike_blocked = [e for e in await published(pool) if isinstance(e, OrderBlocked)]
    assert frame_blocked.order_id == frame.order_id and "USD/EUR" in frame_blocked.reason
    assert (bike_blocked.order_id, bike_blocked.blocking_order_id) == (
        bike.order_id,
        frame.order_id,
    )
    assert bike_blocked.causation_id == frame_blocked.event_id
    assert "USD/EUR" in bike_blocked.reason
    shown = await view(pool, bike.order_id)
    assert shown["status"] == "blocked"
    assert {s["sku"]: s["status"] for s in shown["sub_orders"]}["FRAME-CITY"] == "blocked"
