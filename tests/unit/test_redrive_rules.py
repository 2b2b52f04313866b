"""What a redrive may republish and where (supplychain_kit.messaging.redrive_rules, issue 23): the
dead-letter topic's name says the target, only its producer redrives it, and a corrected value
is the same event fixed, never another one."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from supplychain_contracts import OrderLine, OrderPlaced, topics
from supplychain_contracts.company import Department
from supplychain_contracts.reference import department_defined
from supplychain_kit.messaging.redrive_rules import RedriveRefused, republished_value, source_topic

ORDER_ID = uuid.UUID(int=7)
PLACED = OrderPlaced(
    order_id=ORDER_ID,
    root_order_id=ORDER_ID,
    producer="order-intake",
    supplier="FRAMES",
    requester="ASSEMBLY",
    lines=(OrderLine(sku="FRAME-CITY", quantity=1, unit_price="10.00"),),
)
GOOD: dict[str, Any] = json.loads(PLACED.model_dump_json())
POISON = json.dumps({**GOOD, "priority": "urgent"}).encode()
KEY = str(ORDER_ID).encode()


def refused_fields(received: bytes, corrected: dict[str, Any] | None, **kwargs: Any) -> list[str]:
    with pytest.raises(RedriveRefused) as refused:
        republished_value(received, corrected, **{"topic": topics.ORDERS, "key": KEY, **kwargs})
    return [p.field for p in refused.value.problems]


def test_the_target_is_the_source_the_dead_letter_topics_name_says_if_produced_here() -> None:
    produced = (topics.FULFILMENT, topics.ORDERS)
    assert source_topic("supplychain.orders.v1.dlq", produced) == topics.ORDERS
    assert source_topic("supplychain.invoicing.v1.dlq", produced) is None  # not its topic
    assert source_topic(topics.ORDERS, produced) is None  # no dead-letter topic
    assert source_topic("supplychain.orders.v1.dlq.dlq", produced) is None


def test_a_record_as_received_goes_back_only_when_it_is_a_valid_event_now() -> None:
    valid = PLACED.model_dump_json().encode()
    assert republished_value(valid, None, topic=topics.ORDERS, key=KEY) == valid
    assert refused_fields(POISON, None) == ["value.priority"]
    assert refused_fields(b"not json", None) == ["value"]
    # a valid event of another topic is dead-lettered again on this one
    assert refused_fields(valid, None, topic=topics.FULFILMENT) == ["value.event_type"]


def test_a_corrected_value_is_the_same_event_fixed() -> None:
    fixed = republished_value(POISON, GOOD, topic=topics.ORDERS, key=KEY)
    assert json.loads(fixed) == GOOD
    # the same ids in another spelling are the same ids
    spelled = {**GOOD, "event_id": GOOD["event_id"].upper()}
    assert json.loads(republished_value(POISON, spelled, topic=topics.ORDERS, key=KEY)) == spelled


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": str(uuid.uuid4())}, "value.event_id"),
        ({"order_id": str(uuid.uuid4())}, "value.order_id"),
        ({"event_type": "OrderCancelled"}, "value.event_type"),
        ({"event_type": "OrderDelivered"}, "value.event_type"),  # another topic's event
    ],
)
def test_a_corrected_value_that_is_another_event_is_refused(
    change: dict[str, Any], field: str
) -> None:
    assert refused_fields(POISON, {**GOOD, **change}) == [field]


def test_a_correction_is_checked_against_the_dead_letter_or_refused() -> None:
    unknown = ["value.event_id", "value.event_type", "value.order_id"]
    assert refused_fields(json.dumps({"priority": "urgent"}).encode(), GOOD) == unknown
    assert refused_fields(b"\x00garbage", GOOD) == unknown
    # still a valid event of the topic after keeping its identity
    assert refused_fields(POISON, {**GOOD, "lines": []}) == ["value.lines"]


def test_the_kafka_key_is_kept_too_for_events_of_no_order() -> None:
    event = department_defined(
        Department(
            code="FRAMES",
            name="Frames",
            cost_centre="CC-FRAMES",
            legal_entity="GROUP",
            monthly_budget="1000.00",
        ),
        producer="order-intake",
    )
    received = event.model_dump_json().encode()
    key = event.message_key().encode()
    same = json.loads(received)
    assert (
        republished_value(received, same, topic=topics.REFERENCE, key=key)
        == json.dumps(same, separators=(",", ":"), ensure_ascii=False).encode()
    )
    with pytest.raises(RedriveRefused, match="Kafka key"):
        republished_value(received, same, topic=topics.REFERENCE, key=b"department:WHEELS")
