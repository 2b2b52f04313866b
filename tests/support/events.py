"""Contract events as tests need them: one factory per event, the fields a test cares about
as arguments, everything else a plausible default."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from supplychain_contracts import OrderLine, OrderPlaced


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
    order_id = fields.pop("order_id", None) or uuid.uuid4()
    if parent is not None:
        fields.setdefault("root_order_id", parent.root_order_id)
        fields.setdefault("parent_order_id", parent.order_id)
    if lines is None:
        lines = (OrderLine(sku=sku, quantity=quantity, unit_price=Decimal(unit_price)),)
    return OrderPlaced(
        order_id=order_id,
        root_order_id=fields.pop("root_order_id", None) or order_id,
        producer=producer,
        supplier=supplier,
        requester=requester or (parent.supplier if parent is not None else "ASSEMBLY"),
        lines=tuple(lines),
        **fields,
    )
