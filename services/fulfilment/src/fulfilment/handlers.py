"""Consumed events: orders placed with a supplier department and requests to cancel them
(which the supplier settles here), the fulfilment events of the sub-orders this service
raised for components, and the reference data it keeps copies of: the catalogue, legal
entities, departments and exchange rates (order intake's), SLA policies and business
calendars (monitoring's)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
from supplychain_contracts import (
    CancellationRefused,
    Envelope,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    follow_up,
)
from supplychain_contracts.company import BusinessCalendar
from supplychain_contracts.reference import (
    BusinessCalendarDefined,
    CatalogueItemDefined,
    DepartmentDefined,
    FxRateDefined,
    LegalEntityDefined,
    SlaPolicyDefined,
)
from supplychain_kit.messaging import outbox
from supplychain_kit.messaging.dispatch import dispatch
from supplychain_kit.telemetry import current_trace_headers

from fulfilment import chain, domain, store, work_signal
from fulfilment.domain import WorkItem, WorkStatus


async def define_catalogue_item(conn: asyncpg.Connection, defined: CatalogueItemDefined) -> None:
    await store.save_catalogue_entry(
        conn, chain.catalogue_entry(defined), changed_at=defined.occurred_at
    )


async def receive(conn: asyncpg.Connection, placed: OrderPlaced) -> None:
    await store.receive(conn, placed, current_trace_headers())
    work_signal.work_changed()  # new work for the supplier (and its autopilot)


async def cancel(conn: asyncpg.Connection, request: OrderCancelled) -> None:
    """Settle a cancellation request under the work item's lock (the lock every command
    takes, so a concurrent ship comes before or after, never between): the work stops while
    it still can (WorkCancelled, and requests down the chain to the sub-orders that can still
    be stopped), else CancellationRefused with the reason. The request settled last is kept:
    the same request again changes nothing."""
    locked = await store.lock_item(conn, request.order_id)
    if locked is None:  # not an order announced to a supplier here
        refused = follow_up(
            request, CancellationRefused, producer=domain.PRODUCER, reason=domain.UNKNOWN_ORDER
        )
        await outbox.append(conn, [refused])
        return
    if locked.cancellation_request_id == request.event_id:
        return  # settled already
    item = locked.item
    settled = domain.settle_cancellation(item, request)
    if isinstance(settled, CancellationRefused):
        await store.record_cancellation(
            conn, item.order_id, request_id=request.event_id, refused=settled.reason
        )
        await outbox.append(conn, [settled])
        return
    await store.set_status(
        conn, item.order_id, WorkStatus.CANCELLED, event_id=settled.event_id, reason=settled.reason
    )
    await store.record_cancellation(conn, item.order_id, request_id=request.event_id, refused=None)
    compensations = chain.compensate(
        item, await store.sub_orders_of(conn, item.order_id, lock=True), cause=settled
    )
    await outbox.append(conn, [settled, *compensations])
    work_signal.work_changed()
    await record_sub_order_progress(conn, settled)  # this order may itself be a sub-order


async def record_sub_order_progress(conn: asyncpg.Connection, event: Envelope) -> None:
    """A sub-order's own event updates its record on the parent; one that can no longer be
    delivered blocks the parent, the last one delivered tells it its components are in."""
    parent_order_id = await store.parent_of(conn, event.order_id)
    if parent_order_id is None:
        return  # not a sub-order raised by this service
    locked = await store.lock_item(conn, parent_order_id)  # parent first: the lock order of `ship`
    sub_order = await store.lock_sub_order(conn, event.order_id)
    if locked is None or sub_order is None:
        return
    parent = locked.item
    status = chain.sub_order_status_after(sub_order.status, chain.REPORTED_STATUS[type(event)])
    if status is None:
        return
    reason: str | None = getattr(event, "reason", None) or None
    await store.set_sub_order_status(conn, sub_order.order_id, status, reason=reason)
    work_signal.work_changed()  # a delivered component may let the parent ship
    blocked = chain.block_parent(
        parent, replace(sub_order, status=status), cause=event, reason=reason or status.value
    )
    if blocked is not None:
        await store.set_status(
            conn,
            parent.order_id,
            WorkStatus.BLOCKED,
            event_id=blocked.event_id,
            reason=blocked.reason,
        )
        await outbox.append(conn, [blocked])
    if isinstance(event, OrderDelivered):
        await _components_received(conn, parent, event)


async def _components_received(
    conn: asyncpg.Connection, parent: WorkItem, delivered: OrderDelivered
) -> None:
    """ComponentsReceived once the last sub-order is delivered. Exactly once: the sub-order
    reached delivered just now (a redelivered receipt returned above, as the inbox would
    already have dropped it), under the parent's lock, so two last deliveries cannot both see
    the others outstanding; its id is derived from the parent, so even a repeat would be one
    outbox row."""
    received = chain.components_received(
        parent, await store.sub_orders_of(conn, parent.order_id), delivered=delivered
    )
    if received is None:
        return
    # the parent's next event (WorkStarted, OrderShipped) follows from it, as after
    # ComponentsRequested; its status (and the autopilot's wait in it) does not change
    await store.set_last_event_id(conn, parent.order_id, received.event_id)
    await outbox.append(conn, [received])


async def define_legal_entity(conn: asyncpg.Connection, defined: LegalEntityDefined) -> None:
    entity = defined.legal_entity
    await store.save_legal_entity(
        conn, entity.code, currency=entity.currency, changed_at=defined.occurred_at
    )


async def define_department(conn: asyncpg.Connection, defined: DepartmentDefined) -> None:
    department = defined.department
    await store.save_department(
        conn,
        department.code,
        legal_entity=department.legal_entity,
        changed_at=defined.occurred_at,
    )


async def define_fx_rate(conn: asyncpg.Connection, defined: FxRateDefined) -> None:
    await store.save_fx_rate(
        conn, defined.fx_rate, active=defined.active, changed_at=defined.occurred_at
    )


async def define_sla_policy(conn: asyncpg.Connection, defined: SlaPolicyDefined) -> None:
    await store.save_sla_policy_version(
        conn,
        defined.policy_id,
        version=defined.version,
        effective_from=defined.effective_from,
        active=defined.active,
        policy=defined.policy,
    )


async def define_calendar(conn: asyncpg.Connection, defined: BusinessCalendarDefined) -> None:
    named = defined.calendar
    calendar = BusinessCalendar.model_validate(
        named.model_dump(include=set(BusinessCalendar.model_fields))
    )
    await store.save_calendar(
        conn, named.code, calendar, active=defined.active, changed_at=defined.occurred_at
    )


# The subscriber: every event a sub-order reports moves its record on the parent; a
# cancellation request is settled (and the settlement reported, as the order may be a
# sub-order).
apply_event = dispatch(
    {
        **dict.fromkeys(chain.REPORTED_STATUS, record_sub_order_progress),
        OrderPlaced: receive,
        OrderCancelled: cancel,
        CatalogueItemDefined: define_catalogue_item,
        LegalEntityDefined: define_legal_entity,
        DepartmentDefined: define_department,
        FxRateDefined: define_fx_rate,
        SlaPolicyDefined: define_sla_policy,
        BusinessCalendarDefined: define_calendar,
    }
)
