"""Every event of the platform (contract). Events are past tense and additive-only."""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from supplychain_contracts.envelope import Contract, DepartmentCode, Envelope, UtcDatetime

Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]
# An exchange rate: 1 of one currency = rate of another.
FxRateValue = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=10)]
Period = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", description="a month, YYYY-MM")]

REQUESTER_CURRENCY = (
    "the requester's currency (its legal entity's), when it differs from the order's; absent "
    "when both are the same"
)
FX_RATE = (
    "1 unit of the order's currency = fx_rate of the requester's currency: the rate valid on "
    "the order's date, fixed when it was placed; absent when both currencies are the same"
)


class Priority(StrEnum):
    STANDARD = "standard"
    RUSH = "rush"


class Stage(StrEnum):
    """Stages of a handoff (contract)."""

    ACCEPTANCE = "acceptance"
    FULFILMENT = "fulfilment"
    DELIVERY = "delivery"
    INVOICING = "invoicing"
    END_TO_END = "end_to_end"


class OrderLine(Contract):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)
    unit_price: Money = Field(description="price per unit fixed when the order was placed")


# Carried by the fulfilment events that start a stage (OrderAccepted, OrderShipped,
# OrderDelivered): whoever times the stage picks the SLA policy from the event itself, not from
# whatever it has seen of the orders topic so far (issue 16, item 9).
CARRIED_PRIORITY = (
    "the order's priority as it was placed, copied by the producer so a consumer timing the "
    "stage this event starts needs no other topic; absent on events published before it was "
    "carried (then the OrderPlaced tells)"
)


class OrderParties(Envelope):
    """Who supplies and who asked: carried by every order event so consumers need no lookup."""

    supplier: DepartmentCode
    requester: DepartmentCode
    employee_id: str | None = Field(
        default=None, description="set when an employee of `requester` buys for themselves"
    )


# --- supplychain.orders.v1 -------------------------------------------------------------


class OrderPlaced(OrderParties):
    event_type: Literal["OrderPlaced"] = "OrderPlaced"
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    currency: str = Field(
        default="EUR",
        min_length=3,
        max_length=3,
        description="the supplier's currency (its legal entity's): the order is priced in it",
    )
    priority: Priority = Priority.STANDARD
    needed_by: date | None = None
    parent_order_id: UUID | None = Field(
        default=None, description="the order whose components this sub-order supplies"
    )
    requester_currency: str | None = Field(
        default=None, min_length=3, max_length=3, description=REQUESTER_CURRENCY
    )
    fx_rate: FxRateValue | None = Field(default=None, description=FX_RATE)


class OrderCancelled(OrderParties):
    """The requester asks to cancel: a request the supplier's fulfilment settles with
    `WorkCancelled` or `CancellationRefused` (nothing is cancelled by this event alone)."""

    event_type: Literal["OrderCancelled"] = "OrderCancelled"
    reason: str = ""


# --- supplychain.fulfilment.v1 ---------------------------------------------------------


class OrderAccepted(OrderParties):
    event_type: Literal["OrderAccepted"] = "OrderAccepted"
    priority: Priority | None = Field(default=None, description=CARRIED_PRIORITY)


class OrderRejected(OrderParties):
    event_type: Literal["OrderRejected"] = "OrderRejected"
    reason: str


class WorkStarted(OrderParties):
    event_type: Literal["WorkStarted"] = "WorkStarted"


class RequestedComponent(Contract):
    order_id: UUID = Field(description="id of the sub-order raised for this component")
    sku: str
    quantity: int = Field(gt=0)
    supplier: DepartmentCode


class ComponentsRequested(OrderParties):
    event_type: Literal["ComponentsRequested"] = "ComponentsRequested"
    components: tuple[RequestedComponent, ...] = Field(min_length=1)


class OrderShipped(OrderParties):
    event_type: Literal["OrderShipped"] = "OrderShipped"
    priority: Priority | None = Field(default=None, description=CARRIED_PRIORITY)


class OrderDelivered(OrderParties):
    event_type: Literal["OrderDelivered"] = "OrderDelivered"
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    priority: Priority | None = Field(default=None, description=CARRIED_PRIORITY)
    confirmed_by: Literal["requester", "auto"] = Field(
        default="requester",
        description="who confirmed receipt: the requester, or the supplier's fulfilment once "
        "the policy's auto-receipt window passed unconfirmed",
    )
    requester_currency: str | None = Field(
        default=None, min_length=3, max_length=3, description=REQUESTER_CURRENCY
    )
    fx_rate: FxRateValue | None = Field(default=None, description=FX_RATE)
    shipped_at: UtcDatetime | None = Field(
        default=None,
        description="when the supplier shipped: the requester held the order from then on",
    )


class WorkCancelled(OrderParties):
    """The supplier's fulfilment settled a cancellation: the work stops and nothing will be
    delivered or charged (a sub-order is also cancelled so when its parent's work is)."""

    event_type: Literal["WorkCancelled"] = "WorkCancelled"
    reason: str = ""


class CancellationRefused(OrderParties):
    """The supplier's fulfilment refused a cancellation (e.g. the order already shipped): the
    order goes on and is charged in full when delivered."""

    event_type: Literal["CancellationRefused"] = "CancellationRefused"
    reason: str


class OrderBlocked(OrderParties):
    """A component sub-order was rejected or cancelled: the order cannot ship as it stands."""

    event_type: Literal["OrderBlocked"] = "OrderBlocked"
    reason: str
    blocking_order_id: UUID | None = Field(default=None, description="the sub-order that blocks")


class FeedbackGiven(OrderParties):
    """The requester rated a delivered order."""

    event_type: Literal["FeedbackGiven"] = "FeedbackGiven"
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


class HelpRequested(OrderParties):
    """The requester asked the supplier for help on an open order."""

    event_type: Literal["HelpRequested"] = "HelpRequested"
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(default="", max_length=4000)


class HelpAwaitingRequester(OrderParties):
    """The supplier answered an open help request with a question: it now waits on the
    requester (an SLA policy may pause the supplier's clock until `HelpAnswered`)."""

    event_type: Literal["HelpAwaitingRequester"] = "HelpAwaitingRequester"
    help_event_id: UUID = Field(description="the HelpRequested this follows up")
    question: str = Field(min_length=1, max_length=4000)


class HelpAnswered(OrderParties):
    """The requester answered the supplier's question: the supplier's clock runs again."""

    event_type: Literal["HelpAnswered"] = "HelpAnswered"
    help_event_id: UUID = Field(description="the HelpRequested this answers")
    answer: str = Field(min_length=1, max_length=4000)


class ComponentsReceived(OrderParties):
    """Every component sub-order of this order is delivered: the supplier no longer waits on
    upstream departments (it ends the wait `ComponentsRequested` began)."""

    event_type: Literal["ComponentsReceived"] = "ComponentsReceived"
    sub_order_ids: tuple[UUID, ...] = Field(min_length=1)


# --- supplychain.invoicing.v1 ----------------------------------------------------------


class InvoiceLine(Contract):
    sku: str
    quantity: int
    unit_price: Money
    amount: Money


ORIGINAL_PERIOD = (
    "the month the document belongs to when that month was closed for the supplier's legal "
    "entity and it was posted into `period`, the first open month after it"
)


class InvoiceIssued(OrderParties):
    event_type: Literal["InvoiceIssued"] = "InvoiceIssued"
    invoice_id: UUID
    period: str = Field(
        pattern=r"^\d{4}-\d{2}$",
        description="the month it is posted in, YYYY-MM: the month of delivery, or the first "
        "open month after it",
    )
    currency: str = Field(min_length=3, max_length=3, description="the supplier's currency")
    lines: tuple[InvoiceLine, ...]
    total: Money
    requester_currency: str | None = Field(
        default=None, min_length=3, max_length=3, description=REQUESTER_CURRENCY
    )
    fx_rate: FxRateValue | None = Field(
        default=None, description="1 invoice currency = fx_rate requester currency"
    )
    requester_total: Money | None = Field(
        default=None, description="the total in the requester's currency at fx_rate"
    )
    original_period: Period | None = Field(default=None, description=ORIGINAL_PERIOD)
    legal_entity: str | None = Field(default=None, description="the supplier's legal entity")


class CreditKind(StrEnum):
    """Why a credit note was issued."""

    SLA = "sla"  # a service credit for a breached stage the supplier owed
    DISPUTE = "dispute"  # the supplier accepted the requester's dispute
    REVERSAL = "reversal"  # an earlier credit note taken back (a breach proved wrong)


class CreditNoteIssued(OrderParties):
    event_type: Literal["CreditNoteIssued"] = "CreditNoteIssued"
    credit_note_id: UUID
    invoice_id: UUID
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    currency: str = Field(min_length=3, max_length=3)
    amount: Money = Field(description="credited to the requester; negative for a reversal")
    reason: str
    kind: CreditKind = CreditKind.SLA
    original_period: Period | None = Field(default=None, description=ORIGINAL_PERIOD)
    requester_currency: str | None = Field(
        default=None, min_length=3, max_length=3, description=REQUESTER_CURRENCY
    )
    fx_rate: FxRateValue | None = Field(default=None, description="the invoice's rate")
    requester_amount: Money | None = Field(
        default=None, description="the amount in the requester's currency at fx_rate"
    )
    dispute_id: UUID | None = Field(default=None, description="the dispute it settles")
    reverses_credit_note_id: UUID | None = Field(
        default=None, description="the credit note a reversal takes back"
    )
    legal_entity: str | None = Field(default=None, description="the supplier's legal entity")


class DisputeStatus(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"  # open longer than the configured business days: finance sees it
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class DisputeOpened(OrderParties):
    """The requester disputes part of an invoice; the supplier accepts or rejects it."""

    event_type: Literal["DisputeOpened"] = "DisputeOpened"
    dispute_id: UUID
    invoice_id: UUID
    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(max_length=2000)


class DisputeSettled(OrderParties):
    """The supplier settled a dispute: accepted (a credit note of kind `dispute` for the
    amount) or rejected (nothing credited)."""

    event_type: Literal["DisputeSettled"] = "DisputeSettled"
    dispute_id: UUID
    invoice_id: UUID
    outcome: Literal["accepted", "rejected"]
    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(default="", max_length=2000)
    credit_note_id: UUID | None = Field(default=None, description="issued when accepted")


class DisputeEscalated(OrderParties):
    """A dispute stayed open longer than the configured business days: finance takes it up."""

    event_type: Literal["DisputeEscalated"] = "DisputeEscalated"
    dispute_id: UUID
    invoice_id: UUID
    opened_at: UtcDatetime


# --- supplychain.sla.v1 ----------------------------------------------------------------


class SlaClockEvent(OrderParties):
    stage: Stage
    started_at: UtcDatetime
    deadline: UtcDatetime
    target_seconds: float = Field(ge=0)
    policy_id: str | None = Field(default=None, description="the SLA policy the clock ran under")
    policy_version: int | None = Field(default=None, description="its version")


class PauseReason(StrEnum):
    """Why a stage's SLA clock stands still (the policy says which reasons pause it)."""

    AWAITING_REQUESTER = "awaiting_requester"
    BLOCKED_ON_SUB_ORDERS = "blocked_on_sub_orders"


class SlaClockPause(OrderParties):
    stage: Stage
    reason: PauseReason
    paused_at: UtcDatetime
    policy_id: str | None = Field(default=None, description="the SLA policy the clock runs under")
    policy_version: int | None = Field(default=None, description="its version")


class SlaPaused(SlaClockPause):
    """A stage's clock stopped: the supplier waits on the requester or on its sub-orders."""

    event_type: Literal["SlaPaused"] = "SlaPaused"


class SlaResumed(SlaClockPause):
    """A stage's clock runs again; its deadline moved by the business time it stood still."""

    event_type: Literal["SlaResumed"] = "SlaResumed"
    resumed_at: UtcDatetime
    paused_seconds: float = Field(ge=0, description="business seconds the pause took off the clock")
    deadline: UtcDatetime | None = Field(default=None, description="the stage's new deadline")


class SlaWarning(SlaClockEvent):
    event_type: Literal["SlaWarning"] = "SlaWarning"


class SlaBreachRetracted(SlaClockEvent):
    """A breach raised earlier was wrong: an event read after it shows the stage ended on time
    (its `occurred_at` at or before the deadline; e.g. its producer's relay was down). Invoicing
    reverses the service credit the breach granted."""

    event_type: Literal["SlaBreachRetracted"] = "SlaBreachRetracted"
    breach_event_id: UUID = Field(description="the SlaBreached this retracts")
    ended_at: UtcDatetime = Field(
        description="when the stage really ended (the ending event's time)"
    )
    ending_event_id: UUID | None = Field(default=None, description="the event that ended it")
    ending_event_type: str | None = Field(default=None, description="its type")


class SlaBreached(SlaClockEvent):
    event_type: Literal["SlaBreached"] = "SlaBreached"
    service_credit_pct: Decimal | None = Field(
        default=None,
        ge=0,
        le=100,
        description="credit the policy grants the requester on a breach of a stage the supplier "
        "owes (monitoring resolves the policy; invoicing applies this figure)",
    )
