"""What a redrive may republish, and where (pure rules; issue 23).

A redrive republishes a dead-letter record to the topic it came from as the dead-letter topic's
name says (`<topic>.dlq`), never as a header of the record says: its writer chose those. Only
the service that produces a topic redrives its dead letters (the producer owns the topic's
writes, as Kafka's ACLs have it).

What goes back is the record as received or a value an operator corrected. Either must be a
valid event of the topic, and a corrected value keeps the dead letter's identity: its
`event_id` (so every consumer's inbox applies it at most once), `event_type`, `order_id` and
Kafka key. A correction fixes a field of the event that failed; it never makes another event
(a forged `OrderDelivered` would invoice any amount to any cost centre). Nothing forces a
value past these rules.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from supplychain_contracts.registry import MODEL_BY_EVENT_TYPE, parse_event_strict
from supplychain_contracts.topics import DLQ_SUFFIX

# The fields a corrected value keeps from the dead letter (order_id where the topic's events
# have one: reference events are keyed by their entity instead, which the key check covers).
KEPT_FIELDS = ("event_id", "event_type", "order_id")
ERRORS_SHOWN = 5


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class RedriveRefused(Exception):
    """The value may not be republished; `problems` name each field and what is wrong."""

    def __init__(self, summary: str, problems: list[FieldProblem]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.problems = problems


def source_topic(dead_letter_topic: str, produced: Collection[str]) -> str | None:
    """The topic the records of `dead_letter_topic` came from, when it is one of `produced`
    (the topics of the service asked); None otherwise."""
    if not dead_letter_topic.endswith(DLQ_SUFFIX):
        return None
    source = dead_letter_topic.removesuffix(DLQ_SUFFIX)
    return source if source in produced else None


def _fields(value: bytes) -> Mapping[str, Any]:
    """The top-level fields of a record's JSON object; none when it is no JSON object."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _normal(value: Any) -> Any:
    """A field's value for comparison: a UUID in one spelling, anything else as it is."""
    if isinstance(value, str):
        try:
            return str(UUID(value))
        except ValueError:
            return value
    return value


def _identity_problems(
    received: Mapping[str, Any], corrected: Mapping[str, Any]
) -> list[FieldProblem]:
    problems = []
    for name in KEPT_FIELDS:
        was, now = received.get(name), corrected.get(name)
        if was is None and now is None and name == "order_id":
            continue  # an event of no order (reference data)
        if was is None:
            message = (
                f"the dead letter names no {name} to keep, so no correction of it can be "
                "checked: it cannot be redriven corrected"
            )
        elif _normal(was) != _normal(now):
            message = f"a corrected value keeps the dead letter's {name} {was!r}; it has {now!r}"
        else:
            continue
        problems.append(FieldProblem(f"value.{name}", message))
    return problems


def _field_of(error: Mapping[str, Any]) -> str:
    """`value.<field path>`, without the event type pydantic puts first for a topic's union;
    an event type the topic does not carry is its `event_type`'s problem."""
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "value.event_type"
    path = list(error["loc"])
    if path and path[0] in MODEL_BY_EVENT_TYPE:
        path = path[1:]
    return ".".join(["value", *(str(part) for part in path)])


def _parsed(value: bytes, topic: str, *, what: str) -> Any:
    """The value as an event of `topic`, or the refusal naming its invalid fields."""
    try:
        return parse_event_strict(value, topic=topic)
    except ValidationError as invalid:
        problems = [FieldProblem(_field_of(error), error["msg"]) for error in invalid.errors()]
    except ValueError as invalid:  # not JSON at all
        problems = [FieldProblem("value", str(invalid))]
    shown = "; ".join(f"{p.field}: {p.message}" for p in problems[:ERRORS_SHOWN])
    raise RedriveRefused(
        f"{what} is no valid event of {topic} and would be dead-lettered again: {shown}",
        problems,
    )


def republished_value(
    received: bytes, corrected: Mapping[str, Any] | None, *, topic: str, key: bytes | None
) -> bytes:
    """The bytes a redrive of the dead letter (`received`, its Kafka `key`) republishes to
    `topic`: the record as received, or the `corrected` value once it keeps the dead letter's
    identity and is a valid event of the topic. Raises RedriveRefused otherwise."""
    if corrected is None:
        _parsed(received, topic, what="the record as received (send a corrected value)")
        return received
    identity = _identity_problems(_fields(received), corrected)
    if identity:
        raise RedriveRefused("; ".join(p.message for p in identity), identity)
    value = json.dumps(corrected, separators=(",", ":"), ensure_ascii=False).encode()
    event = _parsed(value, topic, what="the corrected value")
    if key is not None and event.message_key().encode() != key:
        message = (
            f"a corrected value keeps the dead letter's Kafka key {key.decode(errors='replace')!r};"
            f" it would be published under {event.message_key()!r}"
        )
        raise RedriveRefused(message, [FieldProblem("value", message)])
    return value
