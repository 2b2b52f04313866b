"""The finance routes of invoicing over HTTP, in process against the real PostgreSQL (no
broker): finance keys close and reopen months, department keys get 403; statements carry
their digest and the same ETag on every read of a closed month; a dispute opens with 201."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from invoicing.config import InvoicingSettings
from invoicing.main import create_app
from support.invoicing_finance import APPLY, bike_order, delivered, learn_sample_company
from support.service import apply_events

FINANCE = {"Authorization": "Bearer dev-finance-1"}
ASSEMBLY = {"Authorization": "Bearer dev-assembly-1"}
RETAIL = {"Authorization": "Bearer dev-retail_ops-1"}


@pytest.fixture
async def invoicing(database: Any) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The app, with the sample company and one invoice (ASSEMBLY to RETAIL_OPS) of the
    current month: the client and that month."""
    settings = InvoicingSettings(
        database_url=database.new_database(),
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing listens: no broker needed here
        environment="test",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        invoice = delivered(bike_order())
        await learn_sample_company(app.state.runtime.pool)
        await apply_events(app.state.runtime.pool, APPLY, invoice)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://invoicing") as c:
            yield c, invoice.occurred_at.strftime("%Y-%m")


async def test_finance_closes_and_reopens_departments_cannot(
    invoicing: tuple[httpx.AsyncClient, str],
) -> None:
    client, period = invoicing
    close = f"/v1/admin/periods/NC-MFG/{period}/close"
    assert (await client.post(close, headers=ASSEMBLY)).status_code == 403
    assert (await client.get("/v1/periods", headers=ASSEMBLY)).status_code == 403
    unknown = await client.post(f"/v1/admin/periods/NC-NOWHERE/{period}/close", headers=FINANCE)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"

    url = f"/v1/statements/ASSEMBLY?period={period}"
    live = await client.get(url, headers=ASSEMBLY)
    assert live.status_code == 200 and live.json()["final"] is False

    closed = await client.post(close, headers=FINANCE, json={"reason": "month end"})
    assert closed.status_code == 200 and closed.json()["changed"] is True
    first = await client.get(url, headers=ASSEMBLY)
    second = await client.get(url, headers=ASSEMBLY)
    assert first.content == second.content and first.headers["ETag"] == second.headers["ETag"]
    body = first.json()
    assert body["final"] is True and body["digest"] == live.json()["digest"]
    assert body["as_supplier"]["totals"]["EUR"]["invoiced"] == "299.00"
    as_csv = await client.get(url, headers={**FINANCE, "Accept": "text/csv"})  # finance reads all
    assert as_csv.headers["X-Statement-Digest"] == body["digest"]
    assert (await client.get(url, headers=RETAIL)).status_code == 403  # not its statement
    again = await client.post(close, headers=FINANCE)
    assert again.status_code == 200 and again.json()["changed"] is False

    reopen = f"/v1/admin/periods/NC-MFG/{period}/reopen"
    assert (await client.post(reopen, headers=FINANCE, json={})).status_code == 422
    misspelt = await client.post(reopen, headers=FINANCE, json={"reasn": "x"})
    assert misspelt.status_code == 422 and "reason" in misspelt.json()["errors"][0]["message"]
    reopened = await client.post(reopen, headers=FINANCE, json={"reason": "late credit"})
    assert reopened.status_code == 200
    (month,) = (await client.get("/v1/periods", headers=FINANCE)).json()
    assert [(h["action"], h["by"], h["reason"]) for h in month["history"]] == [
        ("closed", "finance-1", "month end"),
        ("reopened", "finance-1", "late credit"),
    ]
    assert (await client.post(reopen, headers=FINANCE, json={"reason": "x"})).status_code == 409

    (invoice,) = (await client.get("/v1/invoices", headers=RETAIL)).json()
    disputes = f"/v1/invoices/{invoice['invoice_id']}/disputes"
    opened = await client.post(disputes, headers=RETAIL, json={"amount": "20.00", "reason": "dent"})
    assert opened.status_code == 201 and opened.json()["status"] == "open"
    too_much = await client.post(disputes, headers=RETAIL, json={"amount": "280", "reason": "x"})
    assert too_much.status_code == 422
    assert (
        await client.post(disputes, headers=ASSEMBLY, json={"amount": "1", "reason": "x"})
    ).status_code == 403
    (listed,) = (await client.get("/v1/disputes", headers=FINANCE)).json()
    assert listed["dispute_id"] == opened.json()["dispute_id"]


async def test_finance_reads_every_invoice_and_the_trial_balance_a_department_its_own(
    invoicing: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = invoicing
    listed = await client.get("/v1/invoices", headers=FINANCE)
    assert listed.status_code == 200 and len(listed.json()) == 1
    (invoice,) = listed.json()
    assert (invoice["supplier"], invoice["requester"]) == ("ASSEMBLY", "RETAIL_OPS")
    read = await client.get(f"/v1/invoices/{invoice['invoice_id']}", headers=FINANCE)
    assert read.status_code == 200 and read.json()["total"] == invoice["total"]
    assert (await client.get("/v1/ledger/trial-balance", headers=FINANCE)).status_code == 200
    # a department party to neither side sees none of it
    frames = {"Authorization": "Bearer dev-frames-1"}
    assert (await client.get("/v1/invoices", headers=frames)).json() == []
    hidden = await client.get(f"/v1/invoices/{invoice['invoice_id']}", headers=frames)
    assert hidden.status_code == 404
    other = await client.get("/v1/invoices?department=ASSEMBLY", headers=frames)
    assert other.status_code == 403
