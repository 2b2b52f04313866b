"""Which events travel on which topic, and how to parse any record of a topic.

`EVENTS_BY_TOPIC` is the one list of events: the per-topic parsers, the any-topic parser and
the event-type lookups are all derived from it. A subscriber needs one function of it,
`parse_event(topic, value, headers)`: the typed event, or None for a type to skip.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final

from pydantic import Field, TypeAdapter

from supplychain_contracts import topics
from supplychain_contracts.envelope import Event
from supplychain_contracts.events import (
    CancellationRefused,
    ComponentsReceived,
    ComponentsRequested,
    CreditNoteIssued,
    DisputeEscalated,
    DisputeOpened,
    DisputeSettled,
    FeedbackGiven,
    HelpAnswered,
    HelpAwaitingRequester,
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
    SlaBreachRetracted,
    SlaPaused,
    SlaResumed,
    SlaWarning,
    WorkCancelled,
    WorkStarted,
)
from supplychain_contracts.operations import OutboxRowsReleased, RecordRedriven
from supplychain_contracts.reference import (
    BusinessCalendarDefined,
    CatalogueItemDefined,
    DepartmentDefined,
    EmployeeDefined,
    FxRateDefined,
    LegalEntityDefined,
    SlaPolicyDefined,
)

EVENTS_BY_TOPIC: Final[MappingProxyType[str, tuple[type[Event], ...]]] = MappingProxyType(
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
            HelpAwaitingRequester,
            HelpAnswered,
            ComponentsReceived,
            WorkCancelled,
            CancellationRefused,
        ),
        topics.INVOICING: (
            InvoiceIssued,
            CreditNoteIssued,
            DisputeOpened,
            DisputeSettled,
            DisputeEscalated,
        ),
        topics.SLA: (SlaWarning, SlaBreached, SlaPaused, SlaResumed, SlaBreachRetracted),
        topics.REFERENCE: (
            LegalEntityDefined,
            DepartmentDefined,
            CatalogueItemDefined,
            EmployeeDefined,
            BusinessCalendarDefined,
            SlaPolicyDefined,
            FxRateDefined,
        ),
        topics.REDRIVES: (RecordRedriven, OutboxRowsReleased),
    }
)


def event_type_of(model: type[Event]) -> str:
    """The `event_type` literal an event class declares."""
    value: str = model.model_fields["event_type"].default
    return value


TOPIC_BY_EVENT_TYPE: Final[MappingProxyType[str, str]] = MappingProxyType(
    {event_type_of(model): topic for topic, models in EVENTS_BY_TOPIC.items() for model in models}
)
MODEL_BY_EVENT_TYPE: Final[MappingProxyType[str, type[Event]]] = MappingProxyType(
    {event_type_of(model): model for models in EVENTS_BY_TOPIC.values() for model in models}
)


def event_parser(models: Iterable[type[Event]]) -> TypeAdapter[Event]:
    """A parser for a discriminated union of `models` (a single model needs no union): the
    per-topic parsers below, or a consumer's own set (an older consumer in a test)."""
    models = tuple(models)
    union: Any = functools.reduce(operator.or_, models)
    if len(models) == 1:
        return TypeAdapter(union)
    return TypeAdapter(Annotated[union, Field(discriminator="event_type")])


def all_event_models() -> tuple[type[Event], ...]:
    return tuple(model for models in EVENTS_BY_TOPIC.values() for model in models)


_ANY_EVENT: Final[TypeAdapter[Event]] = event_parser(all_event_models())
_ADAPTERS: Final[dict[str, TypeAdapter[Event]]] = {
    topic: event_parser(models) for topic, models in EVENTS_BY_TOPIC.items()
}


def parse_event_strict(payload: bytes | str, *, topic: str | None = None) -> Event:
    """Parse a JSON record into its event model; raises pydantic.ValidationError, also for an
    event type this version does not know (`parse_event` skips those instead).

    With `topic`, only the events of that topic are accepted.
    """
    adapter = _ADAPTERS[topic] if topic is not None else _ANY_EVENT
    return adapter.validate_json(payload)


def is_unknown_event_type(payload: bytes | str | None, *, topic: str) -> bool:
    """A well-formed event whose type this version of the contracts does not know on `topic`.

    Contracts evolve additively: a subscriber skips such an event instead of failing on it.
    """
    event_type = named_event_type(payload)
    known = {event_type_of(model) for model in EVENTS_BY_TOPIC.get(topic, ())}
    return event_type is not None and event_type not in known


def named_event_type(payload: bytes | str | None) -> str | None:
    """The `event_type` a JSON record names, whether or not this version knows it; None for
    a record that is no JSON object naming one."""
    try:
        event_type = json.loads(payload or b"").get("event_type")
    except (ValueError, AttributeError):
        return None
    return event_type if isinstance(event_type, str) and event_type else None


def topic_for(event: Event | type[Event]) -> str:
    """The topic an event (or event class) is published on."""
    event_type = event_type_of(event) if isinstance(event, type) else event.event_type
    return TOPIC_BY_EVENT_TYPE[event_type]


def parse_known_event(payload: bytes | str, *, topic: str) -> Event | None:
    """Parse a record of `topic`; None for an event type this version does not know yet
    (skip it: contracts evolve additively). Raises pydantic.ValidationError for a record
    that is not a valid event."""
    try:
        return parse_event_strict(payload, topic=topic)
    except ValueError:
        if is_unknown_event_type(payload, topic=topic):
            return None
        raise


# A record's headers as Kafka clients hand them over: (name, bytes) pairs, or a mapping.
RecordHeaders = Mapping[str, str | bytes] | Iterable[tuple[str, bytes | str | None]]


def parse_event(
    topic: str, value: bytes | str | Mapping[str, Any], headers: RecordHeaders | None = None
) -> Event | None:
    """What a subscriber calls for every record of a contract topic: its typed event, or None
    for an event type this version of the contracts does not know. Skip those and move on:
    contracts evolve additively, so a new event type on a topic is never an error.

    `value` is the record's value (JSON bytes or text, or the JSON already decoded).
    `headers` (optional) lets an unknown `event_type` header be skipped without reading the
    value; the value decides otherwise. Raises pydantic.ValidationError (a ValueError) for a
    record that is no valid event of `topic`, LookupError for a topic that is no contract topic.
    """
    known = _KNOWN_TYPES.get(topic)
    if known is None:
        raise LookupError(f"{topic!r} is not a contract topic ({', '.join(EVENTS_BY_TOPIC)})")
    header_type = _header(headers, topics.HEADER_EVENT_TYPE)
    if header_type and header_type not in known:
        return None
    if isinstance(value, Mapping):
        event_type = value.get("event_type")
        if isinstance(event_type, str) and event_type and event_type not in known:
            return None
        return _ADAPTERS[topic].validate_python(value)
    return parse_known_event(value, topic=topic)


_KNOWN_TYPES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        topic: frozenset(event_type_of(model) for model in models)
        for topic, models in EVENTS_BY_TOPIC.items()
    }
)


def _header(headers: RecordHeaders | None, name: str) -> str | None:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, raw in pairs:
        if key == name and raw is not None:
            return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return None
