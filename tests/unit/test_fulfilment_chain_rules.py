"""Production-chain rules, feedback and the autopilot's choices (pure, plain values)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest
from fulfilment.autopilot import STEPS, next_move, shortest_delay, worker_for
from fulfilment.chain import (
    CatalogueEntry,
    Currencies,
    Reported,
    UnknownCatalogueItem,
    block_parent,
    catalogue_entry,
    compensate,
    explode,
    raise_sub_orders,
    reported,
    sub_order_id,
    sub_order_status_after,
)
from fulfilment.config import FulfilmentSettings
from fulfilment.domain import (
    Command,
    FeedbackAlreadyGiven,
    IllegalTransition,
    SubOrder,
    WaitingForSubOrders,
    WorkItem,
    WorkStatus,
    decide,
    give_feedback,
    request_help,
)
from supplychain_contracts import (
    OrderLine,
    OrderRejected,
    Priority,
    WorkCancelled,
    WorkStarted,
    parse_event_strict,
)
from supplychain_contracts.company import sample_company
from supplychain_contracts.reference import catalogue_item_defined

S = WorkStatus
ROOT = UUID("aaaaaaaa-0000-4000-8000-000000000000")
ORDER = UUID("aaaaaaaa-0000-4000-8000-000000000001")
LAST = UUID("bbbbbbbb-0000-4000-8000-000000000009")
CATALOGUE = {
    item.sku: CatalogueEntry(
        sku=item.sku,
        supplier=item.supplier,
        transfer_price=item.transfer_price,
        bill_of_materials=tuple((c.sku, c.quantity) for c in item.bill_of_materials),
    )
    for item in sample_company().catalogue
}


_COMPANY = sample_company()
_ENTITY_CURRENCY = {entity.code: entity.currency for entity in _COMPANY.legal_entities}
# The sample company's departments in their legal entities' currencies, its rates, a day.
CURRENCIES = Currencies(
    of_department={d.code: _ENTITY_CURRENCY[d.legal_entity] for d in _COMPANY.departments},
    rates=_COMPANY.fx_rates,
    day=date(2026, 12, 1),
)


def frame_order(status: WorkStatus = S.RECEIVED, quantity: int = 2) -> WorkItem:
    return WorkItem(
        order_id=ORDER,
        root_order_id=ROOT,
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id=None,
        status=status,
        last_event_id=LAST,
        currency="EUR",
        lines=(OrderLine(sku="FRAME-CITY", quantity=quantity, unit_price=Decimal("104.50")),),
        priority=Priority.RUSH,
    )


def sub(sku: str, status: WorkStatus, supplier: str = "METALWORKS") -> SubOrder:
    return SubOrder(
        order_id=sub_order_id(ORDER, sku),
        parent_order_id=ORDER,
        sku=sku,
        quantity=1,
        supplier=supplier,
        status=status,
    )


# --- sub-order explosion ------------------------------------------------------------------


def test_explode_multiplies_the_bill_of_materials_by_the_ordered_quantity() -> None:
    needs = explode(frame_order(quantity=2).lines, CATALOGUE)
    assert [(n.sku, n.quantity, n.supplier, n.unit_price) for n in needs] == [
        ("TUBE-AL-6061", 6, "METALWORKS", Decimal("13.50")),
        ("DROPOUT-STEEL", 2, "METALWORKS", Decimal("6.48")),
        ("PAINT-FRAME", 2, "PAINTSHOP", Decimal("20.00")),
    ]


def test_explode_sums_a_component_used_by_several_lines_and_skips_plain_items() -> None:
    lines = (
        OrderLine(sku="BIKE-CITY", quantity=1, unit_price=Decimal("1")),
        OrderLine(sku="EBIKE-CITY", quantity=2, unit_price=Decimal("1")),
        OrderLine(sku="PALLET-MOVE", quantity=5, unit_price=Decimal("1")),
    )
    assert {n.sku: n.quantity for n in explode(lines, CATALOGUE)} == {
        "FRAME-CITY": 3,
        "WHEEL-28": 6,
        "DRIVE-250W": 2,
    }


def test_an_item_without_bill_of_materials_raises_no_sub_orders() -> None:
    wheels = replace(
        frame_order(), lines=(OrderLine(sku="WHEEL-28", quantity=4, unit_price=Decimal("38.50")),)
    )
    assert (
        raise_sub_orders(wheels, cause_id=LAST, catalogue=CATALOGUE, currencies=CURRENCIES) is None
    )


def test_an_item_not_known_yet_raises_nothing_rather_than_guessing_it_has_no_parts() -> None:
    # the order arrived before the item's CatalogueItemDefined: wait for it, do not assume
    # it is made of nothing
    with pytest.raises(UnknownCatalogueItem) as unknown:
        raise_sub_orders(frame_order(), cause_id=LAST, catalogue={}, currencies=CURRENCIES)
    assert unknown.value.skus == ("FRAME-CITY",)
    assert "FRAME-CITY" in str(unknown.value)


def test_a_component_not_known_yet_stops_the_explosion_too() -> None:
    # the frame is known, one of its components is not: no supplier, no price to order it at
    partial = {sku: entry for sku, entry in CATALOGUE.items() if sku != "PAINT-FRAME"}
    with pytest.raises(UnknownCatalogueItem) as unknown:
        explode(frame_order().lines, partial)
    assert unknown.value.skus == ("PAINT-FRAME",)


def test_a_removed_item_still_explodes_for_orders_placed_while_it_was_active() -> None:
    removed = {**CATALOGUE, "FRAME-CITY": replace(CATALOGUE["FRAME-CITY"], active=False)}
    assert explode(frame_order().lines, removed) == explode(frame_order().lines, CATALOGUE)


def test_the_catalogue_copy_takes_supplier_price_and_parts_from_the_owners_event() -> None:
    item = sample_company().item("FRAME-CITY")
    assert item is not None
    defined = catalogue_item_defined(
        item, producer="order-intake", active=False, transfer_price=Decimal("99.00")
    )
    assert catalogue_entry(defined) == CatalogueEntry(
        sku="FRAME-CITY",
        supplier="FRAMES",
        transfer_price=Decimal("99.00"),  # as the event carries it, not recomputed here
        bill_of_materials=(("TUBE-AL-6061", 3), ("DROPOUT-STEEL", 1), ("PAINT-FRAME", 1)),
        active=False,
    )


def test_raise_sub_orders_places_one_order_per_component_caused_by_components_requested() -> None:
    accepted_id = UUID(int=42)
    raised = raise_sub_orders(
        frame_order(S.RECEIVED), cause_id=accepted_id, catalogue=CATALOGUE, currencies=CURRENCIES
    )
    assert raised is not None
    requested, placed, records = raised
    assert requested.causation_id == accepted_id
    assert (requested.order_id, requested.root_order_id) == (ORDER, ROOT)
    assert (requested.supplier, requested.requester) == ("FRAMES", "ASSEMBLY")
    assert [(c.sku, c.quantity, c.supplier) for c in requested.components] == [
        ("TUBE-AL-6061", 6, "METALWORKS"),
        ("DROPOUT-STEEL", 2, "METALWORKS"),
        ("PAINT-FRAME", 2, "PAINTSHOP"),
    ]
    assert [c.order_id for c in requested.components] == [p.order_id for p in placed]
    assert [r.order_id for r in records] == [p.order_id for p in placed]
    for child in placed:
        assert child.causation_id == requested.event_id
        assert child.root_order_id == ROOT
        assert child.parent_order_id == ORDER
        assert child.requester == "FRAMES"
        assert child.producer == "fulfilment"
        assert child.priority is Priority.RUSH
        assert child.order_id not in (ORDER, ROOT)
        assert parse_event_strict(child.model_dump_json()) == child
    assert placed[0].lines == (
        OrderLine(sku="TUBE-AL-6061", quantity=6, unit_price=Decimal("13.50")),
    )
    assert {r.status for r in records} == {S.RECEIVED}
    assert parse_event_strict(requested.model_dump_json()) == requested


def test_sub_order_ids_are_stable_per_parent_and_component() -> None:
    first = raise_sub_orders(
        frame_order(), cause_id=LAST, catalogue=CATALOGUE, currencies=CURRENCIES
    )
    second = raise_sub_orders(
        frame_order(), cause_id=LAST, catalogue=CATALOGUE, currencies=CURRENCIES
    )
    assert first is not None and second is not None
    assert [p.order_id for p in first[1]] == [p.order_id for p in second[1]]
    assert sub_order_id(ORDER, "X") != sub_order_id(UUID(int=1), "X")


# --- shipping waits for the components ------------------------------------------------------


def test_ship_waits_for_every_sub_order_to_be_delivered() -> None:
    parts = [sub("TUBE-AL-6061", S.DELIVERED), sub("PAINT-FRAME", S.SHIPPED, "PAINTSHOP")]
    with pytest.raises(WaitingForSubOrders) as caught:
        decide(frame_order(S.IN_PROGRESS), Command.SHIP, sub_orders=parts)
    assert [w.sku for w in caught.value.waiting] == ["PAINT-FRAME"]
    assert caught.value.current is S.IN_PROGRESS
    assert "PAINT-FRAME" in str(caught.value)
    delivered = [replace(p, status=S.DELIVERED) for p in parts]
    status, _ = decide(frame_order(S.IN_PROGRESS), Command.SHIP, sub_orders=delivered)
    assert status is S.SHIPPED


def test_start_does_not_wait_for_sub_orders_and_an_illegal_ship_names_the_state_first() -> None:
    parts = [sub("TUBE-AL-6061", S.RECEIVED)]
    assert decide(frame_order(S.ACCEPTED), Command.START, sub_orders=parts)[0] is S.IN_PROGRESS
    with pytest.raises(IllegalTransition) as caught:
        decide(frame_order(S.BLOCKED), Command.SHIP, sub_orders=parts)
    assert not isinstance(caught.value, WaitingForSubOrders)
    assert caught.value.current is S.BLOCKED


@pytest.mark.parametrize("command", list(Command))
def test_a_blocked_order_takes_no_command(command: Command) -> None:
    with pytest.raises(IllegalTransition):
        decide(frame_order(S.BLOCKED), command)


# --- the parent's record of a sub-order -----------------------------------------------------


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (S.RECEIVED, S.ACCEPTED, S.ACCEPTED),
        (S.ACCEPTED, S.IN_PROGRESS, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.SHIPPED, S.SHIPPED),
        (S.SHIPPED, S.DELIVERED, S.DELIVERED),
        (S.RECEIVED, S.REJECTED, S.REJECTED),
        (S.IN_PROGRESS, S.BLOCKED, S.BLOCKED),
        (S.BLOCKED, S.CANCELLED, S.CANCELLED),
        (S.RECEIVED, S.CANCELLED, S.CANCELLED),
        (S.SHIPPED, S.IN_PROGRESS, None),  # a late report never moves it back
        (S.IN_PROGRESS, S.ACCEPTED, None),
        (S.ACCEPTED, S.ACCEPTED, None),  # a redelivered report
        (S.CANCELLED, S.ACCEPTED, None),  # final states stay final
        (S.DELIVERED, S.CANCELLED, None),
        (S.REJECTED, S.CANCELLED, None),
    ],
)
def test_sub_order_status_after(
    current: WorkStatus, reported: WorkStatus, expected: WorkStatus | None
) -> None:
    assert sub_order_status_after(current, reported) is expected


# --- blocking ------------------------------------------------------------------------------


def _rejection(order_id: UUID) -> OrderRejected:
    return OrderRejected(
        order_id=order_id,
        root_order_id=ROOT,
        producer="fulfilment",
        supplier="METALWORKS",
        requester="FRAMES",
        reason="alloy shortage",
    )


def test_what_an_orders_event_reports_to_its_parents_record() -> None:
    rejection = _rejection(ORDER)
    assert reported(rejection, S.REJECTED) == Reported(
        order_id=ORDER, event_id=rejection.event_id, status=S.REJECTED, reason="alloy shortage"
    )
    started = WorkStarted(
        order_id=ORDER,
        root_order_id=ROOT,
        producer="fulfilment",
        supplier="METALWORKS",
        requester="FRAMES",
    )
    assert reported(started, S.IN_PROGRESS) == Reported(ORDER, started.event_id, S.IN_PROGRESS)


@pytest.mark.parametrize("blocking", [S.REJECTED, S.CANCELLED, S.BLOCKED])
@pytest.mark.parametrize("parent_status", [S.ACCEPTED, S.IN_PROGRESS])
def test_a_sub_order_that_cannot_be_delivered_blocks_its_parent(
    blocking: WorkStatus, parent_status: WorkStatus
) -> None:
    tube = sub("TUBE-AL-6061", blocking)
    cause = _rejection(tube.order_id)
    blocked = block_parent(
        frame_order(parent_status), tube, cause_id=cause.event_id, reason="alloy shortage"
    )
    assert blocked is not None
    assert blocked.order_id == ORDER
    assert blocked.root_order_id == ROOT
    assert blocked.causation_id == cause.event_id
    assert blocked.blocking_order_id == tube.order_id
    assert "alloy shortage" in blocked.reason and "TUBE-AL-6061" in blocked.reason
    assert (blocked.supplier, blocked.requester) == ("FRAMES", "ASSEMBLY")


@pytest.mark.parametrize("progress", [S.ACCEPTED, S.IN_PROGRESS, S.SHIPPED, S.DELIVERED])
def test_progress_of_a_sub_order_blocks_nothing(progress: WorkStatus) -> None:
    tube = sub("TUBE-AL-6061", progress)
    assert block_parent(frame_order(S.IN_PROGRESS), tube, cause_id=LAST, reason="") is None


@pytest.mark.parametrize("parent_status", [S.CANCELLED, S.BLOCKED, S.RECEIVED, S.REJECTED])
def test_a_parent_not_in_work_is_not_blocked_again(parent_status: WorkStatus) -> None:
    tube = sub("TUBE-AL-6061", S.REJECTED)
    assert block_parent(frame_order(parent_status), tube, cause_id=LAST, reason="x") is None


# --- compensation --------------------------------------------------------------------------


def test_cancelling_a_parent_cancels_the_sub_orders_that_can_still_be_stopped() -> None:
    children = [
        sub("A", S.RECEIVED),
        sub("B", S.ACCEPTED),
        sub("C", S.IN_PROGRESS),
        sub("D", S.BLOCKED),
        sub("E", S.SHIPPED),
        sub("F", S.DELIVERED),
        sub("G", S.REJECTED),
        sub("H", S.CANCELLED),
    ]
    cause = WorkCancelled(
        order_id=ORDER,
        root_order_id=ROOT,
        producer="fulfilment",
        supplier="FRAMES",
        requester="ASSEMBLY",
        reason="no longer needed",
    )
    cancels = compensate(frame_order(S.IN_PROGRESS), children, cause=cause)
    assert [c.order_id for c in cancels] == [sub(s, S.RECEIVED).order_id for s in "ABCD"]
    for cancel in cancels:
        assert cancel.causation_id == cause.event_id
        assert cancel.root_order_id == ROOT
        assert cancel.requester == "FRAMES"
        assert cancel.supplier == "METALWORKS"
        assert cancel.producer == "fulfilment"
        assert "no longer needed" in cancel.reason and str(ORDER) in cancel.reason
    assert compensate(frame_order(S.IN_PROGRESS), [], cause=cause) == ()


# --- feedback and help ------------------------------------------------------------------------


def test_feedback_only_on_a_delivered_order_and_only_once() -> None:
    event = give_feedback(frame_order(S.DELIVERED), rating=4, comment="ok", already_given=False)
    assert (event.rating, event.comment, event.causation_id) == (4, "ok", LAST)
    with pytest.raises(FeedbackAlreadyGiven):
        give_feedback(frame_order(S.DELIVERED), rating=4, comment="", already_given=True)
    with pytest.raises(IllegalTransition) as caught:
        give_feedback(frame_order(S.SHIPPED), rating=4, comment="", already_given=False)
    assert caught.value.current is S.SHIPPED
    assert str(caught.value) == "cannot give feedback on an order that is shipped"


@pytest.mark.parametrize("status", list(WorkStatus))
def test_help_only_on_an_open_order(status: WorkStatus) -> None:
    open_ = status not in (S.DELIVERED, S.REJECTED, S.CANCELLED)
    if open_:
        event = request_help(frame_order(status), subject="late?", message="")
        assert event.subject == "late?" and event.requester == "ASSEMBLY"
    else:
        with pytest.raises(IllegalTransition):
            request_help(frame_order(status), subject="late?", message="")


# --- the autopilot ------------------------------------------------------------------------


def _settings(**env: str) -> FulfilmentSettings:
    return FulfilmentSettings(
        autopilot=True,
        autopilot_accept_delay_s=1.0,
        autopilot_departments=json.loads(
            env.get(
                "departments",
                '{"FRAMES": {"accept_delay_s": 5, "reject_probability": 0.5},'
                ' "PAINTSHOP": {"enabled": false}}',
            )
        ),
    )


def test_department_overrides_apply_over_the_global_settings() -> None:
    settings = _settings()
    frames, wheels, paint = (worker_for(settings, d) for d in ("FRAMES", "WHEELS", "PAINTSHOP"))
    assert (frames.accept_delay_s, frames.reject_probability) == (5.0, 0.5)
    assert frames.ship_delay_s == settings.autopilot_ship_delay_s
    assert (wheels.accept_delay_s, wheels.reject_probability, wheels.enabled) == (1.0, 0.0, True)
    assert not paint.enabled
    accept = STEPS[0]
    assert shortest_delay(settings, accept) == 1.0


def test_department_settings_are_read_from_json_in_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("FULFILMENT_AUTOPILOT_DEPARTMENTS", '{"FRAMES": {"ship_delay_s": 0.5}}')
    settings = FulfilmentSettings()
    assert settings.autopilot_departments["FRAMES"].ship_delay_s == 0.5


def test_the_autopilot_waits_its_delay_and_rejects_by_its_probability() -> None:
    settings = _settings()
    accept, start, ship, receipt = STEPS
    frames = worker_for(settings, "FRAMES")
    assert next_move(accept, frames, waited_s=4.9, roll=0.9) is None
    assert next_move(accept, frames, waited_s=5.0, roll=0.9) is Command.ACCEPT
    assert next_move(accept, frames, waited_s=5.0, roll=0.1) is Command.REJECT
    assert next_move(ship, frames, waited_s=5.0, roll=0.1) is Command.SHIP  # only accept rejects
    assert next_move(receipt, frames, waited_s=60, roll=0.0) is Command.RECEIPT
    assert next_move(accept, worker_for(settings, "PAINTSHOP"), waited_s=60, roll=0.9) is None
    never = worker_for(_settings(departments="{}"), "WHEELS")
    assert next_move(accept, never, waited_s=60, roll=0.0) is Command.ACCEPT  # probability 0
    assert start.by == "supplier" and receipt.by == "requester"
