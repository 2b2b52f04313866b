"""Carry out a department's command on its orders: one transaction, state + outbox.

Commands raise the domain's OrderRefused, or UnknownOrder, NotTheRequester and
IdempotencyConflict; the routes answer them as problem documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import OrderCancelled, OrderLine, OrderPlaced, Priority
from supplychain_contracts.topics import HEADER_EVENT_TYPE
from supplychain_kit.http.auth import Visibility
from supplychain_kit.messaging import outbox
from supplychain_kit.telemetry import current_trace_headers, join_trace

from order_intake import domain, metrics, store
from order_intake.domain import (
    Limits,
    OrderRefused,
    OrderRequest,
    OrderStatus,
)


class UnknownOrder(Exception):
    """No such order, or none the department may see: the two are indistinguishable."""

    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class NotTheRequester(Exception):
    """The department sees the order (it supplies it) but only its requester may do this."""

    def __init__(self, *, department: str, requester: str) -> None:
        super().__init__(f"{department} did not place this order; {requester} did")
        self.department = department
        self.requester = requester


class IdempotencyConflict(Exception):
    """The idempotency key already placed an order from a different request."""


@dataclass(frozen=True)
class Placement:
    """The order an idempotency key stands for: placed now (`created`), or earlier (a replay)."""

    order_id: UUID
    status: OrderStatus
    created: bool
    # The OrderPlaced this placement published; None if it published nothing: a replay, or an
    # order pending approval (its approval publishes the OrderPlaced).
    event: OrderPlaced | None = None
    # The order as stored (as store.get_order reads it) when placed now; None for a replay.
    order: dict[str, Any] | None = None


@dataclass(frozen=True)
class Cancellation:
    """What a cancel did: `requested` the supplier to cancel (pending its settlement; `event`
    None when it had been requested already), or withdrew an order never announced."""

    order_id: UUID
    requested: bool
    event: OrderCancelled | None


async def place(
    conn: asyncpg.Connection,
    request: OrderRequest,
    *,
    idempotency_key: str,
    fingerprint: str,
    placed_by_key_id: str,
    limits: Limits,
) -> Placement:
    """Place a department's (or its employee's) order, priced now, within its budget or
    allowance; the same key with the same request (`fingerprint`) finds the order again.

    The key is claimed by the order's insert: a new order takes two round trips (the
    reference data, then one statement storing it), and only a key found taken, or a refusal,
    looks for the order the key stands for. Raises OrderRefused or IdempotencyConflict.
    """
    try:
        placement = await _place_new(
            conn,
            request,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            placed_by_key_id=placed_by_key_id,
            limits=limits,
        )
    except OrderRefused:
        # refused as a new order, but the key may stand for one placed earlier: a replay
        prior = await store.order_by_key(conn, requester=request.requester, key=idempotency_key)
        if prior is None:
            raise
    else:
        if placement is not None:
            if placement.status is OrderStatus.PLACED:
                _count_placed(request)
            return placement
        prior = await store.order_by_key(conn, requester=request.requester, key=idempotency_key)
        assert prior is not None  # the insert found the key taken by a committed order
    if prior.request_hash != fingerprint:
        raise IdempotencyConflict(idempotency_key)
    return Placement(order_id=prior.order_id, status=prior.status, created=False)


async def _place_new(
    conn: asyncpg.Connection,
    request: OrderRequest,
    *,
    idempotency_key: str,
    fingerprint: str,
    placed_by_key_id: str,
    limits: Limits,
) -> Placement | None:
    """Check, price and store a new order; None if its key is taken."""
    now = datetime.now(UTC)
    references = await store.order_references(
        conn,
        requester=request.requester,
        supplier=request.supplier,
        skus=[line.sku for line in request.lines],
        employee_id=request.employee_id,
    )
    employee = domain.check_employee_purchase(
        request,
        references.employee,
        supplier_is_employee_shop=references.employee_shop_discount is not None,
    )
    lines = domain.price_lines(
        request,
        catalogue=references.catalogue,
        departments=references.departments,
        limits=limits,
        today=now.date(),
        employee_discount_pct=references.employee_shop_discount,
        inactive_departments=references.inactive_departments,
        currency=references.currency,
    )
    budget = references.budget
    assert budget is not None  # price_lines refused an unknown requester
    domain.check_chain_rates(references.chain_trades, references.fx_rates, now.date())
    translation = domain.translate_total(
        domain.order_total(lines),
        currency=references.currency,
        requester_currency=budget.currency,
        rates=references.fx_rates,
        day=now.date(),
    )
    total = translation.requester_total  # what the budget or allowance is charged

    def check(committed: Decimal) -> domain.SpendingCheck:  # raises OrderRefused
        if employee is not None:
            return domain.check_employee_spending(employee, spent_this_year=committed, total=total)
        return domain.check_department_spending(budget, committed_this_month=committed, total=total)

    event = domain.place(request, lines, currency=references.currency, translation=translation)

    async def store_it(spending: domain.SpendingCheck) -> store.Stored:
        return await store.place_order(
            conn,
            order=event,
            total=domain.order_total(lines),
            translation=translation,
            key=idempotency_key,
            request_hash=fingerprint,
            status=spending.status,
            committed_from=spending.holds_from,
            committed_to=spending.holds_to,
            placed_by_key_id=placed_by_key_id,
            warnings=spending.warnings,
            trace_headers=current_trace_headers(),
            outbox_headers={**current_trace_headers(), HEADER_EVENT_TYPE: event.event_type},
        )

    stored, spending = await _store(conn, request, store_it, check, references.committed)
    if stored.order is None:
        return None
    placed = spending.status is OrderStatus.PLACED
    return Placement(
        order_id=event.order_id,
        status=spending.status,
        created=True,
        event=event if placed else None,
        order=stored.order,
    )


async def _store(
    conn: asyncpg.Connection,
    request: OrderRequest,
    store_it: Callable[[domain.SpendingCheck], Awaitable[store.Stored]],
    check: Callable[[Decimal], domain.SpendingCheck],
    committed: Decimal,
) -> tuple[store.Stored, domain.SpendingCheck]:
    """Store an order checked against the running total as read (`committed`, unlocked):
    stored only if the total its statement finds (locked, for that statement alone) gives the
    same outcome; else checked again with the total locked until the commit, so that it holds.
    Returns what was stored and the check it was stored with."""
    spending = check(committed)
    stored = await store_it(spending)
    if stored.committed is not None and (
        stored.order is not None or spending.holds_for(stored.committed)
    ):
        return stored, spending  # stored, or its key taken
    # The period's first order (no running total yet), or another order changed the total
    # meanwhile (near the budget's end)
    async with conn.transaction():
        committed = await store.lock_spending(
            conn, department=request.requester, employee_id=request.employee_id
        )
        spending = check(committed)
        stored = await store_it(spending)
    return stored, spending


async def approve(
    conn: asyncpg.Connection, order_id: UUID, *, department: str, approver_key_id: str
) -> OrderPlaced:
    """A second key of the requesting department approves an order pending approval: it is
    placed now, and its OrderPlaced published. Raises UnknownOrder or OrderRefused."""
    async with conn.transaction():
        order = await store.get_order(
            conn, order_id, visible=Visibility(party=department), for_update=True
        )
        if order is None or order["requester"] != department:
            raise UnknownOrder(order_id)
        event = domain.approve(
            order_id=order_id,
            status=OrderStatus(order["status"]),
            placed_by_key_id=order["placed_by_key_id"],
            approver_key_id=approver_key_id,
            request=OrderRequest(
                requester=order["requester"],
                supplier=order["supplier"],
                employee_id=order["employee_id"],
                lines=(),
                priority=Priority(order["priority"]),
                needed_by=order["needed_by"],
            ),
            lines=tuple(OrderLine(**line) for line in order["lines"]),
            currency=order["currency"],
            translation=domain.Translation(
                order["requester_currency"], order["fx_rate"], order["requester_total"]
            ),
        )
        await store.mark_approved(conn, order=event, approved_by_key_id=approver_key_id)
        with join_trace("order-intake approve", store.order_trace(order)):
            await outbox.append(conn, [event])
    _count_placed(event)
    return event


async def cancel(
    conn: asyncpg.Connection, order_id: UUID, *, department: str, reason: str
) -> Cancellation:
    """The requesting department cancels an order: one never announced (pending approval) is
    withdrawn here; otherwise OrderCancelled asks the supplier, whose fulfilment settles it
    (WorkCancelled or CancellationRefused: the status and the budget follow that, see
    handlers). Asked again while pending, nothing new is sent. Raises UnknownOrder,
    NotTheRequester or OrderRefused."""
    async with conn.transaction():
        order = await store.get_order(
            conn, order_id, visible=Visibility(party=department), for_update=True
        )
        if order is None:
            raise UnknownOrder(order_id)
        if department != order["requester"]:
            raise NotTheRequester(department=department, requester=order["requester"])
        status = OrderStatus(order["status"])
        if not domain.announced(status):
            await store.set_status(conn, order_id, OrderStatus.CANCELLED)
            return Cancellation(order_id=order_id, requested=False, event=None)
        pending = order["cancellation_status"]
        event = domain.cancel(
            order_id=order_id,
            root_order_id=order["root_order_id"],
            status=status,
            cancellation=None if pending is None else domain.CancellationStatus(pending),
            supplier=order["supplier"],
            requester=order["requester"],
            employee_id=order["employee_id"],
            reason=reason,
            # built from the stored order: caused by the last handoff this service saw
            causation_id=await store.last_event_id(conn, order_id),
            parent_order_id=order["parent_order_id"],
        )
        if event is None:
            return Cancellation(order_id=order_id, requested=True, event=None)
        await store.request_cancellation(
            conn, order_id, reason=event.reason, requested_at=event.occurred_at
        )
        await store.add_timeline(
            conn,
            event_id=event.event_id,
            order_id=order_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            detail=event.reason or None,
        )
        with join_trace("order-intake cancel", store.order_trace(order)):
            await outbox.append(conn, [event])
    return Cancellation(order_id=order_id, requested=True, event=event)


def _count_placed(order: OrderRequest | OrderPlaced) -> None:
    """Count an order once it is placed and committed (a pending one counts on approval)."""
    metrics.ORDERS_PLACED.labels(requester=order.requester, supplier=order.supplier).inc()
