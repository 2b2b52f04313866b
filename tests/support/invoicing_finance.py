"""What the invoicing periods and disputes tests share: the subscriber as main wires it, the
sample company learnt from its owner's events, and an order ASSEMBLY supplies to RETAIL_OPS
(different legal entities, both in EUR)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from invoicing.evidence import recording
from invoicing.handlers import apply_event
from supplychain_contracts import OrderDelivered, OrderLine, OrderPlaced, follow_up
from supplychain_contracts.company import sample_company

from support import reference_events
from support.events import order_placed
from support.service import apply_events

APPLY = recording(apply_event)  # the subscriber as main wires it: evidence noted first
BIKES = (OrderLine(sku="BIKE-CITY", quantity=1, unit_price=Decimal("299.00")),)


async def learn_sample_company(pool: asyncpg.Pool) -> None:
    await apply_events(pool, APPLY, *reference_events(sample_company()))


def bike_order() -> OrderPlaced:
    return order_placed(
        producer="order-intake", supplier="ASSEMBLY", requester="RETAIL_OPS", lines=BIKES
    )


def delivered(order: OrderPlaced, *, at: datetime | None = None) -> OrderDelivered:
    when: dict[str, Any] = {} if at is None else {"occurred_at": at}
    return follow_up(order, OrderDelivered, producer="fulfilment", lines=BIKES, **when)
