"""Contract events as tests need them: one factory per event, the fields a test cares about
as arguments, everything else a plausible default."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from supplychain_contracts import OrderLine, OrderPlaced


def order_placed(
    *,
    supplier: str = "FRAMES",
    requester: str = "ASSEMBLY",
    sku: str = "FRAME-CITY",
    quantity: int = 1,
    unit_price: str = "10.00",
    producer: str = "test",
    **fields: Any,
) -> OrderPlaced:
    """A root order of one line (its own root unless `root_order_id` is given)."""
    order_id = fields.pop("order_id", None) or uuid.uuid4()
    return OrderPlaced(
        order_id=order_id,
        root_order_id=fields.pop("root_order_id", None) or order_id,
        producer=producer,
        supplier=supplier,
        requester=requester,
        lines=(OrderLine(sku=sku, quantity=quantity, unit_price=Decimal(unit_price)),),
        **fields,
    )
