"""A supplier's state machine for one order: pure rules, no IO."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from supplychain_contracts import (
    CancellationRefused,
    FeedbackGiven,
    HelpAnswered,
    HelpAwaitingRequester,
    HelpRequested,
    OrderAccepted,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderRejected,
    OrderShipped,
    Priority,
    WorkCancelled,
    WorkStarted,
)
from supplychain_contracts.envelope import Envelope, follow_up

PRODUCER = "fulfilment"


class WorkStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    # A component sub-order was rejected, cancelled or is itself blocked: the order cannot
    # ship as it stands; only cancelling it (which compensates its other sub-orders) is left.
    BLOCKED = "blocked"


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
# Commands whose event starts a stage: it carries the order's
# priority, which picks the SLA policy of the stage (issue 16, item 9).
STARTS_A_STAGE = frozenset({Command.ACCEPT, Command.SHIP, Command.RECEIPT})
CANCELLABLE = frozenset(
    {WorkStatus.RECEIVED, WorkStatus.ACCEPTED, WorkStatus.IN_PROGRESS, WorkStatus.BLOCKED}
)
# Orders the requester is still waiting for (where asking for help makes sense).
OPEN = frozenset(
    {
        WorkStatus.RECEIVED,
        WorkStatus.ACCEPTED,
        WorkStatus.IN_PROGRESS,
        WorkStatus.SHIPPED,
        WorkStatus.BLOCKED,
    }
)

EVENT_OF_COMMAND: dict[Command, type[Envelope]] = {
    Command.ACCEPT: OrderAccepted,
    Command.REJECT: OrderRejected,
    Command.START: WorkStarted,
    Command.SHIP: OrderShipped,
    Command.RECEIPT: OrderDelivered,
}


class IllegalTransition(Exception):
    def __init__(self, command: Command | str, current: WorkStatus, detail: str = "") -> None:
        name = command.value if isinstance(command, Command) else command
        super().__init__(detail or f"cannot {name} an order that is {current.value}")
        self.command = command
        self.current = current


class WaitingForSubOrders(IllegalTransition):
    """Ship refused: some component sub-orders are not delivered yet."""

    def __init__(self, current: WorkStatus, waiting: Sequence[SubOrder]) -> None:
        names = ", ".join(
            f"{s.order_id} ({s.sku} from {s.supplier}: {s.status.value})" for s in waiting
        )
        super().__init__(
            Command.SHIP, current, f"cannot ship before every sub-order is delivered: {names}"
        )
        self.waiting = tuple(waiting)


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
    priority: Priority = Priority.STANDARD
    needed_by: date | None = None
    # the order's translation into the requester's currency (None: the same currency)
    requester_currency: str | None = None
    fx_rate: Decimal | None = None
    shipped_at: datetime | None = None


ConfirmedBy = Literal["requester", "auto"]


@dataclass(frozen=True)
class SubOrder:
    """A component sub-order as its parent sees it; `status` mirrors the child's own."""

    order_id: UUID
    parent_order_id: UUID
    sku: str
    quantity: int
    supplier: str
    status: WorkStatus


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


def undelivered(sub_orders: Sequence[SubOrder]) -> tuple[SubOrder, ...]:
    return tuple(s for s in sub_orders if s.status is not WorkStatus.DELIVERED)


def decide(
    item: WorkItem,
    command: Command,
    *,
    reason: str | None = None,
    sub_orders: Sequence[SubOrder] = (),
    confirmed_by: ConfirmedBy = "requester",
) -> tuple[WorkStatus, Envelope]:
    """The new state and the event a command produces, or IllegalTransition.

    An order may start while its sub-orders are under way, but ships only once all of
    them are delivered (WaitingForSubOrders). A receipt is confirmed by the requester, or by
    the supplier's fulfilment once the auto-receipt window passed (`confirmed_by="auto"`).
    """
    status = next_status(item.status, command)
    if command is Command.SHIP and (waiting := undelivered(sub_orders)):
        raise WaitingForSubOrders(item.status, waiting)
    fields: dict[str, Any] = {
        **parties(item),
        "causation_id": item.last_event_id,
    }
    if command is Command.REJECT:
        fields["reason"] = reason or "rejected by the supplier"
    if command is Command.RECEIPT:
        fields["lines"] = item.lines
        fields["currency"] = item.currency
        fields["confirmed_by"] = confirmed_by
        fields["shipped_at"] = item.shipped_at
        fields["requester_currency"] = item.requester_currency
        fields["fx_rate"] = item.fx_rate
    if command in STARTS_A_STAGE:
        fields["priority"] = item.priority  # whoever times the stage needs no other topic
    return status, EVENT_OF_COMMAND[command](**fields)


def parties(item: WorkItem) -> dict[str, Any]:
    """The envelope fields every event about this order carries (causation left out)."""
    return {
        "order_id": item.order_id,
        "root_order_id": item.root_order_id,
        "producer": PRODUCER,
        "supplier": item.supplier,
        "requester": item.requester,
        "employee_id": item.employee_id,
    }


# Why a cancellation request cannot stop the work, by the state the order is in.
CANCELLATION_REFUSALS: dict[WorkStatus, str] = {
    WorkStatus.SHIPPED: "already shipped",
    WorkStatus.DELIVERED: "already delivered",
    WorkStatus.REJECTED: "rejected",
    WorkStatus.CANCELLED: "already cancelled",
}
DEFAULT_CANCELLATION_REASON = "cancelled by the requester"
# A request about an order no supplier here was told of.
UNKNOWN_ORDER = "unknown order: it was never placed with the supplier"


def settle_cancellation(
    item: WorkItem, request: OrderCancelled
) -> WorkCancelled | CancellationRefused:
    """The supplier's answer to a cancellation request: the work stops while it still can
    (CANCELLABLE), else the request is refused with the reason."""
    if item.status in CANCELLABLE:
        return follow_up(
            request,
            WorkCancelled,
            producer=PRODUCER,
            reason=request.reason or DEFAULT_CANCELLATION_REASON,
        )
    return follow_up(
        request,
        CancellationRefused,
        producer=PRODUCER,
        reason=CANCELLATION_REFUSALS.get(item.status, f"the order is {item.status.value}"),
    )


class FeedbackAlreadyGiven(Exception):
    """An order is rated once."""


def give_feedback(
    item: WorkItem, *, rating: int, comment: str, already_given: bool
) -> FeedbackGiven:
    """The requester rates a delivered order, once."""
    if item.status is not WorkStatus.DELIVERED:
        raise IllegalTransition("give feedback on", item.status)
    if already_given:
        raise FeedbackAlreadyGiven(f"feedback on order {item.order_id} was already given")
    return FeedbackGiven(
        **parties(item), causation_id=item.last_event_id, rating=rating, comment=comment
    )


def request_help(item: WorkItem, *, subject: str, message: str) -> HelpRequested:
    """The requester asks the supplier for help while the order is still open."""
    if item.status not in OPEN:
        raise IllegalTransition("ask for help on", item.status)
    return HelpRequested(
        **parties(item), causation_id=item.last_event_id, subject=subject, message=message
    )


# --- help requests: open → awaiting_requester → answered (→ awaiting_requester again) -------


class HelpStatus(StrEnum):
    OPEN = "open"  # the supplier owes the next step
    AWAITING_REQUESTER = "awaiting_requester"  # the supplier asked back: the requester owes it
    ANSWERED = "answered"  # the requester answered: the supplier owes the next step again


# Where the supplier may ask the requester a question (again: an answer may raise another).
ASKABLE = frozenset({HelpStatus.OPEN, HelpStatus.ANSWERED})


@dataclass(frozen=True)
class HelpRequest:
    event_id: UUID  # the HelpRequested that opened it: the request's identity
    order_id: UUID
    status: HelpStatus
    last_event_id: UUID  # its latest event, which the next one is caused by


@dataclass(frozen=True)
class HelpStep:
    """A help request's next state and the event that says so."""

    status: HelpStatus
    event: HelpAwaitingRequester | HelpAnswered


class IllegalHelpTransition(Exception):
    """The help request is not in a state that allows the step."""

    def __init__(self, action: str, current: HelpStatus) -> None:
        super().__init__(f"cannot {action} a help request that is {current.value}")
        self.current = current


def ask_requester(item: WorkItem, request: HelpRequest, *, question: str) -> HelpStep:
    """The supplier puts an open (or answered) help request back to the requester with a
    question, while the order is still open: the requester owes the next step."""
    if item.status not in OPEN:
        raise IllegalTransition("ask the requester about", item.status)
    if request.status not in ASKABLE:
        raise IllegalHelpTransition("ask the requester about", request.status)
    event = HelpAwaitingRequester(
        **parties(item),
        causation_id=request.last_event_id,
        help_event_id=request.event_id,
        question=question,
    )
    return HelpStep(HelpStatus.AWAITING_REQUESTER, event)


def answer_help(item: WorkItem, request: HelpRequest, *, answer: str) -> HelpStep:
    """The requester answers the supplier's question (only while one is awaiting it)."""
    if request.status is not HelpStatus.AWAITING_REQUESTER:
        raise IllegalHelpTransition("answer", request.status)
    event = HelpAnswered(
        **parties(item),
        causation_id=request.last_event_id,
        help_event_id=request.event_id,
        answer=answer,
    )
    return HelpStep(HelpStatus.ANSWERED, event)
