"""Contracts shared by every service of the internal supply chain: events, topics, schemas."""

from supplychain_contracts import topics
from supplychain_contracts.envelope import Envelope, utc_now
from supplychain_contracts.events import (
    ComponentsRequested,
    CreditNoteIssued,
    InvoiceIssued,
    InvoiceLine,
    OrderAccepted,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Priority,
    RequestedComponent,
    SlaBreached,
    SlaWarning,
    Stage,
    WorkStarted,
)
from supplychain_contracts.registry import all_event_models, parse_event, topic_for

__all__ = [
    "ComponentsRequested",
    "CreditNoteIssued",
    "Envelope",
    "InvoiceIssued",
    "InvoiceLine",
    "OrderAccepted",
    "OrderCancelled",
    "OrderDelivered",
    "OrderLine",
    "OrderPlaced",
    "OrderRejected",
    "OrderShipped",
    "Priority",
    "RequestedComponent",
    "SlaBreached",
    "SlaWarning",
    "Stage",
    "WorkStarted",
    "all_event_models",
    "parse_event",
    "topic_for",
    "topics",
    "utc_now",
]
