"""Dispute commands, one transaction each: open (the requester), accept or reject (the
supplier), escalate what stayed open too long (the scan). Each appends its event to the outbox
in its transaction. An invoice's disputes and credit notes are serialised by the order's lock,
so two disputes cannot both claim the same outstanding amount.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from supplychain_contracts import (
    CreditKind,
    DisputeEscalated,
    DisputeOpened,
    DisputeSettled,
    DisputeStatus,
)
from supplychain_contracts.envelope import utc_now
from supplychain_kit.http.auth import EVERY_ROW, Visibility
from supplychain_kit.messaging import outbox
from supplychain_kit.runtime import ServiceRuntime
from supplychain_kit.telemetry import current_trace_id

from invoicing import disputes, disputes_store, store
from invoicing.config import InvoicingSettings
from invoicing.credit_notes import issue_credit_note, outstanding_on
from invoicing.domain import PRODUCER

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")


class DisputeNotFound(Exception):
    """No such invoice or dispute, or the caller is not party to it (indistinguishable)."""


class NotTheRequester(Exception):
    """Only the department charged by the invoice disputes it."""


class NotTheSupplier(Exception):
    """Only the department that issued the invoice settles its disputes."""


class DisputeRefused(Exception):
    """The amount cannot be disputed (422)."""


class AlreadySettled(Exception):
    """The dispute is settled (409)."""


@dataclass(frozen=True)
class Escalation:
    business_days: float


@dataclass(frozen=True)
class Credited:
    amount: Decimal
    credit_note_id: UUID | None


def _event_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": row["order_id"],
        "root_order_id": row["root_order_id"],
        "producer": PRODUCER,
        "supplier": row["supplier"],
        "requester": row["requester"],
        "dispute_id": row["dispute_id"],
        "invoice_id": row["invoice_id"],
    }


async def _with_evidence(conn: asyncpg.Connection, row: dict[str, Any]) -> dict[str, Any]:
    timeline = await disputes_store.evidence(conn, row["order_id"])
    return {
        **row,
        "evidence": {
            "timeline": [{"type": e["type"], "occurred_at": e["occurred_at"]} for e in timeline],
            "trace_id": row["trace_id"],
        },
    }


async def open_dispute(
    conn: asyncpg.Connection,
    *,
    invoice_id: UUID,
    caller: str,
    amount: Decimal,
    reason: str,
    escalation: Escalation,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or utc_now()
    async with conn.transaction():
        invoice = await disputes_store.invoice(conn, invoice_id, visible=Visibility(caller))
        if invoice is None:
            raise DisputeNotFound(f"invoice {invoice_id} does not exist")
        if caller != invoice["requester"]:
            raise NotTheRequester(
                f"{caller} issued invoice {invoice_id}: only its requester disputes it"
            )
        await store.lock_order(conn, invoice["order_id"])
        left = disputes.outstanding(
            invoice["total"],
            credited=await disputes_store.credited(conn, invoice_id),
            pending_disputes=await disputes_store.pending_amount(conn, invoice_id),
        )
        refused = disputes.refusal(amount, outstanding=left, currency=invoice["currency"])
        if refused is not None:
            raise DisputeRefused(refused)
        timeline = await disputes_store.evidence(conn, invoice["order_id"])
        traced = next((e["trace_id"] for e in timeline if e["trace_id"]), None)
        dispute = disputes.opened_dispute(
            invoice,
            dispute_id=uuid4(),
            amount=amount,
            reason=reason,
            by=caller,
            at=now,
            business_days=escalation.business_days,
            trace_id=traced or current_trace_id(),
        )
        opened = DisputeOpened(
            **_event_fields(dispute),
            occurred_at=now,
            amount=amount,
            currency=invoice["currency"],
            reason=reason,
        )
        await disputes_store.save(conn, {**dispute, "opened_event": opened.event_id})
        await outbox.append(conn, [opened])
        row = await disputes_store.get(conn, dispute["dispute_id"], visible=EVERY_ROW)
        assert row is not None
        return await _with_evidence(conn, row)


async def _settleable(conn: asyncpg.Connection, dispute_id: UUID, caller: str) -> dict[str, Any]:
    found = await disputes_store.get(conn, dispute_id, visible=Visibility(caller))
    if found is None:
        raise DisputeNotFound(f"dispute {dispute_id} does not exist")
    if caller != found["supplier"]:
        raise NotTheSupplier(f"only {found['supplier']}, which issued the invoice, settles it")
    await store.lock_order(conn, found["order_id"])
    row = await disputes_store.get(conn, dispute_id, visible=EVERY_ROW, for_update=True)
    assert row is not None
    if not disputes.may_settle(DisputeStatus(row["status"])):
        raise AlreadySettled(f"dispute {dispute_id} is {row['status']} already")
    return row


async def accept_dispute(
    conn: asyncpg.Connection,
    *,
    dispute_id: UUID,
    caller: str,
    reason: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The supplier accepts: a credit note of kind `dispute` for the amount."""
    now = now or utc_now()
    async with conn.transaction():
        row = await _settleable(conn, dispute_id, caller)
        credited = await _credit(conn, row, at=now)
        return await _settle(
            conn,
            {**row, "amount": credited.amount},
            DisputeStatus.ACCEPTED,
            by=caller,
            reason=reason,
            at=now,
            credit_note_id=credited.credit_note_id,
        )


async def reject_dispute(
    conn: asyncpg.Connection,
    *,
    dispute_id: UUID,
    caller: str,
    reason: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The supplier rejects: nothing is credited."""
    now = now or utc_now()
    async with conn.transaction():
        row = await _settleable(conn, dispute_id, caller)
        return await _settle(
            conn,
            row,
            DisputeStatus.REJECTED,
            by=caller,
            reason=reason,
            at=now,
            credit_note_id=None,
        )


async def _settle(
    conn: asyncpg.Connection,
    row: dict[str, Any],
    status: DisputeStatus,
    *,
    by: str,
    reason: str,
    at: datetime,
    credit_note_id: UUID | None,
) -> dict[str, Any]:
    await disputes_store.settle(
        conn,
        row["dispute_id"],
        status=status.value,
        at=at,
        by=by,
        reason=reason,
        credit_note_id=credit_note_id,
    )
    await outbox.append(
        conn,
        [
            DisputeSettled(
                **_event_fields(row),
                occurred_at=at,
                outcome=status.value,
                amount=row["amount"],
                currency=row["currency"],
                reason=reason,
                credit_note_id=credit_note_id,
            )
        ],
    )
    settled = await disputes_store.get(conn, row["dispute_id"], visible=EVERY_ROW)
    assert settled is not None
    return await _with_evidence(conn, settled)


async def _credit(conn: asyncpg.Connection, row: dict[str, Any], *, at: datetime) -> Credited:
    """The dispute's credit note (kind `dispute`, posting-period rules apply): the amount,
    or what is still outstanding when an SLA credit came meanwhile; returns what it credited
    and the note's id."""
    invoice = await store.invoice_by_id(conn, row["invoice_id"])
    assert invoice is not None, "a dispute's invoice is never deleted"
    amount = min(row["amount"], await outstanding_on(conn, invoice))
    note = await issue_credit_note(
        conn,
        invoice,
        kind=CreditKind.DISPUTE,
        amount=max(amount, ZERO),
        reason=f"dispute accepted: {row['reason']}",
        cause_event_id=row["opened_event"],
        caused_at=at,
        dispute_id=row["dispute_id"],
    )
    return Credited(note.amount if note else ZERO, note.credit_note_id if note else None)


async def get_dispute(
    conn: asyncpg.Connection, *, dispute_id: UUID, visible: Visibility
) -> dict[str, Any]:
    """The dispute with its evidence, if the caller is party to it (finance: every one)."""
    row = await disputes_store.get(conn, dispute_id, visible=visible)
    if row is None:
        raise DisputeNotFound(f"dispute {dispute_id} does not exist")
    return await _with_evidence(conn, row)


async def list_disputes(
    conn: asyncpg.Connection,
    *,
    visible: Visibility,
    status: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    rows = await disputes_store.listed(
        conn, visible=visible, status=status, limit=limit, offset=offset
    )
    return [await _with_evidence(conn, row) for row in rows]


# --- escalation ----------------------------------------------------------------------------


async def escalate_due(
    conn: asyncpg.Connection, *, now: datetime | None = None, limit: int = 100
) -> int:
    """Escalate the open disputes past their time (one transaction; safe beside replicas)."""
    now = now or utc_now()
    async with conn.transaction():
        due = await disputes_store.take_due(conn, now=now, limit=limit)
        if not due:
            return 0
        await disputes_store.mark_escalated(conn, [d["dispute_id"] for d in due], at=now)
        await outbox.append(
            conn,
            [
                DisputeEscalated(**_event_fields(d), occurred_at=now, opened_at=d["opened_at"])
                for d in due
            ],
        )
        return len(due)


async def escalation_scan(pool: asyncpg.Pool, *, idle_s: float = 60.0) -> None:
    """Escalate due disputes, then sleep until the next is due (at most `idle_s`: a dispute
    opened meanwhile, maybe by another replica, is seen by then). Runs until cancelled."""
    while True:
        try:
            async with pool.acquire() as conn:
                while await escalate_due(conn) > 0:
                    pass
                due = await disputes_store.next_due(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # database away
            log.warning("dispute escalation scan failed (%r); retrying", exc)
            due = None
        wait = idle_s if due is None else (due - utc_now()).total_seconds()
        await asyncio.sleep(min(idle_s, max(0.05, wait)))


async def escalate_disputes(runtime: ServiceRuntime[InvoicingSettings]) -> None:
    """The background job: the escalation scan on the service's pool."""
    days = runtime.settings.dispute_escalation_business_days
    await escalation_scan(runtime.pool, idle_s=min(60.0, days * 86_400))
