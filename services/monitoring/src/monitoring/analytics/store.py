"""SQL of the handoff analytics: orders with the events that mark their time, and the
calendars departments count in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from monitoring.analytics.time_split import (
    MILESTONES,
    PAYLOAD_READ,
    CalendarOf,
    OrderFacts,
    RecordedEvent,
    general_calendar,
)
from monitoring.reference import store as reference_store

# the payload only of the events whose payload the split reads (parsing every event's was a
# sixth of a month's scorecards)
_FACTS = """SELECT o.order_id, o.root_order_id, o.parent_order_id, o.supplier, o.requester,
                   o.trace_id, e.event_type, e.occurred_at,
                   CASE WHEN e.event_type IN ({payload_read}) THEN e.payload::text END AS payload
            FROM {orders} o
            LEFT JOIN handoff_events e
                   ON e.order_id = o.order_id AND e.event_type = ANY($1::text[])
            ORDER BY o.order_id, e.occurred_at""".replace(
    "{payload_read}", ", ".join(f"'{name}'" for name in PAYLOAD_READ)
)


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


async def orders_facts(
    conn: asyncpg.Connection, order_ids: Sequence[UUID]
) -> dict[UUID, OrderFacts]:
    """These orders alone (the live histograms need nothing of their sub-orders)."""
    rows = await conn.fetch(
        "WITH listed AS (SELECT * FROM orders WHERE order_id = ANY($2::uuid[]))"
        + _FACTS.format(orders="listed"),
        list(MILESTONES),
        list(order_ids),
    )
    return _facts(rows)


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
    return general_calendar(
        await reference_store.policy_versions(conn), await reference_store.calendar_versions(conn)
    )


# --- scorecards ----------------------------------------------------------------------------


async def orders_handled(
    conn: asyncpg.Connection, *, start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT supplier, count(*) AS n FROM orders
           WHERE placed_at >= $1 AND placed_at < $2 GROUP BY supplier""",
        start,
        end,
    )
    return {row["supplier"]: row["n"] for row in rows}


async def stage_outcomes(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, now: datetime
) -> list[asyncpg.Record]:
    """Per supplier and stage, of the timed stages started in the period, as
    `sla.rules.stage_status` judges them: met (by its own ending event, in time: a retracted
    breach among them, also counted in `breaches_retracted`), breached (closed late, or still
    running past the deadline), or closed with its order's outcome (rejected, cancelled,
    blocked) unless a breach raised while it ran stands (it ended after the deadline)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """WITH judged AS (
               SELECT supplier, stage, ended_at, deadline, breach_retracted_at,
                      CASE WHEN ended_at IS NULL THEN
                                CASE WHEN deadline <= $3 THEN 'breached' END
                           WHEN outcome IS NOT NULL
                                AND NOT (ended_at > deadline AND breach_raised_at IS NOT NULL)
                                THEN outcome
                           WHEN ended_at > deadline THEN 'breached'
                           ELSE 'met' END AS status
               FROM stages
               WHERE deadline IS NOT NULL AND started_at >= $1 AND started_at < $2)
           SELECT supplier, stage,
                  count(*) FILTER (WHERE status = 'met') AS met,
                  count(*) FILTER (WHERE status = 'breached') AS breached,
                  count(*) FILTER (WHERE status = 'rejected') AS rejected,
                  count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                  count(*) FILTER (WHERE status = 'blocked') AS blocked,
                  count(*) FILTER (WHERE breach_retracted_at IS NOT NULL) AS breaches_retracted
           FROM judged
           GROUP BY supplier, stage""",
        start,
        end,
        now,
    )
    return rows


async def event_counts(
    conn: asyncpg.Connection, *, event_type: str, start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT supplier, count(*) AS n FROM handoff_events
           WHERE event_type = $1 AND occurred_at >= $2 AND occurred_at < $3
           GROUP BY supplier""",
        event_type,
        start,
        end,
    )
    return {row["supplier"]: row["n"] for row in rows}


async def satisfaction(
    conn: asyncpg.Connection, *, start: datetime, end: datetime
) -> dict[str, tuple[float, int]]:
    """Average rating and number of ratings per supplier."""
    rows = await conn.fetch(
        """SELECT supplier, avg(rating)::float8 AS average, count(*) AS n FROM feedback
           WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY supplier""",
        start,
        end,
    )
    return {row["supplier"]: (row["average"], row["n"]) for row in rows}
