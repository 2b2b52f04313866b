"""The live histograms of the time split: an order's wait observed when its supplier starts
work (WorkStarted), its work when it ships (OrderShipped), with the trace as exemplar.

Only the live sink observes: a replay rebuilds state and must not count the same orders again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import asyncpg
from prometheus_client import Histogram
from supplychain_contracts import Envelope, OrderPlaced, OrderShipped, WorkStarted
from supplychain_kit.messaging.effects import after_commit

from monitoring import metrics
from monitoring.analytics import store
from monitoring.analytics.time_split import Category, segments
from monitoring.timeline.traced import Traced

# event that ends a part of the order's time → the part and its histogram
OBSERVED: dict[type[Envelope], tuple[Category, Histogram]] = {
    WorkStarted: (Category.WAITING, metrics.HANDOFF_WAIT),
    OrderShipped: (Category.WORKING, metrics.HANDOFF_WORK),
}


async def observe_wait_and_work(conn: asyncpg.Connection, events: Sequence[Traced]) -> None:
    """Observe the wait or the work each event ends, once the transaction commits (the events
    must already be recorded; an order whose placement was not seen yet is skipped). One
    read of the orders' milestones for all the events, whatever their number."""
    observed = [traced for traced in events if type(traced.event) in OBSERVED]
    if not observed:
        return
    orders = await store.orders_facts(conn, sorted({t.event.order_id for t in observed}))
    for traced in observed:
        event = traced.event
        order = orders.get(event.order_id)
        if order is None or not order.first(OrderPlaced.__name__):
            continue
        category, histogram = OBSERVED[type(event)]
        seconds = sum(
            piece.seconds
            for piece in segments(order, now=event.occurred_at)
            if piece.category is category and piece.end <= event.occurred_at
        )
        trace_id = traced.trace_id or order.trace_id
        exemplar = {"trace_id": trace_id} if trace_id else None
        child = histogram.labels(supplier=order.supplier, requester=order.requester)
        after_commit(functools.partial(child.observe, seconds, exemplar=exemplar))
