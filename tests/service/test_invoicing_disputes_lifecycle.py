"""Disputes on the real database (invoicing.dispute_commands): the requester opens one up to
what is outstanding, the supplier accepts (a credit note of kind `dispute`) or rejects it,
outsiders see nothing, and the scan escalates what stayed open too long. Each step's event is
in the outbox; a dispute carries the order's consumed timeline and trace id."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing import dispute_commands as disputes
from invoicing.dispute_commands import Escalation
from supplychain_contracts import (
    CreditNoteIssued,
    DisputeEscalated,
    DisputeOpened,
    DisputeSettled,
    OrderAccepted,
    OrderShipped,
    follow_up,
)
from supplychain_kit.http.auth import EVERY_ROW, Visibility
from support.invoicing_finance import APPLY, bike_order, delivered, learn_sample_company
from support.service import ServicePool, apply_events, outbox_events

FIVE_DAYS = Escalation(5)
WEDNESDAY = datetime(2026, 11, 4, 9, tzinfo=UTC)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("invoicing")
    await learn_sample_company(pool)
    return pool


async def invoiced(pool: asyncpg.Pool) -> uuid.UUID:
    """An order ASSEMBLY supplied to RETAIL_OPS, accepted, shipped, delivered: its invoice."""
    placed = bike_order()
    await apply_events(
        pool,
        APPLY,
        placed,
        follow_up(placed, OrderAccepted, producer="fulfilment"),
        follow_up(placed, OrderShipped, producer="fulfilment"),
        delivered(placed),
    )
    async with pool.acquire() as conn:
        invoice_id: uuid.UUID = await conn.fetchval(
            "SELECT invoice_id FROM invoices WHERE order_id = $1", placed.order_id
        )
    return invoice_id


async def run(pool: asyncpg.Pool, command: Any, **kw: Any) -> Any:
    async with pool.acquire() as conn:
        return await command(conn, **kw)


async def listed(pool: asyncpg.Pool, visible: Visibility, status: str | None = None) -> Any:
    """The disputes the caller sees (`visible`), newest first."""
    return await run(
        pool, disputes.list_disputes, visible=visible, status=status, limit=10, offset=0
    )


async def open_(pool: asyncpg.Pool, invoice_id: uuid.UUID, amount: str, **kw: Any) -> Any:
    return await run(
        pool,
        disputes.open_dispute,
        invoice_id=invoice_id,
        caller=kw.pop("caller", "RETAIL_OPS"),
        amount=Decimal(amount),
        reason=kw.pop("reason", "two of the bikes were scratched"),
        escalation=kw.pop("escalation", FIVE_DAYS),
        **kw,
    )


async def events(pool: asyncpg.Pool, kind: type) -> list[Any]:
    async with pool.acquire() as conn:
        return [e for e in await outbox_events(conn) if isinstance(e, kind)]


async def test_the_dispute_life_cycle(pool: asyncpg.Pool) -> None:
    invoice_id = await invoiced(pool)
    opened = await open_(pool, invoice_id, "100.00")
    assert opened["status"] == "open" and opened["amount"] == Decimal("100.00")
    timeline = [e["type"] for e in opened["evidence"]["timeline"]]
    assert timeline == ["OrderPlaced", "OrderAccepted", "OrderShipped", "OrderDelivered"]
    (announced,) = await events(pool, DisputeOpened)
    assert (announced.dispute_id, announced.amount) == (opened["dispute_id"], Decimal("100.00"))

    with pytest.raises(disputes.DisputeRefused, match=r"\(199\.00\)"):  # 299.00 less 100.00 pending
        await open_(pool, invoice_id, "199.01")
    with pytest.raises(disputes.DisputeRefused):
        await open_(pool, invoice_id, "0")
    with pytest.raises(disputes.DisputeNotFound):  # not party: as if it did not exist
        await open_(pool, invoice_id, "1.00", caller="MARKETING")
    with pytest.raises(disputes.NotTheRequester):
        await open_(pool, invoice_id, "1.00", caller="ASSEMBLY")
    with pytest.raises(disputes.NotTheSupplier):
        await run(
            pool, disputes.accept_dispute, dispute_id=opened["dispute_id"], caller="RETAIL_OPS"
        )
    with pytest.raises(disputes.DisputeNotFound):
        await run(
            pool,
            disputes.get_dispute,
            dispute_id=opened["dispute_id"],
            visible=Visibility("FRAMES"),
        )

    accepted = await run(
        pool, disputes.accept_dispute, dispute_id=opened["dispute_id"], caller="ASSEMBLY"
    )
    assert accepted["status"] == "accepted" and accepted["credit_note_id"] is not None
    (note,) = await events(pool, CreditNoteIssued)
    assert (note.kind, note.amount, note.dispute_id, note.credit_note_id) == (
        "dispute",
        Decimal("100.00"),
        opened["dispute_id"],
        accepted["credit_note_id"],
    )
    (settled,) = await events(pool, DisputeSettled)
    assert (settled.outcome, settled.credit_note_id) == ("accepted", note.credit_note_id)
    with pytest.raises(disputes.AlreadySettled):
        await run(pool, disputes.accept_dispute, dispute_id=opened["dispute_id"], caller="ASSEMBLY")

    # what is left after the credit note may be disputed; a rejection credits nothing
    second = await open_(pool, invoice_id, "199.00")
    rejected = await run(
        pool,
        disputes.reject_dispute,
        dispute_id=second["dispute_id"],
        caller="ASSEMBLY",
        reason="the scratches are in the delivery photos",
    )
    assert rejected["status"] == "rejected" and rejected["credit_note_id"] is None
    assert len(await events(pool, CreditNoteIssued)) == 1
    assert [s.outcome for s in await events(pool, DisputeSettled)] == ["accepted", "rejected"]
    mine = await listed(pool, Visibility("ASSEMBLY"))
    assert {d["dispute_id"] for d in mine} == {opened["dispute_id"], second["dispute_id"]}
    assert await listed(pool, Visibility("MARKETING")) == []


async def test_a_dispute_open_too_long_is_escalated_by_the_scan(pool: asyncpg.Pool) -> None:
    invoice_id = await invoiced(pool)
    # opened on a Wednesday with a tiny window: due at once (business time, Mon-Fri UTC)
    due = await open_(pool, invoice_id, "10.00", escalation=Escalation(1e-6), now=WEDNESDAY)
    waiting = await open_(pool, invoice_id, "10.00")  # five business days from now
    scan = asyncio.create_task(disputes.escalation_scan(pool, idle_s=0.05))
    try:
        async with pool.acquire() as conn:
            while (
                await conn.fetchval(
                    "SELECT status FROM disputes WHERE dispute_id = $1", due["dispute_id"]
                )
                != "escalated"
            ):
                await asyncio.sleep(0.01)
    finally:
        scan.cancel()
    (escalated,) = await events(pool, DisputeEscalated)
    assert (escalated.dispute_id, escalated.opened_at) == (due["dispute_id"], WEDNESDAY)
    finance = await listed(pool, EVERY_ROW, status="escalated")
    assert [d["dispute_id"] for d in finance] == [due["dispute_id"]]
    still = await run(
        pool, disputes.get_dispute, dispute_id=waiting["dispute_id"], visible=EVERY_ROW
    )
    assert still["status"] == "open"
    # an escalated dispute is still the supplier's to settle
    accepted = await run(
        pool, disputes.accept_dispute, dispute_id=due["dispute_id"], caller="ASSEMBLY"
    )
    assert accepted["status"] == "accepted"


async def test_two_scanners_escalate_each_dispute_once(pool: asyncpg.Pool) -> None:
    invoice_id = await invoiced(pool)
    for _ in range(6):
        await open_(pool, invoice_id, "1.00", now=WEDNESDAY)  # due the Wednesday after
    later = datetime(2026, 12, 1, tzinfo=UTC)

    async def scan() -> int:
        async with pool.acquire() as conn:
            return await disputes.escalate_due(conn, now=later, limit=2)

    escalated = 0
    while batch := sum(await asyncio.gather(scan(), scan())):
        escalated += batch
    assert escalated == 6
    assert len({e.dispute_id for e in await events(pool, DisputeEscalated)}) == 6
    assert len(await events(pool, DisputeEscalated)) == 6
