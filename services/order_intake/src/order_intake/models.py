"""HTTP request and response models of order intake (they are the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from supplychain_contracts import Priority
from supplychain_contracts.envelope import DepartmentCode
from supplychain_kit.http.inputs import BODY_TEXT_PATTERN
from supplychain_kit.http.problems import ProblemDetail

from order_intake.domain import CancellationStatus, OrderStatus

Sku = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="catalogue item (see GET /v1/catalogue)",
        examples=["FRAME-CITY"],
    ),
]
EmployeeId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="the employee buying from the employee shop, an employee of `requester`",
        examples=["E-1001"],
    ),
]
# Free text is stored as is: no control characters but tab and line breaks (the kit's rule).
FreeText = Annotated[str, Field(max_length=500, pattern=BODY_TEXT_PATTERN)]
Money = Annotated[Decimal, Field(description="amount in the order's currency", examples=["209.00"])]
Rate = Annotated[Decimal, Field(description="exchange rate", examples=["0.9200000000"])]


class OrderLineIn(BaseModel):
    """One catalogue item and how many of it."""

    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: int = Field(
        gt=0,
        le=1_000_000,
        description="positive whole number, at most ORDER_INTAKE_MAX_QUANTITY_PER_LINE",
        examples=[2],
    )


class PlaceOrder(BaseModel):
    """An internal order from a department (or one of its employees) to a supplier."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "requester": "ASSEMBLY",
                    "supplier": "FRAMES",
                    "lines": [{"sku": "FRAME-CITY", "quantity": 2}],
                    "priority": "standard",
                    "needed_by": "2030-01-31",
                }
            ]
        },
    )
    requester: DepartmentCode = Field(
        description="the ordering department: the caller's own department"
    )
    supplier: DepartmentCode = Field(
        description="the supplying department; every sku must be supplied by it",
        examples=["FRAMES"],
    )
    lines: list[OrderLineIn] = Field(
        min_length=1,
        max_length=1000,
        description="at least one line, at most ORDER_INTAKE_MAX_LINES_PER_ORDER",
    )
    priority: Priority = Field(default=Priority.STANDARD, description="`standard` or `rush`")
    needed_by: date | None = Field(
        default=None, description="date the goods are needed by; not in the past"
    )
    employee_id: EmployeeId | None = Field(
        default=None,
        description=(
            "set when an employee of `requester` buys from the employee shop: priced at list "
            "price less the shop's employee discount, within the employee's yearly allowance"
        ),
    )


class CancelOrder(BaseModel):
    """Why the order is cancelled."""

    model_config = ConfigDict(extra="forbid")
    reason: FreeText = Field(
        default="", description="shown to the supplier", examples=["plan changed"]
    )


class CancellationOut(BaseModel):
    """A cancellation of an announced order: a request the supplier's fulfilment settles."""

    status: CancellationStatus = Field(
        description="`requested` (pending), `cancelled` (WorkCancelled: nothing is charged) or "
        "`refused` (CancellationRefused: the order goes on and is charged when delivered)"
    )
    reason: str | None = Field(
        default=None, description="the request's reason, or the supplier's when it settled it"
    )
    requested_at: datetime | None = Field(default=None, description="when it was asked for")
    settled_at: datetime | None = Field(default=None, description="when the supplier settled it")


class OrderLineOut(BaseModel):
    sku: str = Field(description="catalogue item", examples=["FRAME-CITY"])
    quantity: int = Field(description="units ordered", examples=[2])
    unit_price: Money = Field(description="price per unit fixed at placement")


class TimelineEntry(BaseModel):
    """A handoff of the order as this service saw it (its own and consumed events)."""

    event_id: UUID = Field(description="the event's id")
    event_type: str = Field(description="e.g. OrderPlaced, OrderAccepted", examples=["OrderPlaced"])
    occurred_at: datetime = Field(description="when it happened (UTC)")
    detail: str | None = Field(default=None, description="reason of a rejection/cancellation")


class OrderOut(BaseModel):
    """An order as placed, with its current status and timeline."""

    order_id: UUID = Field(description="the order's id")
    root_order_id: UUID = Field(description="the first order of its chain (itself here)")
    parent_order_id: UUID | None = Field(description="the order this one supplies, if any")
    requester: str = Field(description="ordering department", examples=["ASSEMBLY"])
    supplier: str = Field(description="supplying department", examples=["FRAMES"])
    employee_id: str | None = Field(description="the buying employee, for employee purchases")
    priority: str = Field(description="`standard` or `rush`", examples=["standard"])
    needed_by: date | None = Field(description="date the goods are needed by")
    currency: str = Field(
        description="ISO 4217 currency of the supplier's legal entity: the order is priced in it",
        examples=["EUR"],
    )
    total: Money = Field(description="sum of quantity x unit price")
    requester_currency: str = Field(
        description="the requester's currency (its legal entity's): its budget is charged in it",
        examples=["EUR"],
    )
    fx_rate: Rate | None = Field(
        default=None,
        description="1 `currency` = fx_rate `requester_currency`, the rate valid on the order's "
        "date, fixed at placement; null when both currencies are the same",
    )
    requester_total: Money = Field(
        description="the total charged to the requester's budget (or the employee's "
        "allowance): `total` translated at `fx_rate`, rounded half-up"
    )
    over_budget: bool = Field(
        default=False,
        description="a sub-order of a production chain that took its requester over budget "
        "(recorded all the same: a chain never stops half-way)",
    )
    cancellation: CancellationOut | None = Field(
        default=None,
        description="the cancellation asked for and how the supplier settled it; null if none",
    )
    status: OrderStatus = Field(
        description="`pending_approval` until a second key approves, then `placed`, and on "
        "as the supplier works it (`cancelled` once the supplier settled a cancellation; "
        "`blocked` once a sub-order can no longer be delivered: only a cancellation is left)"
    )
    lines: list[OrderLineOut] = Field(description="the priced lines")
    timeline: list[TimelineEntry] = Field(description="handoffs so far, oldest first")
    warnings: list[str] = Field(
        default_factory=list,
        description="why the order was accepted with reservations (e.g. over budget)",
    )
    placed_by_key_id: str | None = Field(
        default=None, description="the API key that placed it", examples=["assembly-1"]
    )
    approved_by_key_id: str | None = Field(
        default=None, description="the second API key that approved it, if it needed approval"
    )
    approved_at: datetime | None = Field(default=None, description="when it was approved")
    created_at: datetime = Field(description="when it was received")
    updated_at: datetime = Field(description="last change of status")


class CancelAnswer(BaseModel):
    """What a cancel did: the supplier was asked (202, `cancellation_requested`), or an order
    never announced (pending approval) was withdrawn here (200, `cancelled`)."""

    order_id: UUID = Field(description="the order's id")
    status: Literal["cancellation_requested", "cancelled"] = Field(
        description="`cancellation_requested`: the supplier settles it (WorkCancelled or "
        "CancellationRefused, shown on the order); `cancelled`: withdrawn before announcement"
    )
    order_status: OrderStatus = Field(
        description="the order's status now: unchanged until the supplier settles"
    )
    order: OrderOut = Field(description="the order as it stands")


class OrderSummary(BaseModel):
    """An order in a list (GET /v1/orders/{order_id} has lines and timeline)."""

    order_id: UUID = Field(description="the order's id")
    root_order_id: UUID = Field(description="the first order of its chain")
    requester: str = Field(description="ordering department", examples=["ASSEMBLY"])
    supplier: str = Field(description="supplying department", examples=["FRAMES"])
    employee_id: str | None = Field(description="the buying employee, for employee purchases")
    priority: str = Field(description="`standard` or `rush`")
    needed_by: date | None = Field(description="date the goods are needed by")
    currency: str = Field(description="ISO 4217 currency (the supplier's)", examples=["EUR"])
    total: Money = Field(description="sum of quantity x unit price")
    requester_currency: str = Field(description="the requester's currency", examples=["EUR"])
    requester_total: Money = Field(description="the total charged to the requester's budget")
    status: OrderStatus = Field(description="current status")
    created_at: datetime = Field(description="when it was received")
    updated_at: datetime = Field(description="last change of status")


class OrderPage(BaseModel):
    """One page of the caller's orders, newest first."""

    orders: list[OrderSummary] = Field(description="at most `limit` orders")
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


class ComponentOut(BaseModel):
    """A line of an item's bill of materials."""

    sku: str = Field(description="component sku, supplied by another department")
    quantity: int = Field(description="units per unit of the item")


class DepartmentOut(BaseModel):
    """A department of the company: an internal customer and supplier."""

    code: str = Field(description="department code", examples=["ASSEMBLY"])
    name: str = Field(description="display name", examples=["Final assembly"])
    legal_entity: str = Field(description="the subsidiary it belongs to", examples=["NC-MFG"])
    currency: str = Field(
        default="EUR",
        description="its legal entity's currency: it supplies, and budgets, in it",
        examples=["EUR"],
    )
    cost_centre: str = Field(description="cost centre charged for its orders", examples=["CC-1600"])
    monthly_budget: Money = Field(description="what its orders may add up to per month")
    approval_threshold: Money | None = Field(
        description="orders above this total wait for a second key's approval"
    )
    over_budget: str = Field(
        description="`refuse` orders over budget, or `warn` and accept them", examples=["refuse"]
    )
    employee_shop: bool = Field(description="sells to employees")
    employee_discount_pct: Decimal = Field(description="employee discount off the list price")


class CatalogueItemOut(BaseModel):
    """An item a department supplies."""

    sku: str = Field(description="item id", examples=["FRAME-CITY"])
    name: str = Field(description="display name", examples=["City bike frame"])
    supplier: str = Field(description="supplying department", examples=["FRAMES"])
    unit: str = Field(description="unit of quantity", examples=["piece"])
    standard_cost: Money = Field(description="the supplier's standard cost")
    transfer_price: Money = Field(description="price charged to departments")
    list_price: Money | None = Field(description="price for employees, before their discount")
    lead_time_days: int = Field(description="usual days from acceptance to shipment")
    components: list[ComponentOut] = Field(description="bill of materials")


class BudgetOut(BaseModel):
    """A department's budget of a month and what its live orders commit against it, in its
    currency: its own orders and the sub-orders fulfilment raised for its production chains
    (which are never refused: they may take it over budget)."""

    department: str = Field(description="department code", examples=["ASSEMBLY"])
    period: str = Field(description="the month, YYYY-MM (UTC)", examples=["2026-12"])
    currency: str = Field(description="the department's currency", examples=["EUR"])
    monthly_budget: Money = Field(description="what its orders may add up to this month")
    committed: Money = Field(description="what its live orders of the month add up to")
    own_orders: Money = Field(description="committed by the orders it placed")
    sub_orders: Money = Field(
        description="committed by sub-orders fulfilment raised for its production chains"
    )
    remaining: Money = Field(description="budget left (0 when over)")
    overrun: Money = Field(description="how far committed exceeds the budget (0 when within)")
    over_budget: bool = Field(description="committed exceeds the budget")
    over_budget_sub_orders: int = Field(
        description="live sub-orders recorded over budget this month"
    )


def problem(description: str) -> dict[str, Any]:
    """An entry of a route's `responses=`: an error answered as problem+json."""
    return {"model": ProblemDetail, "description": description}


Responses = dict[int | str, dict[str, Any]]
UNAUTHORIZED: Responses = {401: problem("no or unknown API key (`Authorization: Bearer <key>`)")}
INVALID: Responses = {422: problem("the request is malformed; `errors` names each field")}
