"""Order intake's read model names a blocked order `blocked`, as fulfilment, monitoring and the
console do (issue 22, item 5): it moves there from any working status, a cancellation still
settles it, and nothing after a block moves it back."""

from __future__ import annotations

import uuid

from order_intake.domain import CANCELLABLE, OrderStatus, status_from_history, statuses_after
from supplychain_contracts import (
    ComponentsRequested,
    OrderAccepted,
    OrderBlocked,
    OrderPlaced,
    RequestedComponent,
    WorkCancelled,
    WorkStarted,
    follow_up,
)
from support.events import order_placed


def order() -> OrderPlaced:
    return order_placed(producer="order-intake", unit_price="104.50")


def test_a_block_after_components_were_requested_reads_blocked_then_cancelled() -> None:
    placed = order()
    requested = follow_up(
        placed,
        ComponentsRequested,
        producer="fulfilment",
        components=(
            RequestedComponent(order_id=uuid.uuid4(), sku="TUBE", quantity=3, supplier="METAL"),
        ),
    )
    blocked = follow_up(placed, OrderBlocked, producer="fulfilment", reason="sub-order rejected")
    start = {placed.order_id: OrderStatus.PLACED}
    accepted = follow_up(placed, OrderAccepted, producer="fulfilment")
    work = follow_up(placed, WorkStarted, producer="fulfilment")

    assert statuses_after(start, [accepted, requested, blocked]) == {
        placed.order_id: OrderStatus.BLOCKED
    }
    assert statuses_after(start, [accepted, work, blocked, work]) == {
        placed.order_id: OrderStatus.BLOCKED
    }
    assert OrderStatus.BLOCKED in CANCELLABLE  # fulfilment cancels a blocked order's work
    cancelled = follow_up(placed, WorkCancelled, producer="fulfilment")
    assert statuses_after({placed.order_id: OrderStatus.BLOCKED}, [cancelled]) == {
        placed.order_id: OrderStatus.CANCELLED
    }
    assert (
        status_from_history(["OrderAccepted", "ComponentsRequested", "OrderBlocked"])
        is OrderStatus.BLOCKED
    )
