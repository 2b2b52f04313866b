"""A supplier's state machine for one order (fulfilment.domain, pure)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import product
from uuid import UUID

import pytest
from fulfilment.domain import (
    Command,
    IllegalTransition,
    WorkItem,
    WorkStatus,
    decide,
    next_status,
)
from hypothesis import given
from hypothesis import strategies as st
from supplychain_contracts import (
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderRejected,
    OrderShipped,
    WorkStarted,
    parse_event_strict,
)

LEGAL = {
    (WorkStatus.RECEIVED, Command.ACCEPT): WorkStatus.ACCEPTED,
    (WorkStatus.RECEIVED, Command.REJECT): WorkStatus.REJECTED,
    (WorkStatus.ACCEPTED, Command.START): WorkStatus.IN_PROGRESS,
    (WorkStatus.IN_PROGRESS, Command.SHIP): WorkStatus.SHIPPED,
    (WorkStatus.SHIPPED, Command.RECEIPT): WorkStatus.DELIVERED,
}
ILLEGAL = [pair for pair in product(WorkStatus, Command) if pair not in LEGAL]
EVENT = {
    Command.ACCEPT: OrderAccepted,
    Command.REJECT: OrderRejected,
    Command.START: WorkStarted,
    Command.SHIP: OrderShipped,
    Command.RECEIPT: OrderDelivered,
}

ORDER_ID = UUID("aaaaaaaa-0000-4000-8000-000000000001")
ROOT_ID = UUID("aaaaaaaa-0000-4000-8000-000000000000")
LAST_EVENT = UUID("bbbbbbbb-0000-4000-8000-000000000009")
LINES = (
    OrderLine(sku="FRAME-CITY", quantity=2, unit_price=Decimal("104.50")),
    OrderLine(sku="WHEEL-28", quantity=4, unit_price=Decimal("38.50")),
)


def item(status: WorkStatus, **overrides: object) -> WorkItem:
    base = WorkItem(
        order_id=ORDER_ID,
        root_order_id=ROOT_ID,
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id=None,
        status=status,
        last_event_id=LAST_EVENT,
        currency="CHF",
        lines=LINES,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_the_tables_cover_every_pair() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(WorkStatus) * len(Command)
    assert len(LEGAL) == 5


@pytest.mark.parametrize(("current", "command"), list(LEGAL), ids=str)
def test_every_legal_transition(current: WorkStatus, command: Command) -> None:
    assert next_status(current, command) is LEGAL[(current, command)]


@pytest.mark.parametrize(("current", "command"), ILLEGAL, ids=str)
def test_every_illegal_transition_raises_naming_the_current_state(
    current: WorkStatus, command: Command
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(current, command)
    assert caught.value.current is current
    assert caught.value.command is command
    assert str(caught.value) == f"cannot {command.value} an order that is {current.value}"
    with pytest.raises(IllegalTransition):
        decide(item(current), command, reason="x")


@pytest.mark.parametrize(("current", "command"), list(LEGAL), ids=str)
def test_decide_produces_the_right_event(current: WorkStatus, command: Command) -> None:
    status, event = decide(item(current), command)
    assert status is LEGAL[(current, command)]
    assert type(event) is EVENT[command]
    assert event.event_type == EVENT[command].__name__
    assert event.causation_id == LAST_EVENT
    assert event.order_id == ORDER_ID
    assert event.root_order_id == ROOT_ID
    assert event.producer == "fulfilment"
    assert event.supplier == "FRAMES"  # type: ignore[attr-defined]
    assert event.requester == "ASSEMBLY"  # type: ignore[attr-defined]
    assert event.event_id != LAST_EVENT
    assert parse_event_strict(event.model_dump_json()) == event


def test_decide_keeps_the_employee() -> None:
    _, event = decide(item(WorkStatus.RECEIVED, employee_id="E-1001"), Command.ACCEPT)
    assert event.employee_id == "E-1001"  # type: ignore[attr-defined]


def test_reject_carries_the_reason() -> None:
    status, event = decide(item(WorkStatus.RECEIVED), Command.REJECT, reason="no capacity")
    assert status is WorkStatus.REJECTED
    assert isinstance(event, OrderRejected)
    assert event.reason == "no capacity"


def test_reject_without_reason_gets_a_default_reason() -> None:
    _, event = decide(item(WorkStatus.RECEIVED), Command.REJECT)
    assert isinstance(event, OrderRejected)
    assert event.reason == "rejected by the supplier"


def test_receipt_carries_lines_and_currency() -> None:
    status, event = decide(item(WorkStatus.SHIPPED), Command.RECEIPT)
    assert status is WorkStatus.DELIVERED
    assert isinstance(event, OrderDelivered)
    assert event.lines == LINES
    assert event.currency == "CHF"


def test_sub_order_keeps_its_root() -> None:
    sub = item(WorkStatus.ACCEPTED, order_id=UUID(int=7), root_order_id=ROOT_ID)
    _, event = decide(sub, Command.START)
    assert event.order_id == UUID(int=7)
    assert event.root_order_id == ROOT_ID


@given(st.lists(st.sampled_from(list(Command)), max_size=12))
def test_any_command_sequence_only_walks_legal_edges(commands: list[Command]) -> None:
    current = WorkStatus.RECEIVED
    for command in commands:
        if (current, command) not in LEGAL:
            with pytest.raises(IllegalTransition) as caught:
                next_status(current, command)
            assert caught.value.current is current
            continue
        new = next_status(current, command)
        assert LEGAL[(current, command)] is new
        current = new
