"""A supplier's state machine for one order: pure rules, no IO."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from supplychain_contracts import (
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderRejected,
    OrderShipped,
    WorkStarted,
)
from supplychain_contracts.envelope import Envelope

PRODUCER = "fulfilment"


class WorkStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Command(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    START = "start"
    SHIP = "ship"
    RECEIPT = "receipt"


# command → (states it may be given in, the state it leads to)
TRANSITIONS: dict[Command, tuple[frozenset[WorkStatus], WorkStatus]] = {
    Command.ACCEPT: (frozenset({WorkStatus.RECEIVED}), WorkStatus.ACCEPTED),
    Command.REJECT: (frozenset({WorkStatus.RECEIVED}), WorkStatus.REJECTED),
    Command.START: (frozenset({WorkStatus.ACCEPTED}), WorkStatus.IN_PROGRESS),
    Command.SHIP: (frozenset({WorkStatus.IN_PROGRESS}), WorkStatus.SHIPPED),
    Command.RECEIPT: (frozenset({WorkStatus.SHIPPED}), WorkStatus.DELIVERED),
}
CANCELLABLE = frozenset({WorkStatus.RECEIVED, WorkStatus.ACCEPTED, WorkStatus.IN_PROGRESS})

EVENT_OF_COMMAND: dict[Command, type[Envelope]] = {
    Command.ACCEPT: OrderAccepted,
    Command.REJECT: OrderRejected,
    Command.START: WorkStarted,
    Command.SHIP: OrderShipped,
    Command.RECEIPT: OrderDelivered,
}


class IllegalTransition(Exception):
    def __init__(self, command: Command, current: WorkStatus) -> None:
        super().__init__(f"cannot {command.value} an order that is {current.value}")
        self.command = command
        self.current = current


@dataclass(frozen=True)
class WorkItem:
    order_id: UUID
    root_order_id: UUID
    supplier: str
    requester: str
    employee_id: str | None
    status: WorkStatus
    last_event_id: UUID
    currency: str
    lines: tuple[OrderLine, ...]


class NotYourOrder(Exception):
    """The department giving the command is not the one that owes it."""


def who_commands(item: WorkItem, command: Command) -> str:
    """The supplier works the order; the requester confirms receipt."""
    return item.requester if command is Command.RECEIPT else item.supplier


def next_status(current: WorkStatus, command: Command) -> WorkStatus:
    allowed_from, target = TRANSITIONS[command]
    if current not in allowed_from:
        raise IllegalTransition(command, current)
    return target


def decide(
    item: WorkItem, command: Command, *, reason: str | None = None
) -> tuple[WorkStatus, Envelope]:
    """The new state and the event a command produces, or IllegalTransition."""
    status = next_status(item.status, command)
    fields: dict[str, Any] = {
        "order_id": item.order_id,
        "root_order_id": item.root_order_id,
        "causation_id": item.last_event_id,
        "producer": PRODUCER,
        "supplier": item.supplier,
        "requester": item.requester,
        "employee_id": item.employee_id,
    }
    if command is Command.REJECT:
        fields["reason"] = reason or "rejected by the supplier"
    if command is Command.RECEIPT:
        fields["lines"] = item.lines
        fields["currency"] = item.currency
    return status, EVENT_OF_COMMAND[command](**fields)
