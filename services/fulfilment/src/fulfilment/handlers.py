"""Consumed events: orders placed with a supplier department and requests to cancel them
(which the supplier settles here), and the reference data it keeps copies of: the catalogue,
legal entities, departments and exchange rates (order intake's), SLA policies and business
calendars (monitoring's)."""

from __future__ import annotations

import asyncpg
from supplychain_contracts import (
    CancellationRefused,
    OrderCancelled,
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

from fulfilment import chain, domain, progress, store, work_signal
from fulfilment.domain import WorkStatus


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
    # this order may itself be a sub-order: its parent's record of it follows
    await progress.record(conn, chain.reported(settled, WorkStatus.CANCELLED))


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


# The subscriber: orders placed with a supplier, cancellation requests settled, and the
# reference data. Not fulfilment's own topic: a sub-order's progress moves its parent in the
# transaction of the command that made it (see progress).
apply_event = dispatch(
    {
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
