"""Period close on the real database (invoicing.closing, invoicing.periods): a late invoice
dated in a closed month posts in the first open one and names the original; the closed
month's statement keeps its bytes and digest; a reopen is audited and makes it live again;
a close waits for a posting in flight."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing import closing, dispute_commands, periods
from supplychain_contracts import InvoiceIssued, OrderDelivered
from support.invoicing_finance import APPLY, bike_order, delivered, learn_sample_company
from support.service import ServicePool, apply_events, outbox_events

MFG = "NC-MFG"  # ASSEMBLY's legal entity; RETAIL_OPS is in NC-RETAIL


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("invoicing")
    await learn_sample_company(pool)
    return pool


def delivery(day: datetime) -> OrderDelivered:
    return delivered(bike_order(), at=day)


async def statement(pool: asyncpg.Pool, period: str) -> closing.ServedStatement:
    async with pool.acquire() as conn:
        return await closing.read_statement(conn, department="ASSEMBLY", period=period)


async def invoice_of(pool: asyncpg.Pool, order_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT period, original_period FROM invoices WHERE order_id = $1", order_id
        )
        issued = [
            e
            for e in await outbox_events(conn)
            if isinstance(e, InvoiceIssued) and e.order_id == order_id
        ]
    assert row is not None and len(issued) == 1
    assert (issued[0].period, issued[0].original_period) == (row["period"], row["original_period"])
    return dict(row)


async def close(pool: asyncpg.Pool, period: str, **kw: Any) -> closing.MonthChange:
    async with pool.acquire() as conn:
        return await closing.close_month(
            conn, legal_entity=kw.pop("legal_entity", MFG), period=period, by="finance-1", **kw
        )


async def reopen(pool: asyncpg.Pool, period: str, reason: str) -> closing.MonthChange:
    async with pool.acquire() as conn:
        return await closing.reopen_month(
            conn, legal_entity=MFG, period=period, by="finance-2", reason=reason
        )


async def test_a_late_invoice_goes_to_the_next_open_month_and_the_closed_statement_is_final(
    pool: asyncpg.Pool,
) -> None:
    on_time = delivery(datetime(2026, 3, 10, 9, tzinfo=UTC))
    await apply_events(pool, APPLY, on_time)
    live = await statement(pool, "2026-03")
    assert not live.final

    closed = await close(pool, "2026-03", reason="March books")
    assert closed.changed and closed.month["status"] == "closed"
    assert closed.month["history"][0]["statements"] >= 1
    final = await statement(pool, "2026-03")
    assert final.final and final.digest == live.digest  # nothing posted since: same content

    late = delivery(datetime(2026, 3, 20, 16, tzinfo=UTC))
    await apply_events(pool, APPLY, late)
    assert await invoice_of(pool, late.order_id) == {
        "period": "2026-04",
        "original_period": "2026-03",
    }
    again = await statement(pool, "2026-03")
    assert (again.json_body, again.csv_body, again.digest) == (
        final.json_body,
        final.csv_body,
        final.digest,
    )
    april = json.loads((await statement(pool, "2026-04")).json_body)
    (posted,) = april["as_supplier"]["invoices"]
    assert (posted["order_id"], posted["original_period"]) == (str(late.order_id), "2026-03")

    # closing it again changes nothing
    assert not (await close(pool, "2026-03")).changed


async def test_a_reopen_is_audited_and_makes_the_month_live_again(pool: asyncpg.Pool) -> None:
    await close(pool, "2026-05", reason="May books")
    reopened = await reopen(pool, "2026-05", "a missed delivery note")
    history = reopened.month["history"]
    assert [(h["action"], h["by"], h["reason"]) for h in history] == [
        ("closed", "finance-1", "May books"),
        ("reopened", "finance-2", "a missed delivery note"),
    ]
    assert reopened.month["status"] == "open" and reopened.month["closed_at"] is None
    assert not (await statement(pool, "2026-05")).final
    may = delivery(datetime(2026, 5, 30, tzinfo=UTC))
    await apply_events(pool, APPLY, may)
    assert (await invoice_of(pool, may.order_id))["period"] == "2026-05"

    with pytest.raises(closing.NotClosed):
        await reopen(pool, "2026-05", "twice")
    with pytest.raises(closing.UnknownLegalEntity):
        await close(pool, "2026-05", legal_entity="NC-NOWHERE")


async def test_a_close_waits_for_a_posting_in_flight(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as posting:
        transaction = posting.transaction()
        await transaction.start()
        assert await periods.posting_period(posting, legal_entity=MFG, period="2026-07") == (
            "2026-07",
            None,
        )
        closing_task = asyncio.create_task(close(pool, "2026-07"))
        async with pool.acquire() as watcher:
            while not await watcher.fetchval(
                """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                       AND NOT granted)"""
            ):
                assert not closing_task.done()
                await asyncio.sleep(0)  # yield to the close; the condition is the lock wait
        await transaction.commit()
    assert (await closing_task).changed
    async with pool.acquire() as conn, conn.transaction():
        after = await periods.posting_period(conn, legal_entity=MFG, period="2026-07")
    assert after == ("2026-08", "2026-07")


async def test_the_requesters_closed_month_also_moves_an_intercompany_invoice(
    pool: asyncpg.Pool,
) -> None:
    await close(pool, "2026-09", legal_entity="NC-RETAIL")  # RETAIL_OPS's entity only
    late = delivery(datetime(2026, 9, 15, tzinfo=UTC))
    await apply_events(pool, APPLY, late)
    assert await invoice_of(pool, late.order_id) == {
        "period": "2026-10",
        "original_period": "2026-09",
    }


async def test_an_accepted_disputes_credit_note_skips_a_closed_month(pool: asyncpg.Pool) -> None:
    order = delivery(datetime(2026, 10, 5, tzinfo=UTC))
    await apply_events(pool, APPLY, order)
    async with pool.acquire() as conn:
        invoice_id = await conn.fetchval(
            "SELECT invoice_id FROM invoices WHERE order_id = $1", order.order_id
        )
        opened = await dispute_commands.open_dispute(
            conn,
            invoice_id=invoice_id,
            caller="RETAIL_OPS",
            amount=Decimal("9.99"),
            reason="a bent spoke",
            escalation=dispute_commands.Escalation(5),
        )
    await close(pool, "2026-10")
    before = await statement(pool, "2026-10")
    async with pool.acquire() as conn:
        await dispute_commands.accept_dispute(
            conn,
            dispute_id=opened["dispute_id"],
            caller="ASSEMBLY",
            now=datetime(2026, 10, 20, tzinfo=UTC),
        )
        note = await conn.fetchrow(
            "SELECT kind, period, original_period FROM credit_notes WHERE invoice_id = $1",
            invoice_id,
        )
    assert dict(note) == {"kind": "dispute", "period": "2026-11", "original_period": "2026-10"}
    assert (await statement(pool, "2026-10")).json_body == before.json_body
