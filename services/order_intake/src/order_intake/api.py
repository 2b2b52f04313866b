"""HTTP API of order intake: the routes a department's system integrates with.

A route translates HTTP into a command (commands.py) and its result or refusal into HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BeforeValidator
from supplychain_kit.http.app import Db, get_settings
from supplychain_kit.http.auth import Caller, Principal, require_department, visible_to
from supplychain_kit.http.params import department_code_path, department_code_query
from supplychain_kit.http.problems import Problem

from order_intake import commands, domain, store
from order_intake.config import OrderIntakeSettings
from order_intake.cursor import InvalidQuery, Position, as_utc, decode_cursor, encode_cursor
from order_intake.domain import Limits, OrderRefused, OrderStatus
from order_intake.models import (
    INVALID,
    UNAUTHORIZED,
    BudgetOut,
    CancelAnswer,
    CancellationOut,
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

router = APIRouter(prefix="/v1")

Settings = Annotated[OrderIntakeSettings, Depends(get_settings)]
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
ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")
NOT_FOUND: Responses = {404: problem("no such order, or not one of the caller's department")}


@contextmanager
def _refusals(title: str, *, action: str) -> Iterator[None]:
    """A command's refusals as problem documents; `title` and `action` name the command."""
    try:
        yield
    except OrderRefused as refused:
        status_now = refused.status_now
        extensions: dict[str, Any] = {} if status_now is None else {"status_now": status_now.value}
        raise Problem(
            refused.status,
            refused.message,
            title=title,
            errors=[{"field": refused.field, "message": refused.message}],
            **extensions,
        ) from refused
    except commands.UnknownOrder as unknown:
        # another department's order is indistinguishable from a missing one
        raise Problem(404, f"order {unknown.order_id} does not exist") from unknown
    except commands.NotTheRequester as other:
        raise Problem(
            403, f"{other.department} cannot {action} for {other.requester}", title="Forbidden"
        ) from other
    except commands.IdempotencyConflict as conflict:
        raise Problem(
            409,
            "this Idempotency-Key was already used with a different request body",
            title="Idempotency key reused",
            errors=[{"field": "Idempotency-Key", "message": "used with a different body"}],
        ) from conflict


@contextmanager
def _invalid_query() -> Iterator[None]:
    try:
        yield
    except InvalidQuery as invalid:
        raise Problem(
            422,
            str(invalid),
            title="Invalid request",
            errors=[{"field": invalid.field, "message": invalid.reason}],
        ) from invalid


def _iso_date_time(value: object) -> object:
    """`since` as the document says, a date and time (pydantic alone also takes a number of
    seconds or a bare date)."""
    if isinstance(value, str) and not ISO_DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date and time, e.g. 2025-06-01T00:00:00Z")
    return value


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


async def _order(db: Db, order_id: UUID, caller: Principal) -> OrderOut:
    """The order as its reader sees it: 404 unless the caller's department is party to it."""
    order = await store.get_order(db, order_id, visible=visible_to(caller))
    if order is None:
        raise Problem(404, f"order {order_id} does not exist")
    return _order_out(order)


def _order_out(order: dict[str, Any]) -> OrderOut:
    return OrderOut.model_validate({**order, "cancellation": _cancellation(order)})


def _cancellation(order: dict[str, Any]) -> CancellationOut | None:
    if order["cancellation_status"] is None:
        return None
    return CancellationOut(
        status=order["cancellation_status"],
        reason=order["cancellation_reason"] or None,
        requested_at=order["cancellation_requested_at"],
        settled_at=order["cancellation_settled_at"],
    )


@router.post(
    "/orders",
    tags=["orders"],
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
    settings: Settings,
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
    with _refusals("Order refused", action="place orders"):
        placement = await commands.place(
            db,
            _request_of(body),
            idempotency_key=idempotency_key,
            fingerprint=domain.request_fingerprint(body.model_dump(mode="json")),
            placed_by_key_id=caller.key_id,
            limits=Limits(
                max_lines=settings.max_lines_per_order,
                max_quantity=settings.max_quantity_per_line,
            ),
        )
    if placement.order is None:  # a replay: the order as it stands now
        response.status_code = 200
        return await _order(db, placement.order_id, caller)
    return _order_out(placement.order)  # as just stored: its requester sees all of it


@router.get(
    "/orders",
    tags=["orders"],
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
        department_code_query("only orders to this supplying department"),
    ] = None,
    since: Annotated[
        datetime | None,
        BeforeValidator(_iso_date_time),
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
    with _invalid_query():
        since = as_utc(since, field="since") if since else None
        after = decode_cursor(cursor) if cursor else None
    rows = await store.list_orders(
        db,
        visible=visible_to(caller),
        status=status,
        supplier=supplier,
        since=since,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    last = Position(page[-1]["created_at"], page[-1]["order_id"]) if len(rows) > limit else None
    return OrderPage(
        orders=[OrderSummary.model_validate(row) for row in page],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get(
    "/orders/{order_id}",
    tags=["orders"],
    response_model=OrderOut,
    summary="Read an order",
    responses={**UNAUTHORIZED, **NOT_FOUND, **INVALID},
)
async def get_order(order_id: UUID, db: Db, caller: Caller) -> OrderOut:
    """An order with its current status and the timeline of its handoffs (readable by its
    requester, and by its supplier once it is placed).

    Since issue 22 an order a sub-order blocked (OrderBlocked: it can never ship, only be
    cancelled) is `blocked`, as fulfilment, monitoring and the console say; it used to stay
    `awaiting_components`. Clients that waited on `awaiting_components` to see a block must
    look for `blocked`; a new status is additive: treat an unknown one as still open."""
    return await _order(db, order_id, caller)


@router.post(
    "/orders/{order_id}/approve",
    tags=["orders"],
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
async def approve_order(order_id: UUID, db: Db, caller: Caller) -> OrderOut:
    """Approve an order above the department's approval threshold with a second key of the
    department (not the one that placed it); the order is placed and OrderPlaced published."""
    with _refusals("Cannot approve", action="approve orders"):
        await commands.approve(
            db, order_id, department=caller.department, approver_key_id=caller.key_id
        )
    return await _order(db, order_id, caller)


@router.post(
    "/orders/{order_id}/cancel",
    tags=["orders"],
    status_code=202,
    response_model=CancelAnswer,
    summary="Cancel an order",
    responses={
        202: {
            "model": CancelAnswer,
            "description": "the supplier is asked to cancel (`cancellation_requested`); asked "
            "again while pending, the same answer without a second request",
        },
        200: {
            "model": CancelAnswer,
            "description": "an order pending approval, never announced, is withdrawn at once "
            "(`cancelled`)",
        },
        **UNAUTHORIZED,
        403: problem("only the requesting department cancels"),
        **NOT_FOUND,
        409: problem("the order is shipped or closed and can no longer be cancelled"),
        **INVALID,
    },
)
async def cancel_order(
    order_id: UUID, db: Db, caller: Caller, response: Response, body: CancelOrder | None = None
) -> CancelAnswer:
    """Ask the supplier to cancel an order (OrderCancelled): its fulfilment settles the request
    with WorkCancelled (the order is cancelled and its budget released) or
    CancellationRefused (e.g. already shipped: the order goes on), shown in the order's
    `cancellation`. Until then the order's status and budget are unchanged. An order still
    pending approval was never announced: it is withdrawn at once, without an event."""
    with _refusals("Cannot cancel", action="cancel orders"):
        cancellation = await commands.cancel(
            db, order_id, department=caller.department, reason=body.reason if body else ""
        )
    order = await _order(db, order_id, caller)
    if not cancellation.requested:
        response.status_code = 200
    return CancelAnswer(
        order_id=order_id,
        status="cancellation_requested" if cancellation.requested else "cancelled",
        order_status=order.status,
        order=order,
    )


@router.get(
    "/departments/{code}/budget",
    tags=["departments"],
    response_model=BudgetOut,
    summary="Read a department's budget of a month",
    responses={
        **UNAUTHORIZED,
        403: problem("a department reads only its own budget"),
        404: problem("no such department"),
        **INVALID,
    },
)
async def department_budget(
    code: Annotated[str, department_code_path("the department's code", example="ASSEMBLY")],
    db: Db,
    caller: Caller,
    period: Annotated[
        str | None,
        Query(
            pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$",
            description="the month, YYYY-MM (UTC); the current one by default",
            examples=["2026-12"],
        ),
    ] = None,
) -> BudgetOut:
    """The department's monthly budget and what its live orders commit against it: its own
    orders and the sub-orders fulfilment raised for its production chains (never refused,
    so they may take it over budget: `overrun`, `over_budget_sub_orders`)."""
    require_department(caller, code, action="read budgets")
    month = (
        date.fromisoformat(f"{period}-01") if period else datetime.now(UTC).date().replace(day=1)
    )
    budget = await store.department_budget(db, code)
    if budget is None:
        raise Problem(
            404, f"no department {code}", errors=[{"field": "code", "message": "not known"}]
        )
    use = await store.budget_use(db, department=code, month=month)
    standing = domain.budget_standing(budget, own_orders=use.own_orders, sub_orders=use.sub_orders)
    return BudgetOut(
        **vars(standing),
        period=f"{month:%Y-%m}",
        over_budget_sub_orders=use.over_budget_sub_orders,
    )


@router.get(
    "/departments",
    tags=["departments"],
    response_model=list[DepartmentOut],
    summary="List departments",
    responses=UNAUTHORIZED,
)
async def departments(db: Db, caller: Caller) -> list[dict[str, Any]]:
    """Departments: cost centre, monthly budget, approval threshold, legal entity."""
    return await store.list_departments(db)


@router.get(
    "/catalogue",
    tags=["catalogue"],
    response_model=list[CatalogueItemOut],
    summary="List the catalogue",
    responses={**UNAUTHORIZED, **INVALID},
)
async def catalogue(
    db: Db,
    caller: Caller,
    supplier: Annotated[
        str | None,
        department_code_query("only items of this supplying department"),
    ] = None,
) -> list[dict[str, Any]]:
    """Catalogue items with supplier, transfer price, lead time and bill of materials."""
    return await store.list_catalogue(db, supplier=supplier)
