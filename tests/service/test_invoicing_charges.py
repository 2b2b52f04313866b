"""Invoicing's charges on the real PostgreSQL (handlers applied as the consumer would): a
settled cancellation is never invoiced nor credited, an end-to-end breach credits only time
the supplier owed, invoices in the supplier's currency carry the requester's at the order's
rate, and the trial balance keeps currencies apart with a group view whose eliminations net
to zero."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing.api import get_trial_balance
from invoicing.config import InvoicingSettings
from invoicing.handlers import apply_event
from invoicing.metrics import CANCELLED_DELIVERIES
from supplychain_contracts import (
    CreditNoteIssued,
    Envelope,
    InvoiceIssued,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    SlaBreached,
    Stage,
    WorkCancelled,
    follow_up,
    utc_now,
)
from supplychain_contracts.company import FxRate, LegalEntity, sample_company
from supplychain_contracts.reference import (
    department_defined,
    fx_rate_defined,
    legal_entity_defined,
)
from supplychain_kit.http.auth import Principal
from support import reference_events
from support.events import order_placed, sla_breached
from support.service import ServicePool, apply_events, outbox_events

FINANCE = Principal(department="finance", key_id="finance-1", role="finance")  # the whole ledger

BIKES = (OrderLine(sku="BIKE-CITY", quantity=2, unit_price=Decimal("299.00")),)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    """The sample company, plus a US subsidiary (USD) with one department supplying it."""
    pool = await service_pool("invoicing")
    company = sample_company()
    frames = company.department("FRAMES")
    assert frames is not None
    us = LegalEntity(code="NC-US", name="Northwind US", currency="USD")
    us_mfg = frames.model_copy(update={"code": "US_MFG", "legal_entity": "NC-US"})
    await consume(
        pool,
        *reference_events(company),
        legal_entity_defined(us, producer="order-intake"),
        department_defined(us_mfg, producer="order-intake"),
    )
    return pool


async def consume(pool: asyncpg.Pool, *events: Envelope) -> None:
    """Apply each event in its own transaction, as the consumer does."""
    await apply_events(pool, apply_event, *events)


def placed(supplier: str = "ASSEMBLY", requester: str = "RETAIL_OPS") -> OrderPlaced:
    return order_placed(
        producer="order-intake", supplier=supplier, requester=requester, lines=BIKES
    )


def delivered(order: OrderPlaced, **fields: Any) -> OrderDelivered:
    return follow_up(order, OrderDelivered, producer="fulfilment", lines=order.lines, **fields)


def breached(order: OrderPlaced, stage: Stage, *, deadline_ago: timedelta) -> SlaBreached:
    now = utc_now()
    return sla_breached(
        order,
        stage=stage,
        started_at=now - timedelta(days=1),
        deadline=now - deadline_ago,
        service_credit_pct=Decimal("10"),
    )


async def rows(pool: asyncpg.Pool, query: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(row) for row in await conn.fetch(query, *args)]


async def published(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def test_a_settled_cancellation_is_never_invoiced_and_drops_its_waiting_claims(
    pool: asyncpg.Pool,
) -> None:
    order = placed()
    breach = breached(order, Stage.FULFILMENT, deadline_ago=timedelta(hours=1))
    cancelled = follow_up(order, WorkCancelled, producer="fulfilment", reason="not needed")
    counted = CANCELLED_DELIVERIES.labels(supplier="ASSEMBLY")
    before = counted._value.get()

    await consume(pool, breach, cancelled)
    assert await rows(pool, "SELECT 1 FROM pending_credits") == []  # dropped: nothing to credit
    # a delivery after the settlement (a bug upstream) is refused: logged and counted
    await consume(pool, delivered(order), breach)

    assert await published(pool) == []
    assert await rows(pool, "SELECT 1 FROM invoices") == []
    assert await rows(pool, "SELECT 1 FROM credit_notes") == []
    assert await rows(pool, "SELECT 1 FROM postings") == []
    assert counted._value.get() == before + 1


@pytest.mark.parametrize(
    ("shipped_after_deadline", "via_event"),
    [(True, True), (False, False)],
    ids=["late-as-order-shipped-said", "in-time-as-order-delivered-said"],
)
async def test_an_end_to_end_breach_credits_only_when_the_supplier_shipped_after_its_deadline(
    pool: asyncpg.Pool, shipped_after_deadline: bool, via_event: bool
) -> None:
    order = placed()
    breach = breached(order, Stage.END_TO_END, deadline_ago=timedelta(hours=2))
    shipped_at = breach.deadline + (
        timedelta(minutes=30) if shipped_after_deadline else -timedelta(minutes=30)
    )
    if via_event:  # the time invoicing recorded from OrderShipped
        shipped = follow_up(order, OrderShipped, producer="fulfilment", occurred_at=shipped_at)
        await consume(pool, shipped, breach, delivered(order))
    else:  # the time OrderDelivered carries
        await consume(pool, breach, delivered(order, shipped_at=shipped_at))

    notes = [e for e in await published(pool) if isinstance(e, CreditNoteIssued)]
    if shipped_after_deadline:
        [note] = notes
        assert note.amount == Decimal("59.80")
    else:
        assert notes == []  # the requester held the order when the deadline passed
    # the requester's own stage never credits
    await consume(pool, breached(order, Stage.DELIVERY, deadline_ago=timedelta(hours=1)))
    assert len(await rows(pool, "SELECT 1 FROM credit_notes")) == len(notes)


async def test_an_invoice_across_currencies_carries_the_requesters_total_and_credits_at_its_rate(
    pool: asyncpg.Pool,
) -> None:
    order = placed(supplier="US_MFG", requester="ASSEMBLY")
    delivery = delivered(order, currency="USD", requester_currency="EUR", fx_rate=Decimal("0.9215"))
    breach = breached(order, Stage.FULFILMENT, deadline_ago=timedelta(hours=1))
    await consume(pool, delivery, breach)

    invoice, note = await published(pool)
    assert isinstance(invoice, InvoiceIssued) and isinstance(note, CreditNoteIssued)
    assert (invoice.currency, invoice.total) == ("USD", Decimal("598.00"))
    assert (invoice.requester_currency, invoice.fx_rate) == ("EUR", Decimal("0.9215"))
    assert invoice.requester_total == Decimal("551.06")  # 551.057 half-up
    assert invoice.legal_entity == note.legal_entity == "NC-US"
    assert (note.currency, note.amount) == ("USD", Decimal("59.80"))
    assert (note.requester_currency, note.fx_rate) == ("EUR", Decimal("0.9215"))
    assert note.requester_amount == Decimal("55.11")  # 55.1057
    [stored] = await rows(pool, "SELECT requester_total, fx_rate, currency FROM invoices")
    assert stored == {
        "requester_total": Decimal("551.06"),
        "fx_rate": Decimal("0.9215"),
        "currency": "USD",
    }
    wire = invoice.model_dump(mode="json")
    assert (wire["total"], wire["requester_total"], wire["fx_rate"]) == (
        "598.00",
        "551.06",
        "0.9215",
    )


async def test_the_trial_balance_keeps_currencies_apart_with_a_group_view_eliminating_to_zero(
    pool: asyncpg.Pool,
) -> None:
    today = utc_now().date()
    usd_eur = FxRate(base="USD", quote="EUR", rate=Decimal("0.9000"), valid_from=date(2020, 1, 1))
    await consume(pool, fx_rate_defined(usd_eur, producer="order-intake"))
    across = placed(supplier="US_MFG", requester="ASSEMBLY")
    inside = placed()  # ASSEMBLY (NC-MFG) to RETAIL_OPS (NC-RETAIL), both EUR
    await consume(
        pool,
        delivered(across, currency="USD", requester_currency="EUR", fx_rate=Decimal("0.9215")),
        delivered(inside),
    )

    async with pool.acquire() as conn:
        balance = await get_trial_balance(
            db=conn,
            caller=FINANCE,
            settings=InvoicingSettings(group_currency="EUR"),
            period=None,
        )
    body = balance.model_dump(mode="json")
    assert body["balanced"] is True
    assert body["totals"] == {
        "EUR": {"debit": "1196.00", "credit": "1196.00", "balance": "0.00"},
        "USD": {"debit": "1196.00", "credit": "1196.00", "balance": "0.00"},
    }
    assert [s["currency"] for s in body["currencies"]] == ["EUR", "USD"]
    assert all(s["balanced"] for s in body["currencies"])
    group = body["group"]
    assert group["currency"] == "EUR" and group["complete"] is True
    assert group["untranslated"] == []
    # 598.00 USD at the rate valid today (0.90) = 538.20 EUR, on each of four lines
    us = next(e for e in group["entities"] if e["legal_entity"] == "NC-US")
    assert us == {
        "legal_entity": "NC-US",
        "entity_currency": "USD",
        "debit": "538.20",
        "credit": "538.20",
        "balance": "0.00",
    }
    pairs = {tuple(e["legal_entities"]): e for e in group["eliminations"]}
    assert pairs[("NC-MFG", "NC-US")]["debit"] == "1076.40"
    assert all(e["balance"] == "0.00" for e in group["eliminations"])
    assert group["eliminated"]["balance"] == "0.00"
    assert group["consolidated"]["balance"] == "0.00"
    assert today >= usd_eur.valid_from


async def test_a_group_view_without_a_rate_names_the_pair_and_guesses_nothing(
    pool: asyncpg.Pool,
) -> None:
    order = placed(supplier="US_MFG", requester="ASSEMBLY")
    await consume(pool, delivered(order, currency="USD"))
    async with pool.acquire() as conn:
        balance = await get_trial_balance(
            db=conn,
            caller=FINANCE,
            settings=InvoicingSettings(group_currency="EUR"),
            period=None,
        )
    group = balance.model_dump(mode="json")["group"]
    assert group["complete"] is False
    [missing] = group["untranslated"]
    assert (missing["currency"], missing["pair"]) == ("USD", "USD-EUR")
    assert missing["debit"] == missing["credit"] == "1196.00"
    assert group["entities"] == [] and group["eliminations"] == []
