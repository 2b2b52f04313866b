"""Carry out a supplier's or requester's command: one transaction, state + outbox."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from opentelemetry.trace import Link, SpanKind, get_current_span
from supplychain_contracts.envelope import Envelope
from supplychain_kit import outbox
from supplychain_kit.telemetry import continue_trace, set_order_attributes

from fulfilment import domain, store
from fulfilment.domain import Command, WorkStatus


class UnknownOrder(Exception):
    pass


async def execute(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    command: Command,
    schema: str,
    reason: str | None = None,
    department: str | None = None,
) -> tuple[WorkStatus, Envelope]:
    """Apply `command` to the order, given by `department` (None: the autopilot).

    Raises UnknownOrder, domain.NotYourOrder or domain.IllegalTransition.
    """
    found = await store.lock_item(conn, order_id)
    if found is None:
        raise UnknownOrder(order_id)
    item, order_trace = found
    if department is not None:
        if department not in (item.supplier, item.requester):
            raise UnknownOrder(order_id)  # another department's order is not even visible
        owner = domain.who_commands(item, command)
        if department != owner:
            raise domain.NotYourOrder(f"only {owner} can {command.value} this order")
    # The command joins the order's trace (one trace per root order), linked to the caller's.
    caller = get_current_span().get_span_context()
    with continue_trace(
        f"fulfilment {command.value}",
        order_trace,
        kind=SpanKind.INTERNAL,
        links=[Link(caller)] if caller.is_valid else None,
    ) as span:
        status, event = domain.decide(item, command, reason=reason)
        set_order_attributes(span, event)
        await store.set_status(conn, order_id, status, event_id=event.event_id, reason=reason)
        await outbox.append(conn, [event], schema=schema)
    return status, event
