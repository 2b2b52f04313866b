"""`parse_event`, the one function a subscriber calls: typed events, unknown types skipped."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import uuid4

import pytest
from pydantic import ValidationError
from supplychain_contracts import (
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    follow_up,
    parse_event,
    topics,
)
from supplychain_contracts.company import sample_company
from supplychain_contracts.reference import department_defined

PLACED = OrderPlaced(
    order_id=uuid4(),
    root_order_id=uuid4(),
    producer="order-intake",
    supplier="WHEELS",
    requester="ASSEMBLY",
    lines=(OrderLine(sku="WHEEL-28", quantity=2, unit_price=Decimal("38.50")),),
)
SHIPPED = follow_up(PLACED, OrderShipped, producer="fulfilment")
DELIVERED = follow_up(
    SHIPPED, OrderDelivered, producer="fulfilment", lines=PLACED.lines, currency="EUR"
)


def unknown_of(event: OrderShipped) -> dict[str, object]:
    data = json.loads(event.model_dump_json())
    data["event_type"] = "OrderTeleported"
    data["teleporter"] = "T-1"
    return data


@pytest.mark.parametrize("event", [SHIPPED, DELIVERED], ids=lambda e: e.event_type)
def test_a_known_event_parses_from_bytes_text_and_decoded_json(event: OrderShipped) -> None:
    text = event.model_dump_json()
    for value in (text.encode(), text, json.loads(text)):
        parsed = parse_event(topics.FULFILMENT, value)
        assert type(parsed) is type(event)
        assert parsed == event


def test_headers_as_kafka_pairs_or_a_mapping_do_not_change_a_known_event() -> None:
    value = SHIPPED.model_dump_json().encode()
    pairs = [
        ("event_type", b"OrderShipped"),
        ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"),
    ]
    assert parse_event(topics.FULFILMENT, value, pairs) == SHIPPED
    assert parse_event(topics.FULFILMENT, value, {"event_type": "OrderShipped"}) == SHIPPED


def test_an_unknown_event_type_is_skipped_not_an_error() -> None:
    data = unknown_of(SHIPPED)
    assert parse_event(topics.FULFILMENT, json.dumps(data).encode()) is None
    assert parse_event(topics.FULFILMENT, data) is None
    # the value says it even when a (stale) header claims a known type
    assert parse_event(topics.FULFILMENT, data, {"event_type": "OrderShipped"}) is None


def test_an_unknown_event_type_header_skips_without_reading_the_value() -> None:
    assert (
        parse_event(topics.FULFILMENT, b"\x00 not json", [("event_type", b"OrderTeleported")])
        is None
    )


def test_a_record_that_is_no_valid_event_of_the_topic_raises() -> None:
    missing = json.loads(SHIPPED.model_dump_json())
    del missing["order_id"]
    for value in (b"not json", b"[]", json.dumps(missing).encode(), missing):
        with pytest.raises(ValidationError):
            parse_event(topics.FULFILMENT, value)
    # an event of another topic is a type this topic does not know: skipped like one
    assert parse_event(topics.ORDERS, SHIPPED.model_dump_json()) is None


def test_reference_events_parse_on_the_reference_topic() -> None:
    department = sample_company().departments[0]
    event = department_defined(department, producer="order-intake")
    assert parse_event(topics.REFERENCE, event.model_dump_json()) == event


def test_a_topic_that_is_no_contract_topic_is_refused() -> None:
    with pytest.raises(LookupError, match="not a contract topic"):
        parse_event("supplychain.unknown.v1", SHIPPED.model_dump_json())
