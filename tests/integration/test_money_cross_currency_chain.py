"""A production chain across two currencies, placed through order intake of a group whose US
subsidiary buys from its German parent (examples/company/northwind.yaml), worked by
fulfilment's autopilot and charged by invoicing on the real broker and database.

Each order is priced in its supplier's currency and charged to its requester in the
requester's currency at one rate, the rate of the order's day; the group view of the trial
balance eliminates the inter-company charges to exactly zero in the group currency.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from supplychain_contracts.company_file import load_company_file
from supplychain_contracts.fx import rate_on
from supplychain_contracts.money import translate
from support import auth, order_body, poll_http
from support.order_intake import place

pytestmark = pytest.mark.integration

COMPANY_FILE = Path(__file__).resolve().parents[2] / "examples" / "company" / "northwind.yaml"
COMPANY = load_company_file(COMPANY_FILE)
FINANCE = {"Authorization": "Bearer dev-finance-1"}
# SALES_US (USD) buys a valve kit from ASSEMBLY_US (USD), which buys two valve bodies from
# MACHINING (EUR), which buys two castings from CASTING (EUR): three orders, one across.
CHAIN = {"ASSEMBLY_US": "SALES_US", "MACHINING": "ASSEMBLY_US", "CASTING": "MACHINING"}


def currency_of(department: str) -> str:
    found = COMPANY.department(department)
    assert found is not None
    entity = next(e for e in COMPANY.legal_entities if e.code == found.legal_entity)
    return entity.currency


async def test_a_chain_across_currencies_is_charged_at_the_days_rate_and_eliminates_to_zero(
    start_service: Any,
) -> None:
    company = {"COMPANY_FILE": str(COMPANY_FILE), "LOAD_SAMPLE_COMPANY": "false"}
    intake = start_service("order-intake", env=company)
    start_service(
        "fulfilment",
        env={
            "FULFILMENT_AUTOPILOT": "true",
            "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0",
            "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.2",
            "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0",
        },
    )
    invoicing = start_service("invoicing", env={"GROUP_CURRENCY": COMPANY.currency})
    async with (
        httpx.AsyncClient(base_url=intake.url, timeout=30) as intake_client,
        httpx.AsyncClient(base_url=invoicing.url, timeout=30) as invoicing_client,
    ):
        placed = await place(
            intake_client, order_body("SALES_US", "ASSEMBLY_US", "VALVE-KIT", quantity=1)
        )
        assert placed.status_code == 201, placed.text
        root = placed.json()
        assert (root["currency"], root["requester_currency"]) == ("USD", "USD")

        def chain_invoiced(response: httpx.Response) -> bool:
            mine = [i for i in response.json() if i["root_order_id"] == root["order_id"]]
            return response.status_code == 200 and len(mine) == len(CHAIN)

        listing = await poll_http(
            invoicing_client,
            "/v1/invoices?limit=500",
            headers=FINANCE,
            until=chain_invoiced,
            timeout=60,
        )
        invoices = {
            i["supplier"]: i for i in listing.json() if i["root_order_id"] == root["order_id"]
        }
        assert {s: i["requester"] for s, i in invoices.items()} == CHAIN
        for supplier, invoice in invoices.items():
            requester = invoice["requester"]
            assert invoice["currency"] == currency_of(supplier)
            if currency_of(requester) == currency_of(supplier):
                assert invoice.get("fx_rate") is None
                continue
            # MACHINING (EUR) -> ASSEMBLY_US (USD): the derived inverse of the USD/EUR rate
            day = date.fromisoformat(invoice["issued_at"][:10])
            rate = rate_on(COMPANY.fx_rates, currency_of(supplier), currency_of(requester), day)
            assert rate is not None
            assert invoice["requester_currency"] == currency_of(requester)
            assert Decimal(invoice["fx_rate"]) == rate
            total = Decimal(invoice["total"])
            assert Decimal(invoice["requester_total"]) == translate(
                total, rate, currency_of(requester)
            )
            sub_order = await intake_client.get(
                f"/v1/orders/{invoice['order_id']}", headers=auth(requester)
            )
            assert sub_order.status_code == 200, sub_order.text
            assert Decimal(sub_order.json()["requester_total"]) == Decimal(
                invoice["requester_total"]
            ), "the budget and the invoice charge the requester the same amount"

        balance = await invoicing_client.get("/v1/ledger/trial-balance", headers=FINANCE)
        assert balance.status_code == 200, balance.text
        group = balance.json()["group"]
        assert group["currency"] == "EUR" and group["complete"] is True
        assert group["eliminations"], "an inter-company charge is eliminated in the group view"
        for elimination in group["eliminations"]:
            assert Decimal(elimination["balance"]) == 0, elimination
        assert Decimal(group["eliminated"]["balance"]) == 0
        for section in balance.json()["currencies"]:
            assert section["balanced"] is True, section
        assert {s["currency"] for s in balance.json()["currencies"]} == {"EUR", "USD"}
