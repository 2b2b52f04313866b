"""HTTP API of order intake: the routes a department's system integrates with."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from supplychain_contracts import OrderLine, OrderPlaced, Priority
from supplychain_kit import metrics, outbox
from supplychain_kit.auth import Caller, Principal, require_department
from supplychain_kit.http import Db, Runtime
from supplychain_kit.problems import Problem
from supplychain_kit.telemetry import current_trace_headers, join_trace

from order_intake import domain, store
from order_intake.config import OrderIntakeSettings
from order_intake.domain import DepartmentBudget, OrderRefused, OrderStatus
from order_intake.models import (
    INVALID,
    UNAUTHORIZED,
    CancelOrder,
    CatalogueItemOut,
    DepartmentOut,
    OrderOut,
    OrderPage,
    OrderSummary,
    PlaceOrder,
    Responses,
    problem,
)

router = APIRouter(prefix="/v1", tags=["orders"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="unique per order attempt (8-128 printable ASCII characters); a retry "
        "with the same key and body is a replay",
        examples=["assembly-po-2025-0001"],
    ),
]
NOT_FOUND: Responses = {404: problem("no such order, or not one of the caller's department")}


def _refusal(refused: OrderRefused, *, title: str, **extensions: Any) -> Problem:
    return Problem(
        refused.status,
        refused.message,
        title=title,
        errors=[{"field": refused.field, "message": refused.message}],
        **extensions,
    )


def _visible(order: dict[str, Any] | None, caller: Principal) -> bool:
    return order is not None and caller.department in domain.visible_to(
        requester=order["requester"],
        supplier=order["supplier"],
        status=OrderStatus(order["status"]),
    )


async def _load(db: Db, order_id: UUID, caller: Principal) -> OrderOut:
    order = await store.get_order(db, order_id)
    if order is None or not _visible(order, caller):
        # another department's order is indistinguishable from a missing one
        raise Problem(404, f"order {order_id} does not exist")
    return OrderOut.model_validate(order)


def _request_of(body: PlaceOrder) -> domain.OrderRequest:
    return domain.OrderRequest(
        requester=body.requester,
        supplier=body.supplier,
        employee_id=body.employee_id,
        lines=tuple(
            domain.RequestedLine(sku=line.sku, quantity=line.quantity) for line in body.lines
        ),
        priority=body.priority,
        needed_by=body.needed_by,
    )


async def _check_spending(
    db: Db,
    request: domain.OrderRequest,
    budget: DepartmentBudget,
    total: Decimal,
    now: datetime,
) -> tuple[OrderStatus, tuple[str, ...]]:
    """Budget and approval for a department's order, allowance for an employee's."""
    if request.employee_id is not None:
        employee = await store.employee(db, request.employee_id)
        assert employee is not None  # checked before pricing
        spent = await store.employee_spent(
            db, employee_id=employee.employee_id, since=domain.year_start(now)
        )
        domain.check_allowance(employee, spent_this_year=spent, total=total)
        return OrderStatus.PLACED, ()
    committed = await store.committed_this_month(
        db, department=request.requester, since=domain.month_start(now)
    )
    warnings = domain.budget_warnings(budget, committed_this_month=committed, total=total)
    pending = domain.needs_approval(budget, total)
    return (OrderStatus.PENDING_APPROVAL if pending else OrderStatus.PLACED), warnings


async def _place_new(
    db: Db,
    runtime: Runtime,
    body: PlaceOrder,
    budget: DepartmentBudget | None,
    *,
    key: str,
    fingerprint: str,
    caller: Principal,
) -> tuple[OrderPlaced, OrderStatus, bool]:
    """Validate, price, check spending and store a new order (in the caller's transaction)."""
    settings = runtime.settings
    assert isinstance(settings, OrderIntakeSettings)
    request = _request_of(body)
    now = datetime.now(UTC)
    shop_discount = await store.employee_shop_discount(db, body.supplier)
    if request.employee_id is not None:
        domain.check_employee_purchase(
            request,
            await store.employee(db, request.employee_id),
            supplier_is_employee_shop=shop_discount is not None,
        )
    lines = domain.price_lines(
        request,
        catalogue=await store.catalogue_entries(db, [line.sku for line in body.lines]),
        departments=await store.department_codes(db),
        limits=domain.Limits(
            max_lines=settings.max_lines_per_order,
            max_quantity=settings.max_quantity_per_line,
        ),
        today=now.date(),
        employee_discount_pct=shop_discount,
    )
    assert budget is not None  # price_lines refused an unknown requester
    total = domain.order_total(lines)
    status, warnings = await _check_spending(db, request, budget, total, now)
    event = domain.place(request, lines, currency="EUR")
    created = await store.claim_idempotency_key(
        db,
        order=event,
        total=total,
        key=key,
        request_hash=fingerprint,
        status=status,
        placed_by_key_id=caller.key_id,
        warnings=warnings,
    )
    if created:
        await store.remember_trace(db, event.order_id, current_trace_headers())
    if created and status is OrderStatus.PLACED:
        await outbox.append(db, [event])
    return event, status, created


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order",
    responses={
        201: {"description": "the order is stored (placed, or pending approval)"},
        200: {"model": OrderOut, "description": "replay of an earlier request with this key"},
        **UNAUTHORIZED,
        403: problem("a department orders only for itself"),
        409: problem("the Idempotency-Key was used with a different body"),
        422: problem(
            "the request is malformed or the order breaks a rule (unknown department or sku, "
            "sku of another supplier, quantity, needed_by, lines, over budget, employee "
            "allowance); `errors` names the field"
        ),
    },
)
async def place_order(
    body: PlaceOrder,
    idempotency_key: IdempotencyKey,
    db: Db,
    runtime: Runtime,
    caller: Caller,
    response: Response,
) -> OrderOut:
    """Place an internal order, priced at placement (transfer price for departments, list
    price less the employee discount for employees).

    An order over the department's monthly budget is refused (422, field `total`), or, for
    departments whose `over_budget` is `warn`, accepted with `warnings`. An order above the
    department's approval threshold is stored as `pending_approval` and is only placed
    (OrderPlaced published) when another key of the department approves it. Employee
    purchases count against the employee's yearly allowance, not the department's budget.
    """
    require_department(caller, body.requester, action="place orders")
    fingerprint = domain.request_fingerprint(body.model_dump(mode="json"))
    placed: tuple[OrderPlaced, OrderStatus, bool] | None = None
    async with db.transaction():
        # One order of a department at a time: budget, allowance and key checks then see
        # every committed order of the department (concurrent orders cannot both slip under).
        budget = await store.lock_department(db, body.requester)
        existing = await store.order_by_key(db, requester=body.requester, key=idempotency_key)
        if existing is None:
            try:
                placed = await _place_new(
                    db,
                    runtime,
                    body,
                    budget,
                    key=idempotency_key,
                    fingerprint=fingerprint,
                    caller=caller,
                )
            except OrderRefused as refused:
                raise _refusal(refused, title="Order refused") from refused
    if placed is not None and placed[2]:
        event, status, _ = placed
        if status is OrderStatus.PLACED:
            metrics.ORDERS_PLACED.labels(requester=event.requester, supplier=event.supplier).inc()
        return await _load(db, event.order_id, caller)
    existing = existing or await store.order_by_key(
        db, requester=body.requester, key=idempotency_key
    )
    assert existing is not None
    if existing["request_hash"] != fingerprint:
        raise Problem(
            409,
            "this Idempotency-Key was already used with a different request body",
            title="Idempotency key reused",
            errors=[{"field": "Idempotency-Key", "message": "used with a different body"}],
        )
    response.status_code = 200
    return await _load(db, existing["order_id"], caller)


@router.get(
    "/orders",
    response_model=OrderPage,
    summary="List the caller's orders",
    responses={**UNAUTHORIZED, **INVALID},
)
async def list_orders(
    db: Db,
    caller: Caller,
    status: Annotated[OrderStatus | None, Query(description="only orders in this status")] = None,
    supplier: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^[A-Z][A-Z0-9_]*$",
            description="only orders to this supplying department",
            examples=["FRAMES"],
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        Query(
            description="only orders received at or after this time (ISO 8601; UTC if no zone)",
            examples=["2025-06-01T00:00:00Z"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` of the previous page"),
    ] = None,
) -> OrderPage:
    """Orders the caller's department placed (as requester), newest first, a page at a time
    (keyset pagination: follow `next_cursor` until it is null)."""
    rows = await store.list_orders(
        db,
        requester=caller.department,
        status=status,
        supplier=supplier,
        since=_as_utc(since, field="since") if since else None,
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = (
        _encode_cursor(page[-1]["created_at"], page[-1]["order_id"]) if len(rows) > limit else None
    )
    return OrderPage(
        orders=[OrderSummary.model_validate(row) for row in page], next_cursor=next_cursor
    )


def _as_utc(moment: datetime, *, field: str) -> datetime:
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise Problem(
            422,
            f"{field} is out of range",
            title="Invalid request",
            errors=[{"field": field, "message": "out of range"}],
        ) from exc


def _encode_cursor(created_at: datetime, order_id: UUID) -> str:
    raw = f"{created_at.astimezone(UTC).isoformat()}|{order_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, order_id = raw.split("|")
        return _as_utc(datetime.fromisoformat(moment), field="cursor"), UUID(order_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "cursor is not a next_cursor of this API",
            title="Invalid request",
            errors=[{"field": "cursor", "message": "not a next_cursor of this API"}],
        ) from exc


@router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    summary="Read an order",
    responses={**UNAUTHORIZED, **NOT_FOUND, **INVALID},
)
async def get_order(order_id: UUID, db: Db, caller: Caller) -> OrderOut:
    """An order with its current status and the timeline of its handoffs (readable by its
    requester, and by its supplier once it is placed)."""
    return await _load(db, order_id, caller)


@router.post(
    "/orders/{order_id}/approve",
    response_model=OrderOut,
    summary="Approve an order pending approval",
    responses={
        **UNAUTHORIZED,
        403: problem("the key that placed the order cannot approve it"),
        **NOT_FOUND,
        409: problem("the order is not pending approval"),
        **INVALID,
    },
)
async def approve_order(order_id: UUID, db: Db, runtime: Runtime, caller: Caller) -> OrderOut:
    """Approve an order above the department's approval threshold with a second key of the
    department (not the one that placed it); the order is placed and OrderPlaced published."""
    async with db.transaction():
        order = await store.get_order(db, order_id, for_update=True)
        if order is None or order["requester"] != caller.department:
            raise Problem(404, f"order {order_id} does not exist")
        lines = tuple(OrderLine(**line) for line in order["lines"])
        try:
            event = domain.approve(
                order_id=order_id,
                status=OrderStatus(order["status"]),
                placed_by_key_id=order["placed_by_key_id"],
                approver_key_id=caller.key_id,
                request=domain.OrderRequest(
                    requester=order["requester"],
                    supplier=order["supplier"],
                    employee_id=order["employee_id"],
                    lines=(),
                    priority=Priority(order["priority"]),
                    needed_by=order["needed_by"],
                ),
                lines=lines,
                currency=order["currency"],
            )
        except OrderRefused as refused:
            raise _refusal(refused, title="Cannot approve", status_now=order["status"]) from refused
        await store.mark_approved(db, order=event, approved_by_key_id=caller.key_id)
        with join_trace("order-intake approve", store.order_trace(order)):
            await outbox.append(db, [event])
    metrics.ORDERS_PLACED.labels(requester=event.requester, supplier=event.supplier).inc()
    return await _load(db, order_id, caller)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderOut,
    summary="Cancel an order",
    responses={
        **UNAUTHORIZED,
        403: problem("only the requesting department cancels"),
        **NOT_FOUND,
        409: problem("the order is shipped or closed and can no longer be cancelled"),
        **INVALID,
    },
)
async def cancel_order(
    order_id: UUID, db: Db, runtime: Runtime, caller: Caller, body: CancelOrder | None = None
) -> OrderOut:
    """Cancel an order before it is shipped; emits OrderCancelled (an order still pending
    approval was never announced, so it is withdrawn without an event)."""
    async with db.transaction():
        order = await store.get_order(db, order_id, for_update=True)
        if order is None or not _visible(order, caller):
            raise Problem(404, f"order {order_id} does not exist")
        require_department(caller, order["requester"], action="cancel orders")
        status = OrderStatus(order["status"])
        if not domain.announced(status):
            await store.set_status(db, order_id, OrderStatus.CANCELLED)
            return await _load(db, order_id, caller)
        try:
            event = domain.cancel(
                order_id=order_id,
                root_order_id=order["root_order_id"],
                status=status,
                supplier=order["supplier"],
                requester=order["requester"],
                employee_id=order["employee_id"],
                reason=body.reason if body else "",
                causation_id=await store.last_event_id(db, order_id),
            )
        except OrderRefused as refused:
            raise _refusal(refused, title="Cannot cancel", status_now=order["status"]) from refused
        await store.set_status(db, order_id, OrderStatus.CANCELLED)
        await store.add_timeline(
            db,
            event_id=event.event_id,
            order_id=order_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            detail=event.reason or None,
        )
        with join_trace("order-intake cancel", store.order_trace(order)):
            await outbox.append(db, [event])
    return await _load(db, order_id, caller)


@router.get(
    "/departments",
    tags=["reference"],
    response_model=list[DepartmentOut],
    summary="List departments",
    responses=UNAUTHORIZED,
)
async def departments(db: Db, caller: Caller) -> list[dict[str, Any]]:
    """Departments: cost centre, monthly budget, approval threshold, legal entity."""
    return await store.list_departments(db)


@router.get(
    "/catalogue",
    tags=["reference"],
    response_model=list[CatalogueItemOut],
    summary="List the catalogue",
    responses={**UNAUTHORIZED, **INVALID},
)
async def catalogue(
    db: Db,
    caller: Caller,
    supplier: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^[A-Z][A-Z0-9_]*$",
            description="only items of this supplying department",
            examples=["FRAMES"],
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Catalogue items with supplier, transfer price, lead time and bill of materials."""
    return await store.list_catalogue(db, supplier=supplier)
