"""How monitoring applies a run of events as sets (pure): which events wait for the ones before
them, and what a run's events say of each stage, merged as successive upserts merge them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring.domain import Outcome
from monitoring.timeline.handoffs import merged_marks, parts
from monitoring.timeline.traced import Traced
from supplychain_contracts import (
    ComponentsReceived,
    OrderAccepted,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Stage,
    WorkCancelled,
    follow_up,
)
from supplychain_contracts.envelope import Envelope
from support.events import order_placed

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def placed() -> OrderPlaced:
    return order_placed(
        occurred_at=T0,
        producer="order-intake",
        supplier="WHEELS",
        sku="WHEEL-26",
        unit_price="40.00",
    )


def then(order: OrderPlaced, model: type[Envelope], after: float, **fields: Any) -> Envelope:
    at = T0 + timedelta(seconds=after)
    return follow_up(order, model, producer="fulfilment", occurred_at=at, **fields)


def traced(*events: Envelope, trace: str | None = None) -> list[Traced]:
    return [Traced(event, trace or f"trace-{n}", f"parent-{n}") for n, event in enumerate(events)]


def test_an_order_that_ended_or_paused_in_a_run_continues_in_the_next_run() -> None:
    a, b = placed(), placed()
    events = traced(
        a,
        b,
        then(a, OrderAccepted, 1),
        then(a, WorkCancelled, 2),  # ends a, seen in the run: after what came before it
        then(b, OrderAccepted, 3),  # b is not held back
        then(a, OrderShipped, 4),  # a ended in the run: after the end
        then(b, ComponentsReceived, 5, sub_order_ids=(uuid.uuid4(),)),  # b not seen in it
    )
    runs = [[t.event.event_type for t in run] for run in parts(events)]
    assert runs == [
        ["OrderPlaced", "OrderPlaced", "OrderAccepted"],
        ["WorkCancelled", "OrderAccepted"],
        ["OrderShipped", "ComponentsReceived"],
    ]


def test_a_run_of_orders_that_neither_end_nor_pause_is_one_run() -> None:
    orders = [placed() for _ in range(3)]
    events = traced(*orders, *(then(o, OrderAccepted, 1) for o in orders))
    assert [len(run) for run in parts(events)] == [6]


def test_the_first_start_the_first_end_and_the_first_trace_of_a_stage_win() -> None:
    order = placed()
    accepted = then(order, OrderAccepted, 5)
    rejected = then(order, OrderRejected, 7, reason="no capacity")
    first, *rest = traced(order, accepted, rejected)
    marks = {m.stage: m for m in merged_marks([Traced(first.event, None, None), *rest])}

    acceptance = marks[Stage.ACCEPTANCE]
    assert (acceptance.started_at, acceptance.start_event_id) == (T0, order.event_id)
    assert acceptance.traceparent is None  # the placement's, which it carried none of
    assert acceptance.trace_id == "trace-1"  # the first trace any of its events had
    # the acceptance ended it first: its end, not the rejection's (nor its outcome)
    assert (acceptance.ended_at, acceptance.end_event_type, acceptance.outcome) == (
        accepted.occurred_at,
        "OrderAccepted",
        None,
    )
    assert marks[Stage.FULFILMENT].started_at == accepted.occurred_at
    assert marks[Stage.FULFILMENT].ended_at is None
    assert set(marks) == {Stage.ACCEPTANCE, Stage.END_TO_END, Stage.FULFILMENT}


def test_an_end_that_ends_the_order_carries_its_outcome() -> None:
    order = placed()
    (mark,) = (
        m
        for m in merged_marks(traced(order, then(order, OrderRejected, 3, reason="no")))
        if m.stage is Stage.ACCEPTANCE
    )
    assert (mark.end_event_type, mark.outcome) == ("OrderRejected", Outcome.REJECTED)
