"""The event types a consumer knows, per topic: the contracts it was built with.

A consumer reads each record of a topic as one of three things: its typed event; an event
type this version does not know (`UnknownType`: a producer newer than the consumer, parked
until the consumer is upgraded, see `consumer_parking`); or an event type that belongs to
another topic (`Misrouted`: e.g. a record redriven to the wrong topic, dead-lettered with
that reason). A record that is no event raises pydantic.ValidationError (dead-lettered).

The set is injected (`KnownEvents(events_by_topic)`), so a test runs an older consumer by
leaving event types out of `EVENTS_BY_TOPIC`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import TypeAdapter
from supplychain_contracts.envelope import Event
from supplychain_contracts.registry import (
    EVENTS_BY_TOPIC,
    event_parser,
    event_type_of,
    named_event_type,
)


@dataclass(frozen=True)
class UnknownType:
    """A well-formed record naming an event type this consumer does not know (yet)."""

    event_type: str


@dataclass(frozen=True)
class Misrouted:
    """A record of an event type this consumer knows on another topic."""

    event_type: str
    topic: str
    home_topic: str

    @property
    def reason(self) -> str:
        return f"{self.event_type} belongs to {self.home_topic}, not {self.topic}"


class MisroutedEvent(ValueError):
    """The dead-letter error of a record read on a topic its event type does not travel on."""


# What a consumer makes of a record's value (`KnownEvents.read`).
RecordRead = Event | UnknownType | Misrouted


class KnownEvents:
    """Reads records of the topics in `events_by_topic` (by default every contract event)."""

    def __init__(
        self, events_by_topic: Mapping[str, Iterable[type[Event]]] = EVENTS_BY_TOPIC
    ) -> None:
        models = {topic: tuple(events) for topic, events in events_by_topic.items()}
        self._parsers = {topic: event_parser(events) for topic, events in models.items() if events}
        self._any: TypeAdapter[Event] = event_parser(
            event for events in models.values() for event in events
        )
        self._home = {
            event_type_of(event): topic for topic, events in models.items() for event in events
        }
        self._models = {
            event_type_of(event): event for events in models.values() for event in events
        }

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type this consumer knows, on whichever topic."""
        return frozenset(self._home)

    def model_on(self, event_type: str, topic: str) -> type[Event] | None:
        """The class of a known event type that travels on `topic`; None for a type unknown
        to this consumer or one of another topic (`read` tells which, from the value)."""
        if self._home.get(event_type) != topic:
            return None
        return self._models[event_type]

    def read(self, payload: bytes, topic: str) -> RecordRead:
        """The record's event, or what it is instead; raises pydantic.ValidationError for a
        record that is no event, or no valid one of a type this consumer knows on `topic`."""
        try:
            event = self._parsers.get(topic, self._any).validate_json(payload)
        except ValueError:
            event_type = named_event_type(payload)
            home = self._home.get(event_type or "")
            if event_type is None or home == topic:
                raise
            if home is None:
                return UnknownType(event_type)
            return Misrouted(event_type, topic=topic, home_topic=home)
        if self._home[event.event_type] != topic:  # read on a topic that is no contract topic
            return Misrouted(event.event_type, topic=topic, home_topic=self._home[event.event_type])
        return event


@functools.cache
def contract_events() -> KnownEvents:
    """Every event of the contracts this build has: what a service's consumer knows."""
    return KnownEvents()
