"""Carry out a supplier's or requester's command: one transaction, state + outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from supplychain_contracts import ComponentsRequested, OrderPlaced
from supplychain_contracts.business_time import most_specific_policy
from supplychain_contracts.envelope import Envelope
from supplychain_kit.messaging import outbox
from supplychain_kit.telemetry import join_trace, set_order_attributes

from fulfilment import chain, domain, progress, receipt_window, store, work_signal
from fulfilment.domain import Command, ConfirmedBy, WorkItem, WorkStatus


class UnknownOrder(Exception):
    pass


class UnknownHelpRequest(LookupError):
    """No help request with that id on that order."""

    def __init__(self, order_id: UUID, help_event_id: UUID) -> None:
        super().__init__(f"no help request {help_event_id} on order {order_id}")
        self.help_event_id = help_event_id


@dataclass(frozen=True)
class Outcome:
    status: WorkStatus
    event: Envelope  # the event the command is named after
    sub_orders: tuple[domain.SubOrder, ...] = ()


def _requester(item: WorkItem) -> str:
    return item.requester


def _supplier(item: WorkItem) -> str:
    return item.supplier


async def _load(
    conn: asyncpg.Connection,
    order_id: UUID,
    *,
    department: str | None,
    owner: Callable[[WorkItem], str],
    action: str,
) -> tuple[WorkItem, dict[str, str]]:
    """The locked work item and its trace, if `department` (None: the autopilot) owes `action`."""
    locked = await store.lock_item(conn, order_id)
    if locked is None:
        raise UnknownOrder(order_id)
    item = locked.item
    if department is not None:
        if department not in (item.supplier, item.requester):
            raise UnknownOrder(order_id)  # another department's order is not even visible
        if department != owner(item):
            raise domain.NotYourOrder(f"only {owner(item)} can {action} this order")
    return item, locked.trace_headers


async def execute(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    command: Command,
    reason: str | None = None,
    department: str | None = None,
    confirmed_by: ConfirmedBy = "requester",
) -> Outcome:
    """Apply `command` to the order, given by `department` (None: the autopilot, or the
    auto-receipt with `confirmed_by="auto"`).

    Accepting an order made from components raises its sub-orders in the same transaction
    (or blocks the order when a pair of currencies has no rate). Shipping schedules the
    auto-receipt. A sub-order's new state moves its record on the parent in the same
    transaction (see progress: this item is locked first, then its parent's). Raises
    UnknownOrder, domain.NotYourOrder, domain.IllegalTransition, or (accepting an order whose
    reference data has not reached fulfilment yet) chain.ReferenceNotKnownYet.
    """
    item, order_trace = await _load(
        conn,
        order_id,
        department=department,
        owner=lambda it: domain.who_commands(it, command),
        action=command.value,
    )
    with join_trace(f"fulfilment {command.value}", order_trace) as span:
        sub_orders = await store.sub_orders_of(conn, order_id) if command is Command.SHIP else []
        status, event = domain.decide(
            item, command, reason=reason, sub_orders=sub_orders, confirmed_by=confirmed_by
        )
        set_order_attributes(span, event)
        events: list[Envelope] = [event]
        last_event_id = event.event_id
        reporting = event  # what the order's parent, if it is a sub-order, records of it
        raised: tuple[domain.SubOrder, ...] = ()
        if command is Command.ACCEPT:
            try:
                chained = await _raise_sub_orders(conn, item, cause=event)
            except chain.MissingFxRate as missing:
                blocked = chain.blocked_by_missing_rate(item, missing, cause_id=event.event_id)
                events.append(blocked)
                status, last_event_id, reason = WorkStatus.BLOCKED, blocked.event_id, blocked.reason
                reporting = blocked
            else:
                if chained is not None:
                    requested, placed, raised = chained
                    events += [requested, *placed]
                    last_event_id = requested.event_id
                    await store.add_sub_orders(conn, raised)
        if command is Command.SHIP:
            await _schedule_auto_receipt(conn, item, shipped_at=event.occurred_at)
        await store.set_status(conn, order_id, status, event_id=last_event_id, reason=reason)
        work_signal.work_changed()
        await outbox.append(conn, events)
        await progress.record(conn, chain.reported(reporting, status))
    return Outcome(status=status, event=event, sub_orders=raised)


async def _raise_sub_orders(
    conn: asyncpg.Connection, item: WorkItem, *, cause: Envelope
) -> tuple[ComponentsRequested, tuple[OrderPlaced, ...], tuple[domain.SubOrder, ...]] | None:
    """The sub-orders of an order made from components, priced in their suppliers' currencies
    (see chain.raise_sub_orders); None when nothing ordered has components."""
    catalogue = await store.catalogue(conn)
    if not chain.explode(item.lines, catalogue):
        return None  # nothing to price: no reference read
    currencies = chain.Currencies(
        of_department=await store.currencies_of(conn),
        rates=await store.fx_rates(conn),
        day=cause.occurred_at.date(),
    )
    return chain.raise_sub_orders(
        item, cause_id=cause.event_id, catalogue=catalogue, currencies=currencies
    )


async def _schedule_auto_receipt(
    conn: asyncpg.Connection, item: WorkItem, *, shipped_at: datetime
) -> None:
    """When the delivery is confirmed for the requester unless it confirms first: the window
    of the policy in force at shipment, counted in its calendar."""
    policy = most_specific_policy(
        await store.sla_policies_in_force(conn, shipped_at),
        supplier=item.supplier,
        requester=item.requester,
        priority=item.priority.value,
        policy_of=lambda policy: policy,
    )
    named = None
    if policy is not None and policy.calendar_code is not None:
        named = await store.calendar(conn, policy.calendar_code)
    due = receipt_window.due_at(shipped_at, policy, named)
    await store.set_shipped(conn, item.order_id, shipped_at=shipped_at, auto_receipt_due_at=due)
    work_signal.receipt_due.changed()


async def give_feedback(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    department: str,
    rating: int,
    comment: str,
) -> Envelope:
    """The requester rates a delivered order, once (FeedbackAlreadyGiven the second time)."""
    item, order_trace = await _load(
        conn, order_id, department=department, owner=_requester, action="give feedback on"
    )
    with join_trace("fulfilment feedback", order_trace) as span:
        event = domain.give_feedback(
            item,
            rating=rating,
            comment=comment,
            already_given=await store.feedback_given(conn, order_id),
        )
        set_order_attributes(span, event)
        await store.save_feedback(
            conn, order_id=order_id, rating=rating, comment=comment, event_id=event.event_id
        )
        await outbox.append(conn, [event])
    return event


async def request_help(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    department: str,
    subject: str,
    message: str,
) -> Envelope:
    """The requester asks the supplier for help on an open order."""
    item, order_trace = await _load(
        conn, order_id, department=department, owner=_requester, action="ask for help on"
    )
    with join_trace("fulfilment help", order_trace) as span:
        event = domain.request_help(item, subject=subject, message=message)
        set_order_attributes(span, event)
        await store.save_help_request(
            conn, order_id=order_id, subject=subject, message=message, event_id=event.event_id
        )
        await outbox.append(conn, [event])
    return event


async def ask_requester(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    help_event_id: UUID,
    department: str,
    question: str,
) -> Envelope:
    """The supplier puts a help request back to the requester with a question."""

    def step(item: WorkItem, request: domain.HelpRequest) -> domain.HelpStep:
        return domain.ask_requester(item, request, question=question)

    return await _move_help(
        conn,
        order_id=order_id,
        help_event_id=help_event_id,
        department=department,
        owner=_supplier,
        action="ask the requester about help on",
        step=step,
        text=question,
        span_name="help awaiting requester",
    )


async def answer_help(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    help_event_id: UUID,
    department: str,
    answer: str,
) -> Envelope:
    """The requester answers the supplier's question on a help request."""

    def step(item: WorkItem, request: domain.HelpRequest) -> domain.HelpStep:
        return domain.answer_help(item, request, answer=answer)

    return await _move_help(
        conn,
        order_id=order_id,
        help_event_id=help_event_id,
        department=department,
        owner=_requester,
        action="answer help on",
        step=step,
        text=answer,
        span_name="help answer",
    )


async def _move_help(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    help_event_id: UUID,
    department: str,
    owner: Callable[[WorkItem], str],
    action: str,
    step: Callable[[WorkItem, domain.HelpRequest], domain.HelpStep],
    text: str,
    span_name: str,
) -> Envelope:
    """One step of a help request by the party that owes it: the order, then the request
    locked (the order's lock first, as every command takes it); state, history and event in
    the caller's transaction. Raises UnknownOrder, domain.NotYourOrder, UnknownHelpRequest,
    domain.IllegalTransition (the order) or domain.IllegalHelpTransition (the request)."""
    item, order_trace = await _load(
        conn, order_id, department=department, owner=owner, action=action
    )
    request = await store.lock_help_request(conn, order_id=order_id, help_event_id=help_event_id)
    if request is None:
        raise UnknownHelpRequest(order_id, help_event_id)
    with join_trace(f"fulfilment {span_name}", order_trace) as span:
        moved = step(item, request)
        set_order_attributes(span, moved.event)
        await store.save_help_step(conn, request, moved, department=department, text=text)
        await outbox.append(conn, [moved.event])
    return moved.event
