"""Which events travel on which topic, and how to parse any record of a topic."""

from types import MappingProxyType
from typing import Annotated, Final, TypeAlias

from pydantic import Field, TypeAdapter

from supplychain_contracts import topics
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.events import (
    ComponentsRequested,
    CreditNoteIssued,
    FeedbackGiven,
    HelpRequested,
    InvoiceIssued,
    OrderAccepted,
    OrderBlocked,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    SlaBreached,
    SlaWarning,
    WorkStarted,
)

OrderEvent: TypeAlias = Annotated[OrderPlaced | OrderCancelled, Field(discriminator="event_type")]
FulfilmentEvent: TypeAlias = Annotated[
    OrderAccepted
    | OrderRejected
    | WorkStarted
    | ComponentsRequested
    | OrderShipped
    | OrderDelivered
    | OrderBlocked
    | FeedbackGiven
    | HelpRequested,
    Field(discriminator="event_type"),
]
InvoicingEvent: TypeAlias = Annotated[
    InvoiceIssued | CreditNoteIssued, Field(discriminator="event_type")
]
SlaEvent: TypeAlias = Annotated[SlaWarning | SlaBreached, Field(discriminator="event_type")]
AnyEvent: TypeAlias = Annotated[
    OrderPlaced
    | OrderCancelled
    | OrderAccepted
    | OrderRejected
    | WorkStarted
    | ComponentsRequested
    | OrderShipped
    | OrderDelivered
    | OrderBlocked
    | FeedbackGiven
    | HelpRequested
    | InvoiceIssued
    | CreditNoteIssued
    | SlaWarning
    | SlaBreached,
    Field(discriminator="event_type"),
]

EVENTS_BY_TOPIC: Final[MappingProxyType[str, tuple[type[Envelope], ...]]] = MappingProxyType(
    {
        topics.ORDERS: (OrderPlaced, OrderCancelled),
        topics.FULFILMENT: (
            OrderAccepted,
            OrderRejected,
            WorkStarted,
            ComponentsRequested,
            OrderShipped,
            OrderDelivered,
            OrderBlocked,
            FeedbackGiven,
            HelpRequested,
        ),
        topics.INVOICING: (InvoiceIssued, CreditNoteIssued),
        topics.SLA: (SlaWarning, SlaBreached),
    }
)

TOPIC_BY_EVENT_TYPE: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        model.model_fields["event_type"].default: topic
        for topic, models in EVENTS_BY_TOPIC.items()
        for model in models
    }
)

_ANY_EVENT: Final[TypeAdapter[Envelope]] = TypeAdapter(AnyEvent)
_ADAPTERS: Final[dict[str, TypeAdapter[Envelope]]] = {
    topics.ORDERS: TypeAdapter(OrderEvent),
    topics.FULFILMENT: TypeAdapter(FulfilmentEvent),
    topics.INVOICING: TypeAdapter(InvoicingEvent),
    topics.SLA: TypeAdapter(SlaEvent),
}


def parse_event(payload: bytes | str, *, topic: str | None = None) -> Envelope:
    """Parse a JSON record into its event model; raises pydantic.ValidationError.

    With `topic`, only the events of that topic are accepted.
    """
    adapter = _ADAPTERS[topic] if topic is not None else _ANY_EVENT
    return adapter.validate_json(payload)


def topic_for(event: Envelope) -> str:
    """The topic an event is published on."""
    return TOPIC_BY_EVENT_TYPE[event.event_type]


def all_event_models() -> tuple[type[Envelope], ...]:
    return tuple(model for models in EVENTS_BY_TOPIC.values() for model in models)
