"""Order intake's money over real HTTP, broker and database (issue 21): exchange rates as
reference data (admin routes, FxRateDefined), an order across currencies refused without a
rate and translated with one, a sub-order from the orders topic charged over budget, and the
department's budget read."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from supplychain_contracts import OrderLine, OrderPlaced, topics
from supplychain_contracts.company import sample_company
from support import auth, order_body, poll_http, produce, read_records
from support.order_intake import place, refused_field

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-1"}


def two_currency_company_file(folder: Path) -> str:
    """The sample company with WHEELS in a US subsidiary (USD) and no exchange rate yet."""
    company: dict[str, Any] = json.loads(sample_company().model_dump_json())
    company["legal_entities"].append({"code": "NC-US", "name": "Nordcycle US", "currency": "USD"})
    for department in company["departments"]:
        if department["code"] == "WHEELS":
            department["legal_entity"] = "NC-US"
    path = folder / "two-currencies.json"
    path.write_text(json.dumps(company))
    return str(path)


async def test_rates_price_orders_across_currencies_and_chains_show_in_the_budget(
    start_service, broker, tmp_path: Path
) -> None:
    intake = start_service(
        "order-intake", env={"COMPANY_FILE": two_currency_company_file(tmp_path)}
    )
    wheels = order_body(supplier="WHEELS", sku="WHEEL-28", quantity=2)
    today = datetime.now(UTC).date().isoformat()
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        listed = (await client.get("/v1/departments", headers=auth("ASSEMBLY"))).json()
        currencies = {d["code"]: d["currency"] for d in listed}
        assert (currencies["WHEELS"], currencies["ASSEMBLY"]) == ("USD", "EUR")

        no_rate = await place(client, wheels)
        assert no_rate.status_code == 422 and refused_field(no_rate) == "supplier"
        assert no_rate.json()["detail"] == f"no exchange rate USD->EUR valid on {today}"

        rate = {"rate": "0.9200", "valid_from": "2020-01-01"}
        path = "/v1/admin/fx-rates/USD/EUR"
        forbidden = await client.put(path, json=rate, headers=auth("ASSEMBLY"))
        created = await client.put(path, json=rate, headers=ADMIN)
        same = await client.put(path, json=rate, headers=ADMIN)
        changed = await client.put(path, json={**rate, "rate": "0.9300"}, headers=ADMIN)
        to_itself = await client.put("/v1/admin/fx-rates/USD/USD", json=rate, headers=ADMIN)
        unknown_key = await client.put(path, json={**rate, "rte": "1"}, headers=ADMIN)
        assert forbidden.status_code == 403
        assert (created.status_code, same.status_code, changed.status_code) == (201, 200, 200)
        assert to_itself.status_code == 422 and refused_field(to_itself) == "quote"
        assert unknown_key.status_code == 422
        pair = (await client.get(path, headers=ADMIN)).json()
        assert pair == changed.json()
        [standing] = pair["rates"]
        assert (standing["rate"], standing["valid_from"], standing["changed_by"]) == (
            "0.9300",
            "2020-01-01",
            "admin-1",
        )
        assert [(c["before"] or {}).get("rate") for c in pair["history"]] == [None, "0.9200"]
        listed = (await client.get("/v1/admin/fx-rates", headers=ADMIN)).json()
        assert [(r["base"], r["quote"]) for r in listed] == [("USD", "EUR")]
        assert (await client.get("/v1/admin/fx-rates/EUR/USD", headers=ADMIN)).status_code == 404

        # 2 wheels at 38.50 USD = 77.00 USD, charged 71.61 EUR at 0.93
        placed = await place(client, wheels)
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert (order["currency"], order["total"]) == ("USD", "77.00")
        assert (order["requester_currency"], order["requester_total"]) == ("EUR", "71.61")
        assert order["fx_rate"].startswith("0.93")

        # a sub-order fulfilment raised for ASSEMBLY's chain: 12000 frames at 38.50 EUR
        # (462000.00) takes it over its 400000.00: recorded and flagged, never refused
        sub_order_id = uuid.uuid4()
        sub_order = OrderPlaced(
            order_id=sub_order_id,
            root_order_id=uuid.UUID(order["order_id"]),
            parent_order_id=uuid.UUID(order["order_id"]),
            producer="fulfilment",
            requester="ASSEMBLY",
            supplier="FRAMES",
            lines=(OrderLine(sku="FRAME-CITY", quantity=12_000, unit_price="38.50"),),
        )
        await produce(
            broker.bootstrap_servers,
            topics.ORDERS,
            sub_order.model_dump_json().encode(),
            key=str(sub_order_id).encode(),
            headers={"event_type": "OrderPlaced"},
        )
        recorded = await poll_http(
            client,
            f"/v1/orders/{sub_order_id}",
            headers=auth("ASSEMBLY"),
            until=lambda r: r.status_code == 200,
        )
        assert recorded.json()["over_budget"] is True
        assert recorded.json()["parent_order_id"] == order["order_id"]

        budget = await client.get("/v1/departments/ASSEMBLY/budget", headers=auth("ASSEMBLY"))
        assert budget.status_code == 200, budget.text
        assert budget.json() == {
            "department": "ASSEMBLY",
            "period": today[:7],
            "currency": "EUR",
            "monthly_budget": "400000.00",
            "committed": "462071.61",
            "own_orders": "71.61",
            "sub_orders": "462000.00",
            "remaining": "0.00",
            "overrun": "62071.61",
            "over_budget": True,
            "over_budget_sub_orders": 1,
        }
        theirs = await client.get("/v1/departments/ASSEMBLY/budget", headers=auth("FRAMES"))
        assert theirs.status_code == 403
        bad_month = await client.get(
            "/v1/departments/ASSEMBLY/budget",
            params={"period": "2026-13"},
            headers=auth("ASSEMBLY"),
        )
        assert bad_month.status_code == 422

    records = await read_records(
        broker.bootstrap_servers,
        [topics.REFERENCE],
        until=lambda records: any(
            r.headers.get("event_type") == "FxRateDefined" and r.json["fx_rate"]["rate"] == "0.9300"
            for r in records
        ),
    )
    defined = [r.json["fx_rate"] for r in records if r.headers.get("event_type") == "FxRateDefined"]
    assert {"base": "USD", "quote": "EUR", "rate": "0.9200", "valid_from": "2020-01-01"} in defined
