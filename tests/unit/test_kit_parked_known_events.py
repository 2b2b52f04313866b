"""What a consumer makes of a record: its event, an event type it does not know (parked), an
event of another topic (dead-lettered with that reason), or no event (a ValidationError)."""

from __future__ import annotations

import json
from types import MappingProxyType
from uuid import uuid4

import pytest
from pydantic import ValidationError
from supplychain_contracts import OrderPlaced, OrderShipped, follow_up, topics
from supplychain_contracts.registry import EVENTS_BY_TOPIC
from supplychain_kit.messaging.known_events import (
    KnownEvents,
    Misrouted,
    UnknownType,
    contract_events,
)
from support import placed_event_json

PLACED = OrderPlaced.model_validate_json(placed_event_json()[1])
SHIPPED = follow_up(PLACED, OrderShipped, producer="fulfilment")

# An older consumer: its contracts have no OrderShipped yet.
OLDER = KnownEvents(
    MappingProxyType(
        {
            **EVENTS_BY_TOPIC,
            topics.FULFILMENT: tuple(
                model for model in EVENTS_BY_TOPIC[topics.FULFILMENT] if model is not OrderShipped
            ),
        }
    )
)


def test_a_known_event_is_read_as_its_model() -> None:
    assert contract_events().read(SHIPPED.model_dump_json().encode(), topics.FULFILMENT) == SHIPPED


def test_an_event_type_newer_than_the_consumer_is_unknown_not_an_error() -> None:
    value = SHIPPED.model_dump_json().encode()
    assert OLDER.read(value, topics.FULFILMENT) == UnknownType("OrderShipped")
    assert "OrderShipped" not in OLDER.event_types
    teleported = {**json.loads(value), "event_type": "OrderTeleported"}
    assert contract_events().read(json.dumps(teleported).encode(), topics.FULFILMENT) == (
        UnknownType("OrderTeleported")
    )


def test_an_event_of_another_topic_is_misrouted_with_the_reason() -> None:
    read = contract_events().read(PLACED.model_dump_json().encode(), topics.FULFILMENT)
    assert read == Misrouted("OrderPlaced", topic=topics.FULFILMENT, home_topic=topics.ORDERS)
    assert isinstance(read, Misrouted)
    assert read.reason == (
        "OrderPlaced belongs to supplychain.orders.v1, not supplychain.fulfilment.v1"
    )
    # on a topic that is no contract topic, a contract event is misrouted too
    assert isinstance(contract_events().read(PLACED.model_dump_json().encode(), "x.v1"), Misrouted)


@pytest.mark.parametrize(
    "value",
    [
        b"\x00 not json",
        b"[1, 2]",
        json.dumps({"order_id": str(uuid4())}).encode(),  # names no type
        json.dumps({**json.loads(SHIPPED.model_dump_json()), "order_id": "nope"}).encode(),
    ],
    ids=["not-json", "not-an-object", "no-event-type", "invalid-known-type"],
)
def test_a_record_that_is_no_valid_event_raises(value: bytes) -> None:
    with pytest.raises(ValidationError):
        contract_events().read(value, topics.FULFILMENT)
