"""What the soak reads at the end: the outbox tables (as an operator reads them), invoices
and credit notes from the statements, the trial balance and order intake's statuses (over
the services' APIs, as each department reads its own)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

SCHEMAS = ("order_intake", "fulfilment", "invoicing", "monitoring")
# a row younger than this and not yet sent when the outboxes are read is still in flight
# (monitoring's SLA clocks of blocked chains go on firing after the orders are quiet)
IN_FLIGHT_S = 10
# the event types whose payloads the checks read
WANTED = {"OrderPlaced", "OrderDelivered", "InvoiceIssued", "SlaBreached", "CreditNoteIssued"}


@dataclass
class Outboxes:
    rows: dict[str, list[asyncpg.Record]] = field(default_factory=dict)  # schema -> rows
    payloads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # event type -> ...


async def read_outboxes(database_url: str) -> Outboxes:
    conn = await asyncpg.connect(database_url)
    found = Outboxes()
    try:
        for schema in SCHEMAS:
            rows = await conn.fetch(
                f"SELECT event_id::text, topic, event_type, published_at, "
                f"now() - created_at < make_interval(secs => {IN_FLIGHT_S}) AS recent, "
                f"CASE WHEN event_type = ANY($1::text[]) THEN payload END AS payload "
                f'FROM "{schema}".outbox',
                sorted(WANTED),
            )
            found.rows[schema] = rows
            for r in rows:
                if r["payload"] is not None:
                    found.payloads.setdefault(r["event_type"], []).append(json.loads(r["payload"]))
    finally:
        await conn.close()
    return found


async def table_sizes(database_url: str) -> dict[str, dict[str, int]]:
    """Rows and bytes (indexes included) of each service's inbox and outbox at the end: what
    their retention keeps at the run's rate."""
    conn = await asyncpg.connect(database_url)
    sizes: dict[str, dict[str, int]] = {}
    try:
        for schema in SCHEMAS:
            for table in ("inbox", "outbox"):
                name = f'"{schema}".{table}'
                sizes[f"{schema}.{table}"] = {
                    "rows": await conn.fetchval(f"SELECT count(*) FROM {name}"),
                    "bytes": await conn.fetchval(
                        "SELECT pg_total_relation_size($1::regclass)", name
                    ),
                }
    finally:
        await conn.close()
    return sizes


async def read_invoices(
    invoicing_url: str, departments: list[str], periods: list[str]
) -> dict[str, dict[str, Any]]:
    """Every invoice with the credit notes against it (invoice id → invoice), from each
    department's statements as supplier of the periods (as each department reads its own)."""
    invoices: dict[str, dict[str, Any]] = {}
    notes: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=invoicing_url, timeout=120) as client:
        for code in departments:
            headers = {"Authorization": f"Bearer dev-{code.lower()}-1"}
            for period in periods:
                answer = await client.get(
                    f"/v1/statements/{code}", params={"period": period}, headers=headers
                )
                answer.raise_for_status()
                section = answer.json()["as_supplier"]
                for invoice in section["invoices"]:
                    invoices[invoice["invoice_id"]] = {**invoice, "credit_notes": []}
                notes += section["credit_notes"]
    for note in notes:
        # the reason says why: "<stage> stage breached its <n>s target" or "order cancelled"
        kind = "sla_credit" if " stage breached " in note["reason"] else "other"
        invoices[note["invoice_id"]]["credit_notes"].append({**note, "kind": kind})
    return invoices


async def read_trial_balance(invoicing_url: str) -> dict[str, Any]:
    """The whole ledger, as finance reads it (a department reads its own lines only)."""
    async with httpx.AsyncClient(base_url=invoicing_url, timeout=60) as client:
        answer = await client.get(
            "/v1/ledger/trial-balance", headers={"Authorization": "Bearer dev-finance-1"}
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


async def intake_view(database_url: str, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Why intake shows an invoiced order otherwise (a diagnosis, read from its tables): for
    each of those invoices, whether intake's inbox holds the InvoiceIssued (consumed) or not
    (never read from the topic), the order's timeline, and when the invoice was sent."""
    if not invoices:
        return []
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT e.event_id::text AS event_id, e.order_id::text AS order_id,
                   EXISTS (SELECT 1 FROM order_intake.inbox i WHERE i.event_id = e.event_id)
                       AS consumed,
                   (SELECT status FROM order_intake.orders o WHERE o.order_id = e.order_id)
                       AS status,
                   (SELECT string_agg(t.event_type, ',' ORDER BY t.occurred_at)
                    FROM order_intake.order_timeline t WHERE t.order_id = e.order_id)
                       AS timeline,
                   (SELECT published_at::text FROM invoicing.outbox b
                    WHERE b.event_id = e.event_id) AS published_at
               FROM unnest($1::uuid[], $2::uuid[]) AS e(event_id, order_id)""",
            [i["event_id"] for i in invoices],
            [i["order_id"] for i in invoices],
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows]


async def read_statuses(intake_url: str, departments: list[str]) -> dict[str, str]:
    """Order intake's status of every order each department placed (order id → status)."""
    statuses: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=intake_url, timeout=60) as client:

        async def one(code: str) -> None:
            headers = {"Authorization": f"Bearer dev-{code.lower()}-1"}
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = await client.get("/v1/orders", params=params, headers=headers)
                page.raise_for_status()
                body = page.json()
                statuses.update({o["order_id"]: o["status"] for o in body["orders"]})
                cursor = body["next_cursor"]
                if not cursor:
                    return

        await asyncio.gather(*(one(code) for code in departments))
    return statuses
