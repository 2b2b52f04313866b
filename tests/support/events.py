"""Contract events as tests need them: one factory per event, the fields a test cares about
as arguments, everything else a plausible default. A follow-up of an order a test already
has is `supplychain_contracts.follow_up(order, Model, ...)`, not a factory."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from supplychain_contracts import (
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    SlaBreached,
    Stage,
    follow_up,
    utc_now,
)

OrderEvent = TypeVar("OrderEvent", OrderPlaced, OrderDelivered)


def order_placed(
    *,
    supplier: str = "FRAMES",
    requester: str | None = None,
    sku: str = "FRAME-CITY",
    quantity: int = 1,
    unit_price: str | Decimal = "10.00",
    lines: Iterable[OrderLine] | None = None,
    parent: OrderPlaced | None = None,
    producer: str = "test",
    **fields: Any,
) -> OrderPlaced:
    """An order of one line (`sku`, `quantity`, `unit_price`), or of `lines`. A root order of
    ASSEMBLY's (its own root unless `root_order_id` is given), or with `parent` a sub-order in
    the parent's tree, its requester the parent's supplier. Any other field of OrderPlaced
    (`order_id`, `occurred_at`, `priority`, `employee_id`, ...) by keyword."""
    if parent is not None:
        fields.setdefault("root_order_id", parent.root_order_id)
        fields.setdefault("parent_order_id", parent.order_id)
    return _of_one_order(
        OrderPlaced,
        supplier=supplier,
        requester=requester or (parent.supplier if parent is not None else "ASSEMBLY"),
        lines=lines or _one_line(sku, quantity, unit_price),
        producer=producer,
        fields=fields,
    )


def order_delivered(
    *,
    supplier: str = "FRAMES",
    requester: str = "ASSEMBLY",
    sku: str = "FRAME-CITY",
    quantity: int = 1,
    unit_price: str | Decimal = "10.00",
    lines: Iterable[OrderLine] | None = None,
    producer: str = "test",
    **fields: Any,
) -> OrderDelivered:
    """A delivery of an order the test never placed: one line (`sku`, `quantity`,
    `unit_price`), or `lines`; any other field of OrderDelivered by keyword."""
    return _of_one_order(
        OrderDelivered,
        supplier=supplier,
        requester=requester,
        lines=lines or _one_line(sku, quantity, unit_price),
        producer=producer,
        fields=fields,
    )


def sla_breached(
    order: OrderPlaced,
    *,
    stage: Stage = Stage.FULFILMENT,
    deadline: datetime | None = None,
    target_seconds: int = 600,
    producer: str = "monitoring",
    **fields: Any,
) -> SlaBreached:
    """The order's `stage` breached as monitoring publishes it: its deadline `deadline` (now
    unless given), the stage started `target_seconds` before it unless `started_at` is given.
    Any other field (`service_credit_pct`, `occurred_at`, ...) by keyword."""
    deadline = deadline or utc_now()
    fields.setdefault("started_at", deadline - timedelta(seconds=target_seconds))
    return follow_up(
        order,
        SlaBreached,
        producer=producer,
        stage=stage,
        deadline=deadline,
        target_seconds=target_seconds,
        **fields,
    )


def _one_line(sku: str, quantity: int, unit_price: str | Decimal) -> tuple[OrderLine]:
    return (OrderLine(sku=sku, quantity=quantity, unit_price=Decimal(unit_price)),)


def _of_one_order(
    model: type[OrderEvent],
    *,
    supplier: str,
    requester: str,
    lines: Iterable[OrderLine],
    producer: str,
    fields: dict[str, Any],
) -> OrderEvent:
    """The event of one order: a fresh order id (unless `order_id`), its own root (unless
    `root_order_id`)."""
    order_id = fields.pop("order_id", None) or uuid.uuid4()
    return model(
        order_id=order_id,
        root_order_id=fields.pop("root_order_id", None) or order_id,
        producer=producer,
        supplier=supplier,
        requester=requester,
        lines=tuple(lines),
        **fields,
    )
