"""SQL of the handoff analytics: orders with the events that mark their time, and the
calendars departments count in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from monitoring import store
from monitoring.time_split import (
    MILESTONES,
    CalendarOf,
    OrderFacts,
    RecordedEvent,
    general_calendar,
)

_FACTS = """SELECT o.order_id, o.root_order_id, o.parent_order_id, o.supplier, o.requester,
                   o.trace_id, e.event_type, e.occurred_at, e.payload::text AS payload
            FROM {orders} o
            LEFT JOIN handoff_events e
                   ON e.order_id = o.order_id AND e.event_type = ANY($1::text[])
            ORDER BY o.order_id, e.occurred_at"""


def _facts(rows: Sequence[asyncpg.Record]) -> dict[UUID, OrderFacts]:
    orders: dict[UUID, OrderFacts] = {}
    events: dict[UUID, list[RecordedEvent]] = {}
    for row in rows:
        order_id = row["order_id"]
        if order_id not in orders:
            orders[order_id] = OrderFacts(
                order_id=order_id,
                root_order_id=row["root_order_id"],
                parent_order_id=row["parent_order_id"],
                supplier=row["supplier"],
                requester=row["requester"],
                trace_id=row["trace_id"],
                events=(),
            )
            events[order_id] = []
        if row["event_type"] is not None:
            payload: dict[str, Any] = json.loads(row["payload"]) if row["payload"] else {}
            events[order_id].append(RecordedEvent(row["event_type"], row["occurred_at"], payload))
    return {
        order_id: OrderFacts(**{**vars(order), "events": tuple(events[order_id])})
        for order_id, order in orders.items()
    }


async def chain_facts(conn: asyncpg.Connection, order_id: UUID) -> dict[UUID, OrderFacts]:
    """The order and every order of its sub-order tree."""
    rows = await conn.fetch(
        "WITH RECURSIVE tree AS ("
        "    SELECT * FROM orders WHERE order_id = $2"
        "    UNION ALL"
        "    SELECT o.* FROM orders o JOIN tree t ON o.parent_order_id = t.order_id)"
        + _FACTS.format(orders="tree"),
        list(MILESTONES),
        order_id,
    )
    return _facts(rows)


async def order_facts(conn: asyncpg.Connection, order_id: UUID) -> OrderFacts | None:
    """One order alone (the live histograms need nothing of its sub-orders)."""
    rows = await conn.fetch(
        "WITH one AS (SELECT * FROM orders WHERE order_id = $2)" + _FACTS.format(orders="one"),
        list(MILESTONES),
        order_id,
    )
    return _facts(rows).get(order_id)


async def chains_delivered(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, roots_only: bool
) -> dict[UUID, OrderFacts]:
    """Every order of the chains in which an order (or only the root, `roots_only`) was
    delivered in [start, end)."""
    rows = await conn.fetch(
        "WITH chains AS ("
        "    SELECT * FROM orders WHERE root_order_id IN ("
        "        SELECT root_order_id FROM handoff_events"
        "        WHERE event_type = 'OrderDelivered' AND occurred_at >= $2 AND occurred_at < $3"
        "          AND (NOT $4 OR order_id = root_order_id)))" + _FACTS.format(orders="chains"),
        list(MILESTONES),
        start,
        end,
        roots_only,
    )
    return _facts(rows)


async def calendars(conn: asyncpg.Connection) -> CalendarOf:
    """The calendar each department's own policies count in, at any time."""
    return general_calendar(await store.policy_versions(conn), await store.calendar_versions(conn))
