"""Issue 15, paused clocks, fulfilment's rules (pure, plain values): a help request's state
machine (open → awaiting_requester → answered → awaiting_requester …) and ComponentsReceived
when a parent's last component is delivered."""

from __future__ import annotations

from decimal import Decimal
from itertools import product
from uuid import UUID

import pytest
from fulfilment.chain import components_received, components_received_id, sub_order_id
from fulfilment.domain import (
    HelpRequest,
    HelpStatus,
    IllegalHelpTransition,
    IllegalTransition,
    SubOrder,
    WorkItem,
    WorkStatus,
    answer_help,
    ask_requester,
)
from supplychain_contracts import (
    ComponentsReceived,
    HelpAnswered,
    HelpAwaitingRequester,
    OrderDelivered,
    OrderLine,
    parse_event_strict,
)
from support.events import order_delivered

H = HelpStatus
S = WorkStatus
ROOT = UUID("aaaaaaaa-0000-4000-8000-000000000000")
ORDER = UUID("aaaaaaaa-0000-4000-8000-000000000001")
LAST_ORDER_EVENT = UUID("bbbbbbbb-0000-4000-8000-000000000009")
HELP = UUID("cccccccc-0000-4000-8000-000000000001")
LAST_HELP_EVENT = UUID("cccccccc-0000-4000-8000-000000000002")
OPEN_ORDER = (S.RECEIVED, S.ACCEPTED, S.IN_PROGRESS, S.SHIPPED, S.BLOCKED)
LINES = (OrderLine(sku="FRAME-CITY", quantity=2, unit_price=Decimal("104.50")),)


def order(status: WorkStatus = S.IN_PROGRESS) -> WorkItem:
    return WorkItem(
        order_id=ORDER,
        root_order_id=ROOT,
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id=None,
        status=status,
        last_event_id=LAST_ORDER_EVENT,
        currency="EUR",
        lines=LINES,
    )


def help_request(status: HelpStatus) -> HelpRequest:
    return HelpRequest(event_id=HELP, order_id=ORDER, status=status, last_event_id=LAST_HELP_EVENT)


# --- help requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(("order_status", "help_status"), list(product(WorkStatus, HelpStatus)))
def test_the_supplier_asks_back_only_on_an_open_or_answered_request_of_an_open_order(
    order_status: WorkStatus, help_status: HelpStatus
) -> None:
    item, request = order(order_status), help_request(help_status)
    if order_status not in OPEN_ORDER:
        with pytest.raises(IllegalTransition) as refused:
            ask_requester(item, request, question="which dock?")
        assert refused.value.current is order_status  # the order's state is named first
    elif help_status is H.AWAITING_REQUESTER:
        with pytest.raises(IllegalHelpTransition) as refused_help:
            ask_requester(item, request, question="which dock?")
        assert refused_help.value.current is H.AWAITING_REQUESTER
        assert "awaiting_requester" in str(refused_help.value)
    else:
        step = ask_requester(item, request, question="which dock?")
        assert step.status is H.AWAITING_REQUESTER
        assert isinstance(step.event, HelpAwaitingRequester)


@pytest.mark.parametrize(("order_status", "help_status"), list(product(WorkStatus, HelpStatus)))
def test_the_requester_answers_only_a_request_awaiting_it(
    order_status: WorkStatus, help_status: HelpStatus
) -> None:
    item, request = order(order_status), help_request(help_status)
    if help_status is H.AWAITING_REQUESTER:
        step = answer_help(item, request, answer="dock 3")
        assert step.status is H.ANSWERED
        assert isinstance(step.event, HelpAnswered)
    else:
        with pytest.raises(IllegalHelpTransition) as refused:
            answer_help(item, request, answer="dock 3")
        assert refused.value.current is help_status


def test_help_events_name_the_request_follow_its_last_event_and_carry_the_parties() -> None:
    asked = ask_requester(order(), help_request(H.OPEN), question="which dock?").event
    answered = answer_help(order(), help_request(H.AWAITING_REQUESTER), answer="dock 3").event
    for event in (asked, answered):
        assert event.help_event_id == HELP
        assert event.causation_id == LAST_HELP_EVENT  # not the order's last event
        assert (event.order_id, event.root_order_id) == (ORDER, ROOT)
        assert (event.supplier, event.requester, event.producer) == (
            "FRAMES",
            "ASSEMBLY",
            "fulfilment",
        )
        assert parse_event_strict(event.model_dump_json()) == event
    assert asked.question == "which dock?" and answered.answer == "dock 3"


def test_a_request_walks_open_awaiting_answered_and_back_again() -> None:
    request = help_request(H.OPEN)
    seen = []
    for step in ("ask", "answer", "ask", "answer"):
        moved = (
            ask_requester(order(), request, question="q?")
            if step == "ask"
            else answer_help(order(), request, answer="a")
        )
        seen.append(moved.status)
        request = HelpRequest(HELP, ORDER, moved.status, moved.event.event_id)
    assert seen == [H.AWAITING_REQUESTER, H.ANSWERED] * 2


# --- components received --------------------------------------------------------------------

SKUS = ("DROPOUT-STEEL", "PAINT-FRAME", "TUBE-AL-6061")


def subs(*statuses: WorkStatus) -> list[SubOrder]:
    return [
        SubOrder(sub_order_id(ORDER, sku), ORDER, sku, 1, "METALWORKS", status)
        for sku, status in zip(SKUS, statuses, strict=True)
    ]


def receipt_of(sub_order: SubOrder) -> OrderDelivered:
    return order_delivered(
        order_id=sub_order.order_id,
        root_order_id=ROOT,
        producer="fulfilment",
        supplier=sub_order.supplier,
        requester="FRAMES",
        sku=sub_order.sku,
        unit_price="1.00",
    )


def received_after(
    parent: WorkItem, sub_orders: list[SubOrder], delivered: OrderDelivered
) -> ComponentsReceived | None:
    return components_received(
        parent, sub_orders, delivered_id=delivered.order_id, cause_id=delivered.event_id
    )


@pytest.mark.parametrize("parent_status", [S.ACCEPTED, S.IN_PROGRESS])
def test_the_last_delivered_component_tells_the_parent_all_its_components_are_in(
    parent_status: WorkStatus,
) -> None:
    sub_orders = subs(S.DELIVERED, S.DELIVERED, S.DELIVERED)
    delivered = receipt_of(sub_orders[1])

    received = components_received(
        order(parent_status),
        sub_orders,
        delivered_id=delivered.order_id,
        cause_id=delivered.event_id,
    )

    assert isinstance(received, ComponentsReceived)
    assert received.order_id == ORDER  # the parent's event, with the parent's parties
    assert (received.supplier, received.requester) == ("FRAMES", "ASSEMBLY")
    assert received.causation_id == delivered.event_id
    assert received.sub_order_ids == tuple(s.order_id for s in sub_orders)
    assert received.event_id == components_received_id(ORDER)
    assert parse_event_strict(received.model_dump_json()) == received


@pytest.mark.parametrize(
    "others",
    [
        (S.RECEIVED, S.DELIVERED),
        (S.SHIPPED, S.IN_PROGRESS),
        (S.DELIVERED, S.CANCELLED),  # one will never arrive: the parent is blocked, not served
        (S.REJECTED, S.DELIVERED),
    ],
)
def test_nothing_while_another_component_is_outstanding(
    others: tuple[WorkStatus, WorkStatus],
) -> None:
    sub_orders = subs(S.DELIVERED, *others)
    assert received_after(order(), sub_orders, receipt_of(sub_orders[0])) is None


@pytest.mark.parametrize("parent_status", [S.CANCELLED, S.BLOCKED, S.SHIPPED, S.DELIVERED])
def test_nothing_for_a_parent_that_no_longer_waits_on_components(
    parent_status: WorkStatus,
) -> None:
    sub_orders = subs(S.DELIVERED, S.DELIVERED, S.DELIVERED)
    assert received_after(order(parent_status), sub_orders, receipt_of(sub_orders[2])) is None


def test_nothing_for_a_receipt_of_another_order_or_without_sub_orders() -> None:
    sub_orders = subs(S.DELIVERED, S.DELIVERED, S.DELIVERED)
    stranger = SubOrder(UUID(int=7), ORDER, "X", 1, "WHEELS", S.DELIVERED)
    assert received_after(order(), sub_orders, receipt_of(stranger)) is None
    assert received_after(order(), [], receipt_of(sub_orders[0])) is None


def test_its_id_is_one_per_parent() -> None:
    assert components_received_id(ORDER) == components_received_id(ORDER)
    assert components_received_id(ORDER) != components_received_id(ROOT)
    assert components_received_id(ORDER) not in {sub_order_id(ORDER, sku) for sku in SKUS}
