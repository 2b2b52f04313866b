"""The bottleneck ranking on a synthetic month: ten bikes RETAIL_OPS buys of ASSEMBLY, each
waiting on a frame (FRAMES queues for hours) and wheels (WHEELS is quick, but once) bought in
parallel. Only the sub-order that arrived last counts: parallel time is never summed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from monitoring.analytics.bottlenecks import rank
from monitoring.analytics.time_split import Category, OrderFacts, RecordedEvent, chain_segments

MONTH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H, M = 3600.0, 60.0


def facts(
    order_id: uuid.UUID,
    root: uuid.UUID,
    supplier: str,
    requester: str,
    events: list[tuple[str, datetime]],
    payload: dict[str, object] | None = None,
) -> OrderFacts:
    return OrderFacts(
        order_id=order_id,
        root_order_id=root,
        parent_order_id=None if order_id == root else root,
        supplier=supplier,
        requester=requester,
        trace_id=f"trace-{root.hex[:8]}",
        events=tuple(
            RecordedEvent(kind, at, payload if kind == "ComponentsRequested" and payload else {})
            for kind, at in events
        ),
    )


def sub_order(
    root: uuid.UUID, supplier: str, placed: datetime, queue: timedelta, work: timedelta
) -> OrderFacts:
    started = placed + queue
    return facts(
        uuid.uuid4(),
        root,
        supplier,
        "ASSEMBLY",
        [
            ("OrderPlaced", placed),
            ("OrderAccepted", placed),
            ("WorkStarted", started),
            ("OrderShipped", started + work),
            ("OrderDelivered", started + work),  # ASSEMBLY confirms at once
        ],
    )


def bike(day: int) -> tuple[uuid.UUID, dict[uuid.UUID, OrderFacts]]:
    """Day `day` of the month: FRAMES queues 3 h + 10 min a day; WHEELS 10 min (6 h on day 0)."""
    root_id = uuid.uuid4()
    t0 = MONTH + timedelta(days=day)
    requested = t0 + timedelta(minutes=5)
    frame = sub_order(
        root_id, "FRAMES", requested, timedelta(hours=3, minutes=10 * day), timedelta(hours=1)
    )
    wheels = sub_order(
        root_id,
        "WHEELS",
        requested,
        timedelta(hours=6 if day == 0 else 0, minutes=10),
        timedelta(minutes=10),
    )
    received = max(o.events[-1].occurred_at for o in (frame, wheels))
    root = facts(
        root_id,
        root_id,
        "ASSEMBLY",
        "RETAIL_OPS",
        [
            ("OrderPlaced", t0),
            ("OrderAccepted", requested),
            ("ComponentsRequested", requested),
            ("WorkStarted", requested + timedelta(minutes=5)),
            ("ComponentsReceived", received),
            ("OrderShipped", received + timedelta(hours=1)),
            ("OrderDelivered", received + timedelta(hours=2)),  # an hour with RETAIL_OPS
        ],
        {"components": [{"order_id": str(frame.order_id)}, {"order_id": str(wheels.order_id)}]},
    )
    return root_id, {o.order_id: o for o in (root, frame, wheels)}


def test_pairs_and_stages_ranked_by_the_waiting_they_add_on_the_critical_path() -> None:
    chains = []
    worst_roots = []
    for day in range(10):
        root_id, orders = bike(day)
        chains.append(chain_segments(root_id, orders, now=MONTH + timedelta(days=40)))
        worst_roots.append(root_id)

    ranking = rank(chains)

    assert ranking.root_orders == 10
    pairs = {(b.key, b.roots, b.waiting_seconds) for b in ranking.pairs}
    assert [b.key for b in ranking.pairs] == [
        ("ASSEMBLY", "FRAMES"),
        ("RETAIL_OPS", "ASSEMBLY"),
        ("ASSEMBLY", "WHEELS"),
    ], pairs
    frames, assembly, wheels = ranking.pairs
    # days 1-9: FRAMES arrived last, queueing 3 h + 10 min a day
    assert frames.roots == 9
    assert frames.waiting_seconds == sum(3 * H + 10 * M * day for day in range(1, 10))
    assert frames.seconds[Category.WORKING] == 9 * H
    # the wheels counted only on day 0, when they came last; their 10 minutes on the other
    # days ran in parallel with the frame and add nothing
    assert (wheels.roots, wheels.waiting_seconds) == (1, 6 * H + 10 * M)
    # ASSEMBLY's own 5 minutes before accepting and RETAIL_OPS' hour confirming receipt
    assert assembly.waiting_seconds == 10 * (5 * M + H)
    assert assembly.seconds[Category.BLOCKED] == 0  # every blocked minute is explained upstream
    # the worst examples first, with their trace
    assert [e.root_order_id for e in frames.examples] == worst_roots[9:6:-1]
    assert frames.examples[0].trace_id == f"trace-{worst_roots[9].hex[:8]}"
    assert frames.examples[0].waiting_seconds == 3 * H + 90 * M

    assert [b.key for b in ranking.stages] == [("fulfilment",), ("delivery",), ("acceptance",)]
    fulfilment, delivery, acceptance = ranking.stages
    assert fulfilment.waiting_seconds == frames.waiting_seconds + wheels.waiting_seconds
    assert delivery.waiting_seconds == 10 * H
    assert acceptance.waiting_seconds == 10 * 5 * M
    assert ranking.lead_time_seconds == sum(sum(p.seconds for p in chain) for chain in chains)


def test_nothing_delivered_ranks_nothing() -> None:
    ranking = rank([])
    assert (ranking.root_orders, ranking.pairs, ranking.stages) == (0, [], [])
