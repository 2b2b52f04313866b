"""Rules of placing an internal order: pure, no IO."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid4

from supplychain_contracts import (
    ComponentsRequested,
    Envelope,
    InvoiceIssued,
    OrderAccepted,
    OrderBlocked,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Priority,
    WorkCancelled,
    WorkStarted,
)
from supplychain_contracts.company import FxRate
from supplychain_contracts.fx import rate_on
from supplychain_contracts.money import round_money, translate

PRODUCER = "order-intake"
MONEY_LIMIT = Decimal(10) ** 16  # what money columns hold: numeric(18, 2)


class OrderStatus(StrEnum):
    # declared in the order an order moves through them (next_status relies on it)
    PENDING_APPROVAL = "pending_approval"
    PLACED = "placed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    AWAITING_COMPONENTS = "awaiting_components"
    # a sub-order can no longer be delivered: the order never ships, only a cancellation is
    # left (fulfilment's `blocked`; before issue 22 this read model kept awaiting_components)
    BLOCKED = "blocked"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    INVOICED = "invoiced"
    CANCELLED = "cancelled"


# Which status a fulfilment/invoicing event moves the read model to.
STATUS_AFTER_EVENT: dict[type[Envelope], OrderStatus] = {
    OrderAccepted: OrderStatus.ACCEPTED,
    OrderRejected: OrderStatus.REJECTED,
    WorkStarted: OrderStatus.IN_PROGRESS,
    ComponentsRequested: OrderStatus.AWAITING_COMPONENTS,
    OrderBlocked: OrderStatus.BLOCKED,
    OrderShipped: OrderStatus.SHIPPED,
    OrderDelivered: OrderStatus.DELIVERED,
    InvoiceIssued: OrderStatus.INVOICED,
    # the supplier's settlement, never the request (OrderCancelled): issue 21
    WorkCancelled: OrderStatus.CANCELLED,
}
STATUS_AFTER_EVENT_TYPE: dict[str, OrderStatus] = {
    str(event.model_fields["event_type"].default): status
    for event, status in STATUS_AFTER_EVENT.items()
}
CANCELLABLE = frozenset(
    {
        OrderStatus.PLACED,
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PROGRESS,
        OrderStatus.AWAITING_COMPONENTS,
        OrderStatus.BLOCKED,
    }
)


class OrderRefused(Exception):
    """The order breaks a business rule; `field` names the offending input, `status_now`
    the status of a stored order that a command on it was refused in."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        status: int = 422,
        status_now: OrderStatus | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.status_now = status_now


@dataclass(frozen=True)
class CatalogueEntry:
    sku: str
    supplier: str
    transfer_price: Decimal
    list_price: Decimal | None
    active: bool = True  # false: removed from the catalogue, no longer ordered


@dataclass(frozen=True)
class RequestedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderRequest:
    requester: str
    supplier: str
    lines: tuple[RequestedLine, ...]
    priority: Priority = Priority.STANDARD
    needed_by: date | None = None
    employee_id: str | None = None


@dataclass(frozen=True)
class Limits:
    max_lines: int
    max_quantity: int


def request_fingerprint(body: dict[str, Any]) -> str:
    """Stable hash of a request body: same key + same body is a replay."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def price_lines(
    request: OrderRequest,
    *,
    catalogue: dict[str, CatalogueEntry],
    departments: set[str],
    limits: Limits,
    today: date,
    employee_discount_pct: Decimal | None = None,
    inactive_departments: set[str] | frozenset[str] = frozenset(),
    currency: str = "EUR",
) -> tuple[OrderLine, ...]:
    """Validate an order against the catalogue and price each line at placement, in the
    supplier's `currency`.

    `departments` are the company's (active) departments; `inactive_departments` those
    removed from it, named as such in a refusal.
    """
    for field, role in (("requester", "requesting"), ("supplier", "supplying")):
        code = getattr(request, field)
        if code in inactive_departments:
            raise OrderRefused(
                f"{code} is no longer a department of the company (deactivated)", field=field
            )
        if code not in departments:
            raise OrderRefused(f"unknown {role} department {code}", field=field)
    if request.requester == request.supplier and request.employee_id is None:
        raise OrderRefused("a department cannot order from itself", field="supplier")
    if not request.lines:
        raise OrderRefused("an order needs at least one line", field="lines")
    if len(request.lines) > limits.max_lines:
        raise OrderRefused(f"an order has at most {limits.max_lines} lines", field="lines")
    if request.needed_by is not None and request.needed_by < today:
        raise OrderRefused("needed_by is in the past", field="needed_by")
    priced: list[OrderLine] = []
    for index, line in enumerate(request.lines):
        entry = catalogue.get(line.sku)
        if entry is None:
            raise OrderRefused(f"unknown sku {line.sku}", field=f"lines.{index}.sku")
        if not entry.active:
            raise OrderRefused(
                f"{line.sku} is no longer in the catalogue (deactivated)",
                field=f"lines.{index}.sku",
            )
        if entry.supplier != request.supplier:
            raise OrderRefused(
                f"{line.sku} is supplied by {entry.supplier}, not {request.supplier}",
                field=f"lines.{index}.sku",
            )
        if not 0 < line.quantity <= limits.max_quantity:
            raise OrderRefused(
                f"quantity must be between 1 and {limits.max_quantity}",
                field=f"lines.{index}.quantity",
            )
        priced.append(
            OrderLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=_unit_price(entry, request, employee_discount_pct, index, currency),
            )
        )
    return tuple(priced)


def _unit_price(
    entry: CatalogueEntry,
    request: OrderRequest,
    discount_pct: Decimal | None,
    index: int,
    currency: str,
) -> Decimal:
    if request.employee_id is None:
        return entry.transfer_price
    if entry.list_price is None or discount_pct is None:
        raise OrderRefused(f"{entry.sku} is not sold to employees", field=f"lines.{index}.sku")
    # the one rounding rule (half-up to the currency's minor unit) on the discounted price
    return round_money(entry.list_price * (Decimal(100) - discount_pct) / Decimal(100), currency)


def order_total(lines: tuple[OrderLine, ...]) -> Decimal:
    return sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))


def place(
    request: OrderRequest,
    lines: tuple[OrderLine, ...],
    *,
    currency: str,
    order_id: UUID | None = None,
    translation: Translation | None = None,
) -> OrderPlaced:
    """The OrderPlaced event of a root order (new, or one that waited for approval), priced
    in the supplier's `currency`; it carries the requester's currency and the rate only when
    the two differ."""
    order_id = order_id or uuid4()
    crosses = translation is not None and translation.fx_rate is not None
    return OrderPlaced(
        order_id=order_id,
        root_order_id=order_id,
        producer=PRODUCER,
        supplier=request.supplier,
        requester=request.requester,
        employee_id=request.employee_id,
        lines=lines,
        currency=currency,
        priority=request.priority,
        needed_by=request.needed_by,
        requester_currency=translation.requester_currency if crosses and translation else None,
        fx_rate=translation.fx_rate if crosses and translation else None,
    )


# --- currencies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    """What an order of `total` (the supplier's currency) charges its requester: the
    requester's currency, the rate (None: the same currency) and the translated total."""

    requester_currency: str
    fx_rate: Decimal | None
    requester_total: Decimal


def no_rate(base: str, quote: str, day: date, *, field: str) -> OrderRefused:
    return OrderRefused(f"no exchange rate {base}->{quote} valid on {day.isoformat()}", field=field)


def translate_total(
    total: Decimal,
    *,
    currency: str,
    requester_currency: str,
    rates: Iterable[FxRate],
    day: date,
) -> Translation:
    """The order's total in its requester's currency at the rate valid on `day`; refused
    (422, naming the pair) when there is none: never a guess."""
    if currency == requester_currency:
        return Translation(requester_currency, None, total)
    rate = rate_on(rates, currency, requester_currency, day)
    if rate is None:
        raise no_rate(currency, requester_currency, day, field="supplier")
    translated = translate(total, rate, requester_currency)
    if translated >= MONEY_LIMIT:
        raise OrderRefused(
            f"this order ({total} {currency}) is {translated} {requester_currency} at {rate}: "
            "too large to charge",
            field="lines",
        )
    return Translation(requester_currency, rate, translated)


def translated_event_total(event: OrderPlaced) -> Translation:
    """What an OrderPlaced (a sub-order's) charges its requester: at the rate it carries, or
    the same currency."""
    total = order_total(event.lines)
    if event.fx_rate is None or event.requester_currency in (None, event.currency):
        return Translation(event.currency, None, total)
    assert event.requester_currency is not None
    return Translation(
        event.requester_currency,
        event.fx_rate,
        translate(total, event.fx_rate, event.requester_currency),
    )


@dataclass(frozen=True)
class ChainTrade:
    """A component of an ordered item's bill of materials (recursively): the department
    making the item buys it from the component's supplier, in that supplier's currency."""

    sku: str
    buyer_currency: str
    seller_currency: str


def check_chain_rates(trades: Iterable[ChainTrade], rates: Iterable[FxRate], day: date) -> None:
    """Refuse an order whose production chain would trade between currencies without a rate
    valid on `day`: a chain never stops half-way for want of a rate."""
    rates = tuple(rates)
    for trade in trades:
        if rate_on(rates, trade.seller_currency, trade.buyer_currency, day) is None:
            raise no_rate(trade.seller_currency, trade.buyer_currency, day, field="lines")


class CancellationStatus(StrEnum):
    """Where a cancellation request stands: the supplier's fulfilment settles it."""

    REQUESTED = "requested"
    CANCELLED = "cancelled"  # WorkCancelled: the work stopped, nothing is charged
    REFUSED = "refused"  # CancellationRefused: the order goes on


def cancel(
    *,
    order_id: UUID,
    root_order_id: UUID,
    status: OrderStatus,
    cancellation: CancellationStatus | None,
    supplier: str,
    requester: str,
    employee_id: str | None,
    reason: str,
    causation_id: UUID | None,
    parent_order_id: UUID | None = None,
) -> OrderCancelled | None:
    """Ask the supplier to cancel an announced order (OrderCancelled, a request); None when a
    request is already pending (asked again: nothing new to say). Refused (409) when the
    order as this service saw it last is past cancelling, or is a sub-order (fulfilment
    raised it for a chain: it is cancelled with its parent's work); a refused request may be
    repeated."""
    if parent_order_id is not None:
        raise OrderRefused(
            f"a sub-order of order {parent_order_id}: it is cancelled with that order's work",
            field="order_id",
            status=409,
            status_now=status,
        )
    if cancellation is CancellationStatus.REQUESTED and status in CANCELLABLE:
        return None
    if status not in CANCELLABLE:
        raise OrderRefused(
            f"the order is {status.value} and can no longer be cancelled",
            field="order_id",
            status=409,
            status_now=status,
        )
    return OrderCancelled(
        order_id=order_id,
        root_order_id=root_order_id,
        causation_id=causation_id,
        producer=PRODUCER,
        supplier=supplier,
        requester=requester,
        employee_id=employee_id,
        reason=reason,
    )


def next_status(current: OrderStatus, event: type[Envelope]) -> OrderStatus:
    """The read model's status after a fulfilment or invoicing event of class `event`
    (never moves back; events of other classes leave it alone)."""
    target = STATUS_AFTER_EVENT.get(event)
    return current if target is None else _next(current, target)


def _next(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    if current in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
        return current
    if target in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
        return target if current in CANCELLABLE else current
    ranks = list(OrderStatus)
    return target if ranks.index(target) > ranks.index(current) else current


def statuses_after(
    current: Mapping[UUID, OrderStatus], events: Iterable[Envelope]
) -> dict[UUID, OrderStatus]:
    """The statuses of those orders after the events, applied in their order (events of
    other orders are not ours and change nothing); only the statuses that changed."""
    status = dict(current)
    for event in events:
        if event.order_id in status:
            status[event.order_id] = next_status(status[event.order_id], type(event))
    return {order_id: s for order_id, s in status.items() if s != current[order_id]}


def status_from_history(event_types: Iterable[str]) -> OrderStatus:
    """The status of an order placed elsewhere (a sub-order) whose handoffs arrived before
    its OrderPlaced: the events as they happened (types, oldest first) applied to `placed`."""
    status = OrderStatus.PLACED
    for event_type in event_types:
        target = STATUS_AFTER_EVENT_TYPE.get(event_type)
        if target is not None:
            status = _next(status, target)
    return status


# --- announcing an order -----------------------------------------------------------------
# (who reads an order is the store's visibility predicate: store.get_order, issue 23)


def announced(status: OrderStatus) -> bool:
    """Whether suppliers were told of the order (OrderPlaced): a pending order was not, so
    cancelling it retracts nothing on the topic."""
    return status is not OrderStatus.PENDING_APPROVAL


# --- budgets and approval --------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentBudget:
    department: str
    monthly_budget: Decimal
    approval_threshold: Decimal | None = None
    over_budget: Literal["refuse", "warn"] = "refuse"
    currency: str = "EUR"  # its legal entity's: the budget and every charge to it are in it


def month_start(now: datetime) -> datetime:
    """Start of the calendar month (UTC) that budgets are counted in."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def year_start(now: datetime) -> datetime:
    """Start of the calendar year (UTC) that employee allowances are counted in."""
    return month_start(now).replace(month=1)


def budget_warnings(
    budget: DepartmentBudget, *, committed_this_month: Decimal, total: Decimal
) -> tuple[str, ...]:
    """Refuse an order that takes the department over its monthly budget, or warn about it.

    `committed_this_month` is what the department's other live orders (placed or waiting
    for approval, not cancelled or rejected) of this month add up to.
    """
    if not over_budget(budget, committed_this_month=committed_this_month, total=total):
        return ()
    message = overrun_message(budget, committed_this_month=committed_this_month, total=total)
    if budget.over_budget == "warn":
        return (message,)
    raise OrderRefused(message, field="total")


def over_budget(budget: DepartmentBudget, *, committed_this_month: Decimal, total: Decimal) -> bool:
    return committed_this_month + total > budget.monthly_budget


def overrun_message(
    budget: DepartmentBudget, *, committed_this_month: Decimal, total: Decimal
) -> str:
    ccy = budget.currency
    left = max(budget.monthly_budget - committed_this_month, Decimal("0.00"))
    return (
        f"this order ({total} {ccy}) takes {budget.department} to "
        f"{committed_this_month + total} {ccy} this month, over its monthly budget of "
        f"{budget.monthly_budget} {ccy} ({committed_this_month} {ccy} already committed, "
        f"{left} {ccy} left)"
    )


@dataclass(frozen=True)
class BudgetStanding:
    """A department's budget of a month against what its live orders commit (its currency)."""

    department: str
    currency: str
    monthly_budget: Decimal
    own_orders: Decimal
    sub_orders: Decimal
    committed: Decimal
    remaining: Decimal
    overrun: Decimal
    over_budget: bool


def budget_standing(
    budget: DepartmentBudget, *, own_orders: Decimal, sub_orders: Decimal
) -> BudgetStanding:
    committed = own_orders + sub_orders
    zero = Decimal("0.00")
    return BudgetStanding(
        department=budget.department,
        currency=budget.currency,
        monthly_budget=budget.monthly_budget,
        own_orders=own_orders,
        sub_orders=sub_orders,
        committed=committed,
        remaining=max(budget.monthly_budget - committed, zero),
        overrun=max(committed - budget.monthly_budget, zero),
        over_budget=committed > budget.monthly_budget,
    )


def needs_approval(budget: DepartmentBudget, total: Decimal) -> bool:
    """Orders above the department's approval threshold wait for a second key."""
    return budget.approval_threshold is not None and total > budget.approval_threshold


@dataclass(frozen=True)
class SpendingCheck:
    """What the budget or allowance lets happen to an order: the status it is stored in
    (placed, or waiting for approval) and the reservations it was accepted with."""

    status: OrderStatus
    warnings: tuple[str, ...] = ()
    # The running totals this outcome holds for (None: unbounded), so that it can be stored
    # without locking the running total while checking: if the total found on storing is out
    # of this range, the order is checked again against it.
    holds_from: Decimal | None = None
    holds_to: Decimal | None = None

    def holds_for(self, committed: Decimal) -> bool:
        return (self.holds_from is None or committed >= self.holds_from) and (
            self.holds_to is None or committed <= self.holds_to
        )


def check_department_spending(
    budget: DepartmentBudget, *, committed_this_month: Decimal, total: Decimal
) -> SpendingCheck:
    """A department's order within budget (or warned about) is placed, or waits for approval
    above the threshold; over budget it is refused unless the department only warns.

    Within budget the outcome holds for whatever else is committed up to the budget less this
    order; a warning names what is committed, so it holds for that running total only."""
    warnings = budget_warnings(budget, committed_this_month=committed_this_month, total=total)
    pending = needs_approval(budget, total)
    status = OrderStatus.PENDING_APPROVAL if pending else OrderStatus.PLACED
    if warnings:
        return SpendingCheck(status, warnings, committed_this_month, committed_this_month)
    return SpendingCheck(status, holds_to=budget.monthly_budget - total)


def approve(
    *,
    order_id: UUID,
    status: OrderStatus,
    placed_by_key_id: str | None,
    approver_key_id: str,
    request: OrderRequest,
    lines: tuple[OrderLine, ...],
    currency: str,
    translation: Translation | None = None,
) -> OrderPlaced:
    """Approve a pending order with a second key of its department: only now is it placed."""
    if status is not OrderStatus.PENDING_APPROVAL:
        raise OrderRefused(
            f"the order is {status.value}: only an order pending approval can be approved",
            field="order_id",
            status=409,
            status_now=status,
        )
    if placed_by_key_id is None or approver_key_id == placed_by_key_id:
        raise OrderRefused(
            "the key that placed the order cannot approve it: "
            "approve with another key of the department",
            field="Authorization",
            status=403,
            status_now=status,
        )
    return place(request, lines, currency=currency, order_id=order_id, translation=translation)


# --- employee purchases ----------------------------------------------------------------


@dataclass(frozen=True)
class Employee:
    employee_id: str
    department: str
    yearly_allowance: Decimal
    currency: str = "EUR"  # their department's


def check_employee_purchase(
    request: OrderRequest, employee: Employee | None, *, supplier_is_employee_shop: bool
) -> Employee | None:
    """An employee buys for themself, through their own department, from the employee shop.

    Returns the buying employee; None for a department's own order.
    """
    if request.employee_id is None:
        return None
    if employee is None:
        raise OrderRefused(f"unknown employee {request.employee_id}", field="employee_id")
    if employee.department != request.requester:
        raise OrderRefused(
            f"{employee.employee_id} is not an employee of {request.requester}",
            field="employee_id",
        )
    if not supplier_is_employee_shop:
        raise OrderRefused(
            f"employees buy only from the employee shop; {request.supplier} is not one",
            field="supplier",
        )
    return employee


def check_employee_spending(
    employee: Employee, *, spent_this_year: Decimal, total: Decimal
) -> SpendingCheck:
    """An employee purchase within the yearly allowance is placed at once (no approval),
    whatever else the employee spent up to the allowance less this purchase."""
    check_allowance(employee, spent_this_year=spent_this_year, total=total)
    return SpendingCheck(OrderStatus.PLACED, holds_to=employee.yearly_allowance - total)


def check_allowance(employee: Employee, *, spent_this_year: Decimal, total: Decimal) -> None:
    """Refuse an employee purchase beyond the employee's yearly allowance."""
    after = spent_this_year + total
    if after > employee.yearly_allowance:
        left = max(employee.yearly_allowance - spent_this_year, Decimal("0.00"))
        ccy = employee.currency
        raise OrderRefused(
            f"this order ({total} {ccy}) takes {employee.employee_id} to {after} {ccy} this "
            f"year, over the yearly allowance of {employee.yearly_allowance} {ccy} "
            f"({spent_this_year} {ccy} already spent, {left} {ccy} left)",
            field="employee_id",
        )
