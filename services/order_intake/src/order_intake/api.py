"""HTTP API of order intake: the routes a department's system integrates with."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field
from supplychain_contracts import Priority
from supplychain_contracts.envelope import DepartmentCode
from supplychain_kit import metrics, outbox
from supplychain_kit.auth import Caller, require_department
from supplychain_kit.http import Db, Runtime
from supplychain_kit.problems import PROBLEM_RESPONSE, Problem

from order_intake import domain, store
from order_intake.domain import OrderRefused, OrderStatus

router = APIRouter(prefix="/v1", tags=["orders"])

PROBLEM = PROBLEM_RESPONSE
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="unique per order attempt; a retry with the same key and body is a replay",
    ),
]


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64, examples=["FRAME-CITY"])
    quantity: int = Field(gt=0, le=1_000_000, examples=[2])


class PlaceOrder(BaseModel):
    """An internal order from a department (or one of its employees) to a supplier."""

    model_config = ConfigDict(extra="forbid")
    requester: DepartmentCode
    supplier: DepartmentCode
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000)
    priority: Priority = Priority.STANDARD
    needed_by: date | None = None
    employee_id: str | None = Field(default=None, max_length=32)


class CancelOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)


class OrderLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


class TimelineEntry(BaseModel):
    event_id: UUID
    event_type: str
    occurred_at: datetime
    detail: str | None = None


class OrderOut(BaseModel):
    order_id: UUID
    root_order_id: UUID
    parent_order_id: UUID | None
    requester: str
    supplier: str
    employee_id: str | None
    priority: str
    needed_by: date | None
    currency: str
    total: Decimal
    status: OrderStatus
    lines: list[OrderLineOut]
    timeline: list[TimelineEntry]
    created_at: datetime
    updated_at: datetime


async def _load(db: Db, order_id: UUID, caller: Caller) -> OrderOut:
    order = await store.get_order(db, order_id)
    if order is None or caller.department not in (order["requester"], order["supplier"]):
        # another department's order is indistinguishable from a missing one
        raise Problem(404, f"order {order_id} does not exist")
    return OrderOut.model_validate(order)


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses={
        200: {"model": OrderOut, "description": "replay of an earlier request with this key"},
        401: PROBLEM,
        403: {"description": "a department orders only for itself", **PROBLEM},
        409: {"description": "the key was used with a different body", **PROBLEM},
        422: {"description": "the order breaks a rule; `errors` names the field", **PROBLEM},
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
    """Place an internal order; it is stored and its OrderPlaced is published via the outbox."""
    require_department(caller, body.requester, action="place orders")
    settings = runtime.settings
    fingerprint = domain.request_fingerprint(body.model_dump(mode="json"))
    request = domain.OrderRequest(
        requester=body.requester,
        supplier=body.supplier,
        employee_id=body.employee_id,
        lines=tuple(
            domain.RequestedLine(sku=line.sku, quantity=line.quantity) for line in body.lines
        ),
        priority=body.priority,
        needed_by=body.needed_by,
    )
    async with db.transaction():
        try:
            lines = domain.price_lines(
                request,
                catalogue=await store.catalogue_entries(db, [line.sku for line in body.lines]),
                departments=await store.department_codes(db),
                limits=domain.Limits(
                    max_lines=getattr(settings, "max_lines_per_order", 50),
                    max_quantity=getattr(settings, "max_quantity_per_line", 10_000),
                ),
                today=datetime.now(UTC).date(),
                employee_discount_pct=await store.employee_shop_discount(db, body.supplier),
            )
        except OrderRefused as refused:
            raise Problem(
                refused.status,
                refused.message,
                title="Order refused",
                errors=[{"field": refused.field, "message": refused.message}],
            ) from refused
        event = domain.place(request, lines, currency="EUR")
        created = await store.claim_idempotency_key(
            db,
            order=event,
            total=domain.order_total(lines),
            key=idempotency_key,
            request_hash=fingerprint,
        )
        if created:
            await outbox.append(db, [event], schema=runtime.schema)
    if created:
        metrics.ORDERS_PLACED.labels(requester=event.requester, supplier=event.supplier).inc()
        return await _load(db, event.order_id, caller)
    existing = await store.order_by_key(db, requester=body.requester, key=idempotency_key)
    assert existing is not None
    if existing["request_hash"] != fingerprint:
        raise Problem(
            409,
            "this Idempotency-Key was already used with a different request body",
            title="Idempotency key reused",
        )
    response.status_code = 200
    return await _load(db, existing["order_id"], caller)


@router.get("/orders/{order_id}", response_model=OrderOut, responses={401: PROBLEM, 404: PROBLEM})
async def get_order(order_id: UUID, db: Db, caller: Caller) -> OrderOut:
    """An order with its current status and the timeline of its handoffs."""
    return await _load(db, order_id, caller)


@router.post(
    "/orders/{order_id}/cancel", response_model=OrderOut, responses={404: PROBLEM, 409: PROBLEM}
)
async def cancel_order(
    order_id: UUID, db: Db, runtime: Runtime, caller: Caller, body: CancelOrder | None = None
) -> OrderOut:
    """Cancel an order before it is shipped; emits OrderCancelled."""
    async with db.transaction():
        order = await store.get_order(db, order_id, for_update=True)
        if order is None or caller.department not in (order["requester"], order["supplier"]):
            raise Problem(404, f"order {order_id} does not exist")
        require_department(caller, order["requester"], action="cancel orders")
        try:
            event = domain.cancel(
                order_id=order_id,
                root_order_id=order["root_order_id"],
                status=OrderStatus(order["status"]),
                supplier=order["supplier"],
                requester=order["requester"],
                employee_id=order["employee_id"],
                reason=body.reason if body else "",
                causation_id=await store.last_event_id(db, order_id),
            )
        except OrderRefused as refused:
            raise Problem(
                refused.status, refused.message, title="Cannot cancel", status_now=order["status"]
            ) from refused
        await store.set_status(db, order_id, OrderStatus.CANCELLED)
        await store.add_timeline(
            db,
            event_id=event.event_id,
            order_id=order_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            detail=event.reason or None,
        )
        await outbox.append(db, [event], schema=runtime.schema)
    return await _load(db, order_id, caller)


@router.get("/departments", tags=["reference"])
async def departments(db: Db, caller: Caller) -> list[dict[str, Any]]:
    """Departments: cost centre, monthly budget, legal entity."""
    return await store.list_departments(db)


@router.get("/catalogue", tags=["reference"])
async def catalogue(db: Db, caller: Caller, supplier: str | None = None) -> list[dict[str, Any]]:
    """Catalogue items with supplier, transfer price, lead time and bill of materials."""
    return await store.list_catalogue(db, supplier=supplier)
