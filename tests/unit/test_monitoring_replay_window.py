"""What makes a replay agree with live (pure): the priority travels with the events that
start a stage; the window a replay judges is what each topic still holds."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fulfilment.domain import Command, WorkItem, WorkStatus, decide
from monitoring.domain import carried_priority
from monitoring.replay.window import (
    MissingEvents,
    TopicWindow,
    explained,
    orders_before_window,
    window_of,
)
from supplychain_contracts import (
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderShipped,
    Priority,
    WorkStarted,
    topics,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def window(*first_per_partition: datetime, last: datetime | None = None) -> TopicWindow:
    held = TopicWindow()
    for partition, at in enumerate(first_per_partition):
        held.saw(partition, ms(at))
    if last is not None:
        held.saw(0, ms(last))
    return held


def test_a_topic_is_complete_from_the_latest_first_record_of_its_partitions() -> None:
    held = window(T0 + timedelta(seconds=5), T0, last=T0 + timedelta(minutes=3))
    held.saw(2, None)  # a record without a timestamp counts, and says nothing of the window
    assert held.records == 4
    assert held.first_record_at == T0
    assert held.complete_from == T0 + timedelta(seconds=5)
    assert held.last_record_at == T0 + timedelta(minutes=3)
    assert TopicWindow().complete_from is None


def test_only_events_from_before_their_topics_window_are_explained() -> None:
    windows = {topics.ORDERS: window(T0), topics.FULFILMENT: window(T0), topics.SLA: TopicWindow()}
    order = uuid.uuid4()
    before = MissingEvents(order, "OrderPlaced", T0 - timedelta(seconds=1))
    inside = MissingEvents(order, "OrderAccepted", T0 + timedelta(seconds=1))
    alarm = MissingEvents(order, "SlaBreached", T0 + timedelta(hours=1))  # its topic holds none
    unknown = MissingEvents(order, "SomethingElse", T0 - timedelta(days=1))
    assert explained(before, windows) and explained(alarm, windows)
    assert not explained(inside, windows) and not explained(unknown, windows)


def test_an_order_is_before_the_window_only_when_all_it_lost_is_explained() -> None:
    windows = {topics.ORDERS: window(T0), topics.FULFILMENT: window(T0)}
    old, lost_inside = uuid.uuid4(), uuid.uuid4()
    missing = [
        MissingEvents(old, "OrderPlaced", T0 - timedelta(minutes=5)),
        MissingEvents(old, "OrderAccepted", T0 - timedelta(minutes=4)),
        MissingEvents(lost_inside, "OrderPlaced", T0 - timedelta(minutes=5)),
        MissingEvents(lost_inside, "OrderShipped", T0 + timedelta(minutes=1)),  # compared
    ]
    assert orders_before_window(missing, windows) == {old}
    assert orders_before_window([], windows) == set()


def test_the_window_named_in_the_report() -> None:
    windows = {
        topics.ORDERS: window(T0, last=T0 + timedelta(minutes=2)),
        topics.FULFILMENT: window(T0 + timedelta(seconds=2), last=T0 + timedelta(minutes=3)),
        topics.SLA: TopicWindow(),
    }
    named = window_of(windows)
    assert (named["from"], named["to"]) == (T0 + timedelta(seconds=2), T0 + timedelta(minutes=3))
    assert named["topics"][topics.SLA]["records"] == 0
    assert named["topics"][topics.ORDERS]["complete_from"] == T0


def test_the_priority_travels_with_the_events_that_start_a_stage() -> None:
    order_id = uuid.uuid4()
    parties = {
        "order_id": order_id,
        "root_order_id": order_id,
        "producer": "fulfilment",
        "supplier": "ASSEMBLY",
        "requester": "RETAIL_OPS",
    }
    line = OrderLine(sku="EBIKE-CITY", quantity=1, unit_price="1")
    rush = Priority.RUSH
    assert carried_priority(OrderAccepted(**parties, priority=rush)) == "rush"
    assert carried_priority(OrderShipped(**parties, priority=Priority.STANDARD)) == "standard"
    assert carried_priority(OrderDelivered(**parties, lines=(line,), priority=rush)) == "rush"
    assert carried_priority(OrderAccepted(**parties)) is None  # published before it was carried
    assert carried_priority(WorkStarted(**parties)) is None  # starts no stage


def test_fulfilment_copies_the_priority_into_the_events_that_start_a_stage() -> None:
    order_id = uuid.uuid4()
    line = OrderLine(sku="EBIKE-CITY", quantity=1, unit_price="1")
    work = WorkItem(
        order_id=order_id,
        root_order_id=order_id,
        supplier="ASSEMBLY",
        requester="RETAIL_OPS",
        employee_id=None,
        status=WorkStatus.RECEIVED,
        last_event_id=uuid.uuid4(),
        currency="EUR",
        lines=(line,),
        priority=Priority.RUSH,
    )
    steps = [
        (WorkStatus.RECEIVED, Command.ACCEPT),
        (WorkStatus.ACCEPTED, Command.START),
        (WorkStatus.IN_PROGRESS, Command.SHIP),
        (WorkStatus.SHIPPED, Command.RECEIPT),
    ]
    carried = {
        command: carried_priority(decide(replace(work, status=status), command)[1])
        for status, command in steps
    }
    assert carried == {
        Command.ACCEPT: "rush",
        Command.START: None,  # WorkStarted starts no stage
        Command.SHIP: "rush",
        Command.RECEIPT: "rush",
    }
