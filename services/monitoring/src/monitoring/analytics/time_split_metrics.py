"""The live histograms of the time split: an order's wait observed when its supplier starts
work (WorkStarted), its work when it ships (OrderShipped), with the trace as exemplar.

Only the live sink observes: a replay rebuilds state and must not count the same orders again.
"""

from __future__ import annotations

import asyncpg
from prometheus_client import Histogram
from supplychain_contracts import Envelope, OrderPlaced, OrderShipped, WorkStarted
from supplychain_kit import metrics
from supplychain_kit.effects import after_commit
from supplychain_kit.telemetry import current_trace_id

from monitoring.analytics import store
from monitoring.analytics.time_split import Category, segments

# event that ends a part of the order's time → the part and its histogram
OBSERVED: dict[type[Envelope], tuple[Category, Histogram]] = {
    WorkStarted: (Category.WAITING, metrics.HANDOFF_WAIT),
    OrderShipped: (Category.WORKING, metrics.HANDOFF_WORK),
}


async def observe_wait_and_work(conn: asyncpg.Connection, event: Envelope) -> None:
    """Observe the wait or the work the event ends, once the transaction commits (the event
    must already be recorded; an order whose placement was not seen yet is skipped)."""
    observed = OBSERVED.get(type(event))
    if observed is None:
        return
    order = await store.order_facts(conn, event.order_id)
    if order is None or not order.first(OrderPlaced.__name__):
        return
    category, histogram = observed
    seconds = sum(
        piece.seconds
        for piece in segments(order, now=event.occurred_at)
        if piece.category is category and piece.end <= event.occurred_at
    )
    trace_id = current_trace_id() or order.trace_id
    exemplar = {"trace_id": trace_id} if trace_id else None
    child = histogram.labels(supplier=order.supplier, requester=order.requester)
    after_commit(lambda: child.observe(seconds, exemplar=exemplar))
