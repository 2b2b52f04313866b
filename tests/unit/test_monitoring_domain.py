"""Stages and handoffs of the architecture's contract table (monitoring.domain, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from monitoring.domain import BOUNDARIES, Edge, boundaries, duration_seconds
from supplychain_contracts import (
    ComponentsRequested,
    CreditNoteIssued,
    Envelope,
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    SlaBreached,
    SlaWarning,
    Stage,
    WorkStarted,
)
from supplychain_contracts.events import OrderParties

# The stage table of ARCHITECTURE.md §2: stage → (from events, to events)
STAGE_TABLE: dict[Stage, tuple[set[type[Envelope]], set[type[Envelope]]]] = {
    Stage.ACCEPTANCE: ({OrderPlaced}, {OrderAccepted, OrderRejected}),
    Stage.FULFILMENT: ({OrderAccepted}, {OrderShipped}),
    Stage.DELIVERY: ({OrderShipped}, {OrderDelivered}),
    Stage.INVOICING: ({OrderDelivered}, {InvoiceIssued}),
    Stage.END_TO_END: ({OrderPlaced}, {OrderDelivered}),
}


def _events_marking(stage: Stage, edge: Edge) -> set[type[Envelope]]:
    return {event for event, marks in BOUNDARIES.items() if (stage, edge) in marks}


@pytest.mark.parametrize("stage", list(Stage))
def test_stage_boundaries_match_the_architecture_table(stage: Stage) -> None:
    starts, ends = STAGE_TABLE[stage]
    assert _events_marking(stage, Edge.START) == starts
    assert _events_marking(stage, Edge.END) == ends


def test_every_stage_of_the_contract_is_covered() -> None:
    assert set(STAGE_TABLE) == set(Stage)
    marked = {stage for marks in BOUNDARIES.values() for stage, _ in marks}
    assert marked == set(Stage)


@pytest.mark.parametrize(
    ("event_class", "expected"),
    [
        (OrderPlaced, {(Stage.ACCEPTANCE, Edge.START), (Stage.END_TO_END, Edge.START)}),
        (OrderAccepted, {(Stage.ACCEPTANCE, Edge.END), (Stage.FULFILMENT, Edge.START)}),
        (OrderRejected, {(Stage.ACCEPTANCE, Edge.END)}),
        (OrderShipped, {(Stage.FULFILMENT, Edge.END), (Stage.DELIVERY, Edge.START)}),
        (
            OrderDelivered,
            {
                (Stage.DELIVERY, Edge.END),
                (Stage.INVOICING, Edge.START),
                (Stage.END_TO_END, Edge.END),
            },
        ),
        (InvoiceIssued, {(Stage.INVOICING, Edge.END)}),
    ],
)
def test_boundaries_per_event_class(
    event_class: type[Envelope], expected: set[tuple[Stage, Edge]]
) -> None:
    marks = boundaries(event_class)
    assert set(marks) == expected
    assert len(marks) == len(expected)


@pytest.mark.parametrize(
    "event_class",
    [WorkStarted, ComponentsRequested, CreditNoteIssued, SlaWarning, SlaBreached, OrderParties],
)
def test_events_outside_the_table_mark_no_boundary(event_class: type[Envelope]) -> None:
    assert boundaries(event_class) == ()


def test_duration_in_seconds() -> None:
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert duration_seconds(start, start + timedelta(minutes=2, milliseconds=500)) == 120.5
    assert duration_seconds(start, start) == 0.0


def test_duration_of_a_reordered_event_is_zero_not_negative() -> None:
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert duration_seconds(start, start - timedelta(seconds=30)) == 0.0


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)),
)
def test_duration_is_never_negative(start: datetime, delta: timedelta) -> None:
    try:
        end = start + delta
    except OverflowError:
        return
    seconds = duration_seconds(start, end)
    assert seconds >= 0
    assert seconds == max(0.0, delta.total_seconds())
