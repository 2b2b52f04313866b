"""Where the time of a handoff goes: a chain with a blocked parent, a pause and a weekend in
the supplier's calendar, split per stage, in wall and business seconds, and rolled up along
the critical path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring.analytics.time_split import (
    ALWAYS,
    Category,
    OrderFacts,
    RecordedEvent,
    chain_segments,
    critical_path,
    split,
    stage_splits,
)
from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar

FRIDAY = datetime(2026, 3, 6, tzinfo=UTC)  # a Friday; the weekend follows
MONDAY = FRIDAY + timedelta(days=3)
OFFICE = BusinessCalendar(working_days=(0, 1, 2, 3, 4), start_hour=9, end_hour=17)
H, M = 3600.0, 60.0


def calendar_of(department: str, at: datetime) -> BusinessCalendar:
    """ASSEMBLY works Monday to Friday 9-17 UTC; everybody else around the clock."""
    return OFFICE if department == "ASSEMBLY" else ALWAYS


def at(day: datetime, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return day + timedelta(hours=hours, minutes=minutes)


def order(
    supplier: str,
    requester: str,
    *events: tuple[str, datetime] | tuple[str, datetime, dict[str, Any]],
    order_id: uuid.UUID | None = None,
    root: uuid.UUID | None = None,
    parent: uuid.UUID | None = None,
) -> OrderFacts:
    order_id = order_id or uuid.uuid4()
    return OrderFacts(
        order_id=order_id,
        root_order_id=root or order_id,
        parent_order_id=parent,
        supplier=supplier,
        requester=requester,
        trace_id=f"trace-{order_id.hex[:6]}",
        events=tuple(RecordedEvent(e[0], e[1], e[2] if len(e) == 3 else {}) for e in events),  # type: ignore[misc]
    )


def seconds(values: dict[Category, float]) -> dict[str, float]:
    return {category.value: round(value, 3) for category, value in values.items() if value}


def chain() -> tuple[OrderFacts, OrderFacts]:
    """RETAIL_OPS buys a bike of ASSEMBLY on Friday afternoon; ASSEMBLY waits on a frame from
    FRAMES over the weekend, asks RETAIL_OPS a question on Monday, ships at noon."""
    root_id, frame_id, help_id = uuid.uuid4(), uuid.uuid4(), str(uuid.uuid4())
    root = order(
        "ASSEMBLY",
        "RETAIL_OPS",
        ("OrderPlaced", at(FRIDAY, "16:00")),
        ("OrderAccepted", at(FRIDAY, "16:10")),
        ("ComponentsRequested", at(FRIDAY, "16:10"), {"components": [{"order_id": str(frame_id)}]}),
        ("WorkStarted", at(FRIDAY, "16:30")),
        ("ComponentsReceived", at(MONDAY, "08:30")),
        ("HelpAwaitingRequester", at(MONDAY, "10:00"), {"help_event_id": help_id}),
        ("HelpAnswered", at(MONDAY, "11:00"), {"help_event_id": help_id}),
        ("OrderShipped", at(MONDAY, "12:00")),
        ("OrderDelivered", at(MONDAY, "13:00")),
        ("InvoiceIssued", at(MONDAY, "13:05")),
        order_id=root_id,
    )
    frame = order(
        "FRAMES",
        "ASSEMBLY",
        ("OrderPlaced", at(FRIDAY, "16:10")),
        ("OrderAccepted", at(FRIDAY, "16:20")),
        ("WorkStarted", at(FRIDAY, "16:40")),
        ("OrderShipped", at(FRIDAY + timedelta(days=1), "10:00")),
        ("OrderDelivered", at(MONDAY, "08:00")),  # ASSEMBLY confirms receipt before opening
        order_id=frame_id,
        root=root_id,
        parent=root_id,
    )
    return root, frame


def test_an_orders_own_time_splits_per_stage_without_overlap() -> None:
    root, frame = chain()
    orders = {root.order_id: root, frame.order_id: frame}
    splits = stage_splits(root.order_id, {root.order_id: root}, now=MONDAY, calendar_of=calendar_of)
    acceptance, fulfilment = splits[Stage.ACCEPTANCE], splits[Stage.FULFILMENT]
    assert seconds(dict(acceptance.wall)) == {"waiting": 10 * M}
    # blocked from the request (at acceptance, before work started) to ComponentsReceived
    assert seconds(dict(fulfilment.wall)) == {
        "blocked": 64 * H + 20 * M,
        "working": 2.5 * H,
        "paused": 1 * H,
    }
    # ASSEMBLY's week: Friday 16:10-17:00 blocked, nothing at the weekend, Monday from 9
    assert seconds(dict(fulfilment.business)) == {"blocked": 50 * M, "working": 2 * H, "paused": H}
    assert seconds(dict(splits[Stage.DELIVERY].wall)) == {"with_requester": H}
    assert seconds(dict(splits[Stage.DELIVERY].business)) == {"with_requester": H}  # 24x7
    assert seconds(dict(splits[Stage.INVOICING].wall)) == {"working": 5 * M}
    assert not any(s.open for s in splits.values())

    # the parent alone (its sub-order unknown) keeps its blocked time: wall time placed → delivered
    alone = splits[Stage.END_TO_END]
    assert alone.total_wall == (at(MONDAY, "13:00") - at(FRIDAY, "16:00")).total_seconds()
    assert alone.wall[Category.BLOCKED] == 64 * H + 20 * M
    assert alone.critical_path == (root.order_id,)
    assert len(orders) == 2


def test_the_chain_rolls_up_along_the_sub_order_that_arrived_last() -> None:
    root, frame = chain()
    orders = {root.order_id: root, frame.order_id: frame}
    rolled = stage_splits(
        root.order_id, orders, now=MONDAY + timedelta(days=1), calendar_of=calendar_of
    )[Stage.END_TO_END]
    assert seconds(dict(rolled.wall)) == {
        "waiting": 10 * M + 30 * M,  # ASSEMBLY 10 min, FRAMES 30 min before starting
        "working": 17 * H
        + 20 * M
        + 2.5 * H,  # FRAMES Friday 16:40 to Saturday 10:00, then ASSEMBLY
        "blocked": 30
        * M,  # received Monday 08:00, ComponentsReceived 08:30: no sub-order explains it
        "with_requester": 46 * H
        + H,  # ASSEMBLY confirms the frame Monday 08:00; RETAIL_OPS the bike
        "paused": H,
    }
    assert rolled.total_wall == 69 * H
    # the frame's weekend with ASSEMBLY (the requester) counts nothing in ASSEMBLY's week
    assert seconds(dict(rolled.business)) == {
        "waiting": 40 * M,
        "working": 17 * H + 20 * M + 2 * H,
        "with_requester": H,
        "paused": H,
    }
    assert rolled.critical_path == (root.order_id, frame.order_id)


def test_parallel_sub_orders_count_once_along_the_last_to_arrive() -> None:
    root_id, fast_id, slow_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    t0 = at(MONDAY, "09:00")
    root = order(
        "ASSEMBLY",
        "RETAIL_OPS",
        ("OrderPlaced", t0),
        ("OrderAccepted", t0),
        (
            "ComponentsRequested",
            t0,
            {"components": [{"order_id": str(fast_id)}, {"order_id": str(slow_id)}]},
        ),
        ("ComponentsReceived", t0 + timedelta(hours=5)),
        order_id=root_id,
    )

    def sub(order_id: uuid.UUID, supplier: str, hours: float) -> OrderFacts:
        return order(
            supplier,
            "ASSEMBLY",
            ("OrderPlaced", t0),
            ("WorkStarted", t0 + timedelta(hours=hours / 2)),
            ("OrderShipped", t0 + timedelta(hours=hours)),
            ("OrderDelivered", t0 + timedelta(hours=hours)),
            order_id=order_id,
            root=root_id,
        )  # no parent recorded: ComponentsRequested names them

    orders = {root_id: root, fast_id: sub(fast_id, "WHEELS", 2), slow_id: sub(slow_id, "FRAMES", 4)}
    now = t0 + timedelta(hours=6)
    rolled = chain_segments(root_id, orders, now=now)
    assert {(s.supplier, s.category.value) for s in rolled} == {
        ("FRAMES", "waiting"),
        ("FRAMES", "working"),
        ("ASSEMBLY", "blocked"),
        ("ASSEMBLY", "waiting"),  # received, not started yet
    }
    result = split(rolled, calendar_of, open=True)
    # FRAMES waits 2 h and works 2 h; 1 h until ComponentsReceived; ASSEMBLY has not started
    assert seconds(dict(result.wall)) == {"waiting": 3 * H, "working": 2 * H, "blocked": H}
    assert critical_path(root_id, orders, now=now) == (root_id, slow_id)


def test_an_open_order_runs_to_now_and_an_unanswered_pause_stays_open() -> None:
    t0 = at(MONDAY, "09:00")
    open_order = order(
        "WHEELS",
        "ASSEMBLY",
        ("OrderPlaced", t0),
        ("OrderAccepted", t0 + timedelta(minutes=5)),
        ("HelpAwaitingRequester", t0 + timedelta(minutes=20), {"help_event_id": "h"}),
    )
    now = t0 + timedelta(hours=1)
    splits = stage_splits(
        open_order.order_id, {open_order.order_id: open_order}, now=now, calendar_of=calendar_of
    )
    assert splits[Stage.FULFILMENT].open and splits[Stage.END_TO_END].open
    assert not splits[Stage.ACCEPTANCE].open
    assert seconds(dict(splits[Stage.END_TO_END].wall)) == {"waiting": 20 * M, "paused": 40 * M}


def test_events_in_any_arrival_order_give_the_same_split() -> None:
    root, frame = chain()
    shuffled = OrderFacts(**{**vars(root), "events": tuple(reversed(root.events))})
    now = MONDAY + timedelta(days=1)
    straight = stage_splits(
        root.order_id,
        {root.order_id: root, frame.order_id: frame},
        now=now,
        calendar_of=calendar_of,
    )
    reordered = stage_splits(
        root.order_id,
        {root.order_id: shuffled, frame.order_id: frame},
        now=now,
        calendar_of=calendar_of,
    )
    assert straight == reordered


def test_cancelled_work_ends_the_order_and_a_request_or_a_refusal_ends_nothing() -> None:
    t0 = at(MONDAY, "09:00")
    placed = (("OrderPlaced", t0), ("OrderAccepted", t0 + timedelta(minutes=5)))
    requested = ("OrderCancelled", t0 + timedelta(minutes=10))
    now = t0 + timedelta(hours=1)

    def splits(*events: tuple[str, datetime]) -> dict[Stage, Any]:
        facts = order("WHEELS", "ASSEMBLY", *placed, *events)
        return stage_splits(
            facts.order_id, {facts.order_id: facts}, now=now, calendar_of=calendar_of
        )

    cancelled = splits(requested, ("WorkCancelled", t0 + timedelta(minutes=12)))
    assert not cancelled[Stage.FULFILMENT].open and not cancelled[Stage.END_TO_END].open
    assert cancelled[Stage.END_TO_END].total_wall == 12 * M
    for still_running in (
        splits(requested),
        splits(requested, ("CancellationRefused", t0 + timedelta(minutes=12))),
    ):
        assert still_running[Stage.FULFILMENT].open and still_running[Stage.END_TO_END].open
        assert still_running[Stage.END_TO_END].total_wall == H
