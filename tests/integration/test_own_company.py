"""A company of the user's own, not the sample: loaded from a file by the owners of its
reference data only, learnt by every other service from the reference topic, changed while
it runs through the admin APIs, and rebuilt after the embedded broker forgot its topics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, has_event, poll_http, read_records

pytestmark = pytest.mark.integration

SECOND_COMPANY = str(Path(__file__).resolve().parents[2] / "examples/company/brightloaf.yaml")
OWNERS = {"COMPANY_FILE": SECOND_COMPANY}  # only the owners read the file
ADMIN = {"Authorization": "Bearer dev-admin-1"}
FAST_AUTOPILOT = {
    "FULFILMENT_AUTOPILOT": "true",
    "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_START_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_POLL_INTERVAL_MS": "50",
}


def start_company(start_service: Any) -> dict[str, Any]:
    return {
        "order-intake": start_service("order-intake", env=OWNERS),
        "monitoring": start_service("monitoring", env=OWNERS),
        "fulfilment": start_service("fulfilment", env=FAST_AUTOPILOT),
        "invoicing": start_service("invoicing"),
    }


async def wait_for_reference(
    client: httpx.AsyncClient, url: str, at_least: dict[str, int]
) -> dict[str, Any]:
    def known(response: httpx.Response) -> bool:
        entities = response.json().get("entities", {})
        return all(entities.get(kind, 0) >= count for kind, count in at_least.items())

    response = await poll_http(client, f"{url}/v1/reference/status", until=known, timeout=30)
    return dict(response.json())


async def place(
    client: httpx.AsyncClient, url: str, requester: str, supplier: str, sku: str, key: str
) -> dict[str, Any]:
    response = await client.post(
        f"{url}/v1/orders",
        json={"requester": requester, "supplier": supplier, "lines": [{"sku": sku, "quantity": 1}]},
        headers={**auth(requester), "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def invoiced(bootstrap: str, order_id: str) -> list[Any]:
    records = await read_records(
        bootstrap,
        [topics.INVOICING],
        until=has_event(order_id, "InvoiceIssued"),
        timeout=60,
    )
    return [r.json for r in records if r.json.get("order_id") == order_id]


async def test_a_second_company_from_a_file_runs_a_chain_through_all_four_services(
    start_service, broker
) -> None:
    services = start_company(start_service)
    async with httpx.AsyncClient(timeout=10) as client:
        # the non-owners learnt the company from the reference topic alone
        for name in ("fulfilment", "invoicing"):
            await wait_for_reference(client, services[name].url, {"department": 5, "catalogue": 4})
        intake = services["order-intake"].url
        codes = [
            d["code"]
            for d in (await client.get(f"{intake}/v1/departments", headers=auth("MILL"))).json()
        ]
        assert "BAKEHOUSE" in codes and "ASSEMBLY" not in codes
        order = await place(
            client, intake, "CAFE_NORTH", "BAKEHOUSE", "CROISSANT-TRAY", "brightloaf-0001"
        )
        order_id = order["order_id"]
        (invoice,) = [
            e
            for e in await invoiced(broker.bootstrap_servers, order_id)
            if e["event_type"] == "InvoiceIssued"
        ]
        assert invoice["supplier"] == "BAKEHOUSE" and invoice["requester"] == "CAFE_NORTH"
        assert invoice["total"] == order["total"]
        listed = (
            await client.get(f"{services['invoicing'].url}/v1/invoices", headers=auth("BAKEHOUSE"))
        ).json()
        assert order_id in str(listed)
        # the sub-orders went to the mill and the dairy, from the bakery's bill of materials
        handoffs = (
            await poll_http(
                client,
                f"{services['monitoring'].url}/v1/orders/{order_id}/handoffs",
                headers=auth("CAFE_NORTH"),
                until=lambda r: (
                    r.status_code == 200 and {"MILL", "DAIRY"} <= {h["supplier"] for h in r.json()}
                ),
            )
        ).json()
        acceptance = next(
            h for h in handoffs if h["order_id"] == order_id and h["stage"] == "acceptance"
        )
        # the bilateral policy of the file (BAKEHOUSE for CAFE_NORTH: 60 s), not a default
        assert acceptance["target_seconds"] == 60


async def test_admin_changes_reach_every_service(start_service, broker) -> None:
    services = start_company(start_service)
    intake, monitoring = services["order-intake"].url, services["monitoring"].url
    async with httpx.AsyncClient(timeout=10) as client:
        for name in ("fulfilment", "invoicing"):
            await wait_for_reference(client, services[name].url, {"department": 5})
        # department keys may not change reference data
        lab = {
            "code": "PASTRY_LAB",
            "name": "Pastry lab",
            "legal_entity": "BL-PROD",
            "cost_centre": "K-250",
            "monthly_budget": "9000.00",
        }
        refused = await client.put(
            f"{intake}/v1/admin/departments/PASTRY_LAB", json=lab, headers=auth("BAKEHOUSE")
        )
        assert refused.status_code == 403
        created = await client.put(
            f"{intake}/v1/admin/departments/PASTRY_LAB", json=lab, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        eclair = {
            "sku": "ECLAIR-BOX",
            "name": "Box of 12 eclairs",
            "supplier": "PASTRY_LAB",
            "unit": "box",
            "standard_cost": "10.00",
            "transfer_price_rule": {"kind": "fixed", "price": "15.00"},
            "lead_time_days": 1,
        }
        assert (
            await client.put(f"{intake}/v1/admin/catalogue/ECLAIR-BOX", json=eclair, headers=ADMIN)
        ).status_code == 201
        policy = {
            "supplier": "PASTRY_LAB",
            "targets_seconds": {
                "acceptance": 90,
                "fulfilment": 600,
                "delivery": 120,
                "invoicing": 60,
                "end_to_end": 900,
            },
            "service_credit_pct": "4",
        }
        answer = await client.put(
            f"{monitoring}/v1/admin/sla-policies/PASTRY_LAB", json=policy, headers=ADMIN
        )
        assert answer.status_code == 201, answer.text
        for name in ("fulfilment", "invoicing"):
            await wait_for_reference(client, services[name].url, {"department": 6, "catalogue": 5})

        # the new department is ordered from, fulfilled by the autopilot, invoiced and timed
        first = await place(
            client, intake, "CAFE_NORTH", "PASTRY_LAB", "ECLAIR-BOX", "pastry-lab-0001"
        )
        events = await invoiced(broker.bootstrap_servers, first["order_id"])
        assert [e["total"] for e in events if e["event_type"] == "InvoiceIssued"] == ["15.00"]

        # a price change applies to new orders only; a new SLA version to new clocks only
        eclair["transfer_price_rule"] = {"kind": "fixed", "price": "18.00"}
        changed = await client.put(
            f"{intake}/v1/admin/catalogue/ECLAIR-BOX", json=eclair, headers=ADMIN
        )
        assert changed.status_code == 200
        policy["targets_seconds"]["acceptance"] = 45
        assert (
            await client.put(
                f"{monitoring}/v1/admin/sla-policies/PASTRY_LAB", json=policy, headers=ADMIN
            )
        ).status_code == 200
        history = (
            await client.get(f"{intake}/v1/admin/catalogue/ECLAIR-BOX", headers=ADMIN)
        ).json()
        assert len(history["history"]) == 2
        second = await place(
            client, intake, "CAFE_NORTH", "PASTRY_LAB", "ECLAIR-BOX", "pastry-lab-0002"
        )
        assert second["total"] == "18.00"
        events = await invoiced(broker.bootstrap_servers, second["order_id"])
        assert [e["total"] for e in events if e["event_type"] == "InvoiceIssued"] == ["18.00"]
        targets = {}
        for order in (first, second):
            handoffs = (
                await client.get(
                    f"{monitoring}/v1/orders/{order['order_id']}/handoffs",
                    headers=auth("CAFE_NORTH"),
                )
            ).json()
            targets[order["order_id"]] = next(
                h["target_seconds"] for h in handoffs if h["stage"] == "acceptance"
            )
        assert targets == {first["order_id"]: 90, second["order_id"]: 45}


async def test_reference_data_is_rebuilt_after_the_embedded_broker_forgot_its_topics(
    start_service, broker, database, needs_embedded_broker
) -> None:
    intake = start_service("order-intake", env=OWNERS)
    broker.kill()
    await broker.restart()  # memory storage: every topic is empty again
    intake.stop()
    intake = start_service("order-intake", env=OWNERS)  # republishes at start
    fresh = start_service("invoicing", env={"DATABASE_URL": database.new_database()})
    async with httpx.AsyncClient(timeout=10) as client:
        status = await wait_for_reference(
            client, fresh.url, {"department": 5, "catalogue": 4, "legal_entity": 2}
        )
    assert status["entities"]["department"] == 5
