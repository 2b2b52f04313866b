"""The production chain: sub-orders for components, blocking and compensation (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid5

from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    OrderBlocked,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    RequestedComponent,
    WorkCancelled,
)
from supplychain_contracts.company import FxRate
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.fx import rate_on
from supplychain_contracts.reference import CatalogueItemDefined

from fulfilment.domain import PRODUCER, SubOrder, WorkItem, WorkStatus, parties, undelivered


@dataclass(frozen=True)
class CatalogueEntry:
    """What fulfilment needs of a catalogue item: who makes it, its price, its components."""

    sku: str
    supplier: str
    transfer_price: Decimal
    bill_of_materials: tuple[tuple[str, int], ...] = ()  # (component sku, quantity per unit)
    # False: the owner removed it. Orders placed while it was active still need its supplier
    # and components, so a removed item still explodes (order intake refuses new orders of it).
    active: bool = True


Catalogue = Mapping[str, CatalogueEntry]


def catalogue_entry(defined: CatalogueItemDefined) -> CatalogueEntry:
    """Fulfilment's copy of an item as its owner defined it, at the transfer price the event
    carries (the owner applies its pricing rule)."""
    item = defined.item
    return CatalogueEntry(
        sku=item.sku,
        supplier=item.supplier,
        transfer_price=defined.transfer_price,
        bill_of_materials=tuple((c.sku, c.quantity) for c in item.bill_of_materials),
        active=defined.active,
    )


class ReferenceNotKnownYet(LookupError):
    """Reference data an order needs has not reached fulfilment yet (it travels on the
    reference topic, the order on another): wait for it rather than guess."""


class UnknownCatalogueItem(ReferenceNotKnownYet):
    """An ordered sku or one of its components that fulfilment has not learnt yet.

    Its CatalogueItemDefined travels on the reference topic, the order on another, so an order
    may arrive first: raising its sub-orders waits for the item rather than guessing that it
    has no components.
    """

    def __init__(self, skus: Sequence[str]) -> None:
        self.skus = tuple(dict.fromkeys(skus))
        super().__init__(
            f"catalogue item {', '.join(self.skus)} is not known to fulfilment yet: "
            "its components cannot be ordered until the catalogue reaches it; try again shortly"
        )


@dataclass(frozen=True)
class ComponentNeed:
    sku: str
    quantity: int
    supplier: str
    unit_price: Decimal


def explode(lines: Sequence[OrderLine], catalogue: Catalogue) -> tuple[ComponentNeed, ...]:
    """Components the ordered lines need: BOM quantity times ordered quantity, one need per sku
    (summed when several lines use the same component), in bill-of-materials order.

    Raises UnknownCatalogueItem when an ordered sku or a component is not in the catalogue.
    """
    unknown = [line.sku for line in lines if line.sku not in catalogue]
    if unknown:
        raise UnknownCatalogueItem(unknown)
    quantities: dict[str, int] = {}
    for line in lines:
        for sku, per_unit in catalogue[line.sku].bill_of_materials:
            quantities[sku] = quantities.get(sku, 0) + per_unit * line.quantity
    unknown = [sku for sku in quantities if sku not in catalogue]
    if unknown:
        raise UnknownCatalogueItem(unknown)
    return tuple(
        ComponentNeed(
            sku=sku,
            quantity=quantity,
            supplier=catalogue[sku].supplier,
            unit_price=catalogue[sku].transfer_price,
        )
        for sku, quantity in quantities.items()
    )


class UnknownDepartment(ReferenceNotKnownYet):
    """A department (or its legal entity) whose currency fulfilment has not learnt yet."""

    def __init__(self, codes: Sequence[str]) -> None:
        self.codes = tuple(dict.fromkeys(codes))
        super().__init__(
            f"the currency of department {', '.join(self.codes)} is not known to fulfilment "
            "yet: its sub-orders cannot be priced until the reference data reaches it; try "
            "again shortly"
        )


class MissingFxRate(Exception):
    """No exchange rate of a pair on the order's day: the sub-order is not priced by a guess."""

    def __init__(self, base: str, quote: str, day: date) -> None:
        self.base, self.quote, self.day = base, quote, day
        super().__init__(f"no exchange rate {base}/{quote} valid on {day.isoformat()}")


@dataclass(frozen=True)
class Currencies:
    """What pricing sub-orders needs: each department's currency (its legal entity's) and the
    exchange rates, on the day the sub-orders are placed."""

    of_department: Mapping[str, str]
    rates: Sequence[FxRate]
    day: date

    def currency_of(self, department: str) -> str:
        currency = self.of_department.get(department)
        if currency is None:
            raise UnknownDepartment([department])
        return currency


@dataclass(frozen=True)
class SubOrderPricing:
    """A sub-order's currency (its supplier's) and, when the requester's differs, that
    currency and the rate (1 sub-order currency = fx_rate requester currency)."""

    currency: str
    requester_currency: str | None = None
    fx_rate: Decimal | None = None


def price_sub_order(supplier: str, requester: str, currencies: Currencies) -> SubOrderPricing:
    """Raises UnknownDepartment, or MissingFxRate when the currencies differ and no rate of
    the pair is valid on the day."""
    currency = currencies.currency_of(supplier)
    requester_currency = currencies.currency_of(requester)
    if requester_currency == currency:
        return SubOrderPricing(currency)
    rate = rate_on(currencies.rates, currency, requester_currency, currencies.day)
    if rate is None:
        raise MissingFxRate(currency, requester_currency, currencies.day)
    return SubOrderPricing(currency, requester_currency, rate)


def sub_order_id(parent_order_id: UUID, sku: str) -> UUID:
    """Derived, not random: raising the sub-orders of one order twice gives the same ids."""
    return uuid5(parent_order_id, sku)


def raise_sub_orders(
    item: WorkItem, *, cause_id: UUID, catalogue: Catalogue, currencies: Currencies
) -> tuple[ComponentsRequested, tuple[OrderPlaced, ...], tuple[SubOrder, ...]] | None:
    """On acceptance of an order made from components: ComponentsRequested on the order and
    one OrderPlaced per component to its supplier (requester: this order's supplier), priced
    in the supplier's currency with the requester's translation (`price_sub_order`).

    None when nothing ordered has a bill of materials; UnknownCatalogueItem or
    UnknownDepartment when reference data is not known yet; MissingFxRate when a pair has no
    rate (then no sub-order is raised: the caller blocks the order).
    """
    needs = explode(item.lines, catalogue)
    if not needs:
        return None
    pricings = [price_sub_order(need.supplier, item.supplier, currencies) for need in needs]
    ids = [sub_order_id(item.order_id, need.sku) for need in needs]
    requested = ComponentsRequested(
        **parties(item),
        causation_id=cause_id,
        components=tuple(
            RequestedComponent(
                order_id=order_id, sku=need.sku, quantity=need.quantity, supplier=need.supplier
            )
            for order_id, need in zip(ids, needs, strict=True)
        ),
    )
    placed = tuple(
        OrderPlaced(
            order_id=order_id,
            root_order_id=item.root_order_id,
            parent_order_id=item.order_id,
            causation_id=requested.event_id,
            producer=PRODUCER,
            supplier=need.supplier,
            requester=item.supplier,
            lines=(OrderLine(sku=need.sku, quantity=need.quantity, unit_price=need.unit_price),),
            currency=pricing.currency,
            requester_currency=pricing.requester_currency,
            fx_rate=pricing.fx_rate,
            priority=item.priority,
            needed_by=item.needed_by,
        )
        for order_id, need, pricing in zip(ids, needs, pricings, strict=True)
    )
    sub_orders = tuple(
        SubOrder(
            order_id=order_id,
            parent_order_id=item.order_id,
            sku=need.sku,
            quantity=need.quantity,
            supplier=need.supplier,
            status=WorkStatus.RECEIVED,
        )
        for order_id, need in zip(ids, needs, strict=True)
    )
    return requested, placed, sub_orders


@dataclass(frozen=True)
class Reported:
    """What a sub-order's own state tells its parent's record of it: the state it reached,
    the event it reached it by (the cause of what the parent does about it) and why."""

    order_id: UUID
    event_id: UUID
    status: WorkStatus
    reason: str | None = None


def reported(event: Envelope, status: WorkStatus) -> Reported:
    """An order's event that moved it to `status`, as its parent would record it."""
    return Reported(
        order_id=event.order_id,
        event_id=event.event_id,
        status=status,
        reason=getattr(event, "reason", None) or None,
    )


FINAL = frozenset({WorkStatus.DELIVERED, WorkStatus.REJECTED, WorkStatus.CANCELLED})
_PROGRESS = {
    WorkStatus.RECEIVED: 0,
    WorkStatus.ACCEPTED: 1,
    WorkStatus.IN_PROGRESS: 2,
    WorkStatus.BLOCKED: 3,
    WorkStatus.SHIPPED: 3,
}
# A sub-order in one of these states keeps its parent from ever shipping as planned.
BLOCKING = frozenset({WorkStatus.REJECTED, WorkStatus.CANCELLED, WorkStatus.BLOCKED})
# Sub-orders a cancelled parent can still stop (shipped goods are on their way: they arrive).
STOPPABLE = frozenset(
    {WorkStatus.RECEIVED, WorkStatus.ACCEPTED, WorkStatus.IN_PROGRESS, WorkStatus.BLOCKED}
)


def sub_order_status_after(current: WorkStatus, reported: WorkStatus) -> WorkStatus | None:
    """The sub-order's new recorded state, or None when the report changes nothing.

    A final state never changes, and nothing moves backwards: the sub-order's events and its
    cancellation travel on different topics, so they may arrive in either order.
    """
    if current in FINAL or reported == current:
        return None
    if reported in FINAL or _PROGRESS[reported] > _PROGRESS[current]:
        return reported
    return None


def block_parent(
    parent: WorkItem, sub_order: SubOrder, *, cause_id: UUID, reason: str
) -> OrderBlocked | None:
    """OrderBlocked when a sub-order can no longer be delivered while the parent is in work."""
    if sub_order.status not in BLOCKING or parent.status not in (
        WorkStatus.ACCEPTED,
        WorkStatus.IN_PROGRESS,
    ):
        return None
    return OrderBlocked(
        **parties(parent),
        causation_id=cause_id,
        reason=(
            f"sub-order {sub_order.order_id} for {sub_order.quantity} x {sub_order.sku} "
            f"from {sub_order.supplier} is {sub_order.status.value}: {reason}"
        ),
        blocking_order_id=sub_order.order_id,
    )


# A parent whose supplier still waits on its components (it cannot ship before they arrive).
WAITING_ON_COMPONENTS = frozenset({WorkStatus.ACCEPTED, WorkStatus.IN_PROGRESS})


def components_received_id(parent_order_id: UUID) -> UUID:
    """Derived, not random, as sub-order ids are: a parent's components arrive once, so a
    repeat of its ComponentsReceived would have the same id and the outbox would drop it."""
    return uuid5(parent_order_id, "ComponentsReceived")


def components_received(
    parent: WorkItem, sub_orders: Sequence[SubOrder], *, delivered_id: UUID, cause_id: UUID
) -> ComponentsReceived | None:
    """ComponentsReceived on the parent, caused by `cause_id` (the receipt), when the
    sub-order `delivered_id` (its delivery already recorded in `sub_orders`) was its last
    undelivered component; None while any other is outstanding or when the parent no longer
    waits (cancelled, say).

    Called once per sub-order reaching delivered (a final state: a redelivered receipt moves
    nothing), so the last delivery of a parent raises it once.
    """
    if (
        parent.status not in WAITING_ON_COMPONENTS
        or delivered_id not in {s.order_id for s in sub_orders}
        or undelivered(sub_orders)
    ):
        return None
    return ComponentsReceived(
        **parties(parent),
        event_id=components_received_id(parent.order_id),
        causation_id=cause_id,
        sub_order_ids=tuple(s.order_id for s in sub_orders),
    )


def blocked_by_missing_rate(
    parent: WorkItem, missing: MissingFxRate, *, cause_id: UUID
) -> OrderBlocked:
    """The order cannot raise its sub-orders: a pair of currencies has no rate."""
    return OrderBlocked(
        **parties(parent),
        causation_id=cause_id,
        reason=f"its sub-orders cannot be priced: {missing}",
    )


def compensate(
    parent: WorkItem, sub_orders: Sequence[SubOrder], *, cause: WorkCancelled
) -> tuple[OrderCancelled, ...]:
    """Cancelling an order asks its sub-orders that can still be stopped to cancel (each
    one's supplier settles the request)."""
    reason = f"parent order {parent.order_id} was cancelled"
    if cause.reason:
        reason = f"{reason}: {cause.reason}"
    return tuple(
        OrderCancelled(
            order_id=sub_order.order_id,
            root_order_id=parent.root_order_id,
            causation_id=cause.event_id,
            producer=PRODUCER,
            supplier=sub_order.supplier,
            requester=parent.supplier,
            reason=reason,
        )
        for sub_order in sub_orders
        if sub_order.status in STOPPABLE
    )
