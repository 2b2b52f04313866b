"""Issue 15, paused clocks, in process on the real PostgreSQL: a help request's state machine
(state, history and outbox in one transaction) and ComponentsReceived once when a parent's
last component sub-order is delivered, in the receipt's transaction (repeated or concurrent
receipts included)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from fulfilment import commands, progress, store
from fulfilment.chain import reported
from fulfilment.domain import (
    Command,
    IllegalHelpTransition,
    IllegalTransition,
    NotYourOrder,
    WorkStatus,
)
from fulfilment.handlers import apply_event
from supplychain_contracts import (
    ComponentsReceived,
    Envelope,
    HelpAnswered,
    HelpAwaitingRequester,
    HelpRequested,
    OrderCancelled,
    OrderPlaced,
    OrderShipped,
    follow_up,
)
from supplychain_contracts.company import sample_company
from supplychain_kit.http.auth import EVERY_ROW
from support import reference_events
from support.events import order_placed
from support.fulfilment_commands import command, work_through
from support.service import ServicePool, apply_events, outbox_events


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Fulfilment with the sample company's catalogue, learnt from the owner's events."""
    pool = await service_pool("fulfilment")
    await consume(pool, *reference_events(sample_company()))
    return pool


async def consume(pool: asyncpg.Pool, *events: Envelope) -> None:
    """Apply each event in its own transaction as the consumer does (without its inbox, so
    a repeat shows what the effect's own guard does)."""
    await apply_events(pool, apply_event, *events)


async def in_transaction(pool: asyncpg.Pool, run: Any, /, **kw: Any) -> Any:
    """A command given the way its route gives it: one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        return await run(conn, **kw)


async def published(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def placed(pool: asyncpg.Pool, *, supplier: str, requester: str, sku: str) -> OrderPlaced:
    event = order_placed(
        producer="order-intake",
        supplier=supplier,
        requester=requester,
        sku=sku,
        quantity=2,
        unit_price="104.50",
    )
    await consume(pool, event)
    return event


# --- help requests ---------------------------------------------------------------------------


async def test_a_help_request_walks_its_states_with_its_history_and_one_event_each(
    pool: asyncpg.Pool,
) -> None:
    order = await placed(pool, supplier="WHEELS", requester="ASSEMBLY", sku="WHEEL-28")
    ids = {"order_id": order.order_id}
    asked = await in_transaction(
        pool, commands.request_help, **ids, department="ASSEMBLY", subject="late?", message="m"
    )
    help_ids = {**ids, "help_event_id": asked.event_id}

    # the requester cannot ask itself back, nor answer before a question
    with pytest.raises(NotYourOrder):
        await in_transaction(
            pool, commands.ask_requester, **help_ids, department="ASSEMBLY", question="q"
        )
    with pytest.raises(IllegalHelpTransition):
        await in_transaction(
            pool, commands.answer_help, **help_ids, department="ASSEMBLY", answer="a"
        )
    with pytest.raises(commands.UnknownHelpRequest):
        await in_transaction(
            pool,
            commands.ask_requester,
            **ids,
            help_event_id=uuid.uuid4(),
            department="WHEELS",
            question="q",
        )
    with pytest.raises(commands.UnknownOrder):  # a stranger does not even see the order
        await in_transaction(
            pool, commands.ask_requester, **help_ids, department="PAINTSHOP", question="q"
        )

    question = await in_transaction(
        pool, commands.ask_requester, **help_ids, department="WHEELS", question="which dock?"
    )
    with pytest.raises(IllegalHelpTransition):  # already awaiting the requester
        await in_transaction(
            pool, commands.ask_requester, **help_ids, department="WHEELS", question="again?"
        )
    with pytest.raises(NotYourOrder):
        await in_transaction(
            pool, commands.answer_help, **help_ids, department="WHEELS", answer="a"
        )
    answer = await in_transaction(
        pool, commands.answer_help, **help_ids, department="ASSEMBLY", answer="dock 3"
    )
    second = await in_transaction(
        pool, commands.ask_requester, **help_ids, department="WHEELS", question="morning?"
    )

    events = await published(pool)
    assert [type(e) for e in events] == [
        HelpRequested,
        HelpAwaitingRequester,
        HelpAnswered,
        HelpAwaitingRequester,
    ]
    assert [e.event_id for e in events[1:]] == [
        question.event_id,
        answer.event_id,
        second.event_id,
    ]
    assert {e.help_event_id for e in events[1:]} == {asked.event_id}
    # each step follows from the request's previous one
    assert [e.causation_id for e in events[1:]] == [e.event_id for e in events[:-1]]

    async with pool.acquire() as conn:
        [view] = await store.help_requests_view(conn, order.order_id, visible=EVERY_ROW)
    assert (view["help_event_id"], view["status"]) == (asked.event_id, "awaiting_requester")
    assert [
        (h["event_type"], h["department"], h["text"], h["status"]) for h in view["history"]
    ] == [
        ("HelpRequested", "ASSEMBLY", "m", "open"),
        ("HelpAwaitingRequester", "WHEELS", "which dock?", "awaiting_requester"),
        ("HelpAnswered", "ASSEMBLY", "dock 3", "answered"),
        ("HelpAwaitingRequester", "WHEELS", "morning?", "awaiting_requester"),
    ]


async def test_the_supplier_cannot_ask_back_once_the_order_is_closed(pool: asyncpg.Pool) -> None:
    order = await placed(pool, supplier="WHEELS", requester="ASSEMBLY", sku="WHEEL-28")
    asked = await in_transaction(
        pool,
        commands.request_help,
        order_id=order.order_id,
        department="ASSEMBLY",
        subject="late?",
        message="",
    )
    await consume(pool, follow_up(order, OrderCancelled, producer="order-intake"))

    with pytest.raises(IllegalTransition) as refused:
        await in_transaction(
            pool,
            commands.ask_requester,
            order_id=order.order_id,
            help_event_id=asked.event_id,
            department="WHEELS",
            question="still needed?",
        )
    assert refused.value.current.value == "cancelled"
    async with pool.acquire() as conn:
        [view] = await store.help_requests_view(conn, order.order_id, visible=EVERY_ROW)
    assert view["status"] == "open" and len(view["history"]) == 1  # nothing half-written


# --- components received ------------------------------------------------------------------------


async def frames_order_in_progress(pool: asyncpg.Pool) -> tuple[OrderPlaced, list[OrderPlaced]]:
    """FRAMES accepts two city frames (3 component sub-orders raised) and starts work."""
    parent = await placed(pool, supplier="FRAMES", requester="ASSEMBLY", sku="FRAME-CITY")
    await in_transaction(
        pool,
        commands.execute,
        order_id=parent.order_id,
        command=Command.ACCEPT,
        department="FRAMES",
    )
    await in_transaction(
        pool, commands.execute, order_id=parent.order_id, command=Command.START, department="FRAMES"
    )
    raised = [e for e in await published(pool) if isinstance(e, OrderPlaced)]
    await consume(pool, *raised)
    assert len(raised) == 3
    return parent, raised


async def received_of(pool: asyncpg.Pool) -> list[ComponentsReceived]:
    return [e for e in await published(pool) if isinstance(e, ComponentsReceived)]


async def test_components_received_once_after_the_last_sub_order_even_when_repeated(
    pool: asyncpg.Pool,
) -> None:
    parent, (first, second, last) = await frames_order_in_progress(pool)
    for sub_order in (first, second):
        await work_through(pool, sub_order, until=Command.RECEIPT)
    await work_through(pool, last, until=Command.SHIP)
    assert await received_of(pool) == []  # one component is still on its way

    delivered = await command(pool, last.order_id, Command.RECEIPT, "FRAMES")
    # in the receipt's own transaction; its progress again (as a start's catch-up would
    # bring it) moves nothing: the record's own guard holds
    async with pool.acquire() as conn, conn.transaction():
        assert not await progress.record(conn, reported(delivered.event, WorkStatus.DELIVERED))

    [received] = await received_of(pool)
    assert received.order_id == parent.order_id
    assert (received.supplier, received.requester) == ("FRAMES", "ASSEMBLY")
    assert received.causation_id == delivered.event.event_id
    assert set(received.sub_order_ids) == {first.order_id, second.order_id, last.order_id}
    # the parent's next event follows from it; its status did not move
    shipped = await in_transaction(
        pool, commands.execute, order_id=parent.order_id, command=Command.SHIP, department="FRAMES"
    )
    assert isinstance(shipped.event, OrderShipped)
    assert shipped.event.causation_id == received.event_id


async def test_two_last_receipts_at_once_raise_it_once(pool: asyncpg.Pool) -> None:
    parent, (first, second, last) = await frames_order_in_progress(pool)
    await work_through(pool, first, until=Command.RECEIPT)
    for sub_order in (second, last):
        await work_through(pool, sub_order, until=Command.SHIP)

    await asyncio.gather(
        command(pool, second.order_id, Command.RECEIPT, "FRAMES"),
        command(pool, last.order_id, Command.RECEIPT, "FRAMES"),
    )

    [received] = await received_of(pool)
    assert received.order_id == parent.order_id


async def test_no_components_received_for_a_cancelled_parent(pool: asyncpg.Pool) -> None:
    parent, raised = await frames_order_in_progress(pool)
    for sub_order in raised:  # shipped before the cancellation: they still arrive
        await work_through(pool, sub_order, until=Command.SHIP)
    await consume(pool, follow_up(parent, OrderCancelled, producer="order-intake"))

    for sub_order in raised:
        await command(pool, sub_order.order_id, Command.RECEIPT, "FRAMES")

    assert await received_of(pool) == []
