"""Bring your own company, order intake's part, over real HTTP, broker and database: the
company file intake serves, the admin API (admin keys only) and what its changes do to orders.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, order_body, read_records
from support.order_intake import place, refused_field

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-1"}
BRIGHTLOAF = str(Path(__file__).resolve().parents[2] / "examples/company/brightloaf.yaml")
ADMIN_ROUTES = [
    ("GET", "/v1/admin/departments"),
    ("GET", "/v1/admin/departments/ASSEMBLY"),
    ("PUT", "/v1/admin/departments/ASSEMBLY"),
    ("GET", "/v1/admin/catalogue"),
    ("GET", "/v1/admin/catalogue/FRAME-CITY"),
    ("PUT", "/v1/admin/catalogue/FRAME-CITY"),
    ("GET", "/v1/admin/employees"),
    ("GET", "/v1/admin/employees/E-1001"),
    ("PUT", "/v1/admin/employees/E-1001"),
]


def unique(prefix: str) -> str:
    """A code of its own: the broker (and its reference topic) is shared by the session."""
    return f"{prefix}_{uuid.uuid4().hex[:8].upper()}"


def saddle(sku: str, price: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": "City saddle",
        "supplier": "FRAMES",
        "unit": "piece",
        "standard_cost": "10.00",
        "transfer_price_rule": {"kind": "fixed", "price": price},
        "lead_time_days": 2,
    }


def company_file_with(folder: Path, old: str, new: str) -> str:
    """The Brightloaf company with one change, as a file of its own."""
    path = folder / "company.yaml"
    text = Path(BRIGHTLOAF).read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return str(path)


async def test_the_company_file_is_the_company_intake_serves(
    start_service: Any, broker: Any, tmp_path: Path
) -> None:
    bad = company_file_with(tmp_path, "supplier: MILL", "supplier: MOON")
    with pytest.raises(RuntimeError, match=r"catalogue\[0\]\.supplier: unknown supplier MOON"):
        start_service("order-intake", env={"COMPANY_FILE": bad})

    intake = start_service("order-intake", env={"COMPANY_FILE": BRIGHTLOAF})
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("CAFE_NORTH")) as client:
        departments = (await client.get("/v1/departments")).json()
        catalogue = (await client.get("/v1/catalogue")).json()
        order = await place(
            client,
            order_body(
                requester="CAFE_NORTH", supplier="BAKEHOUSE", sku="CROISSANT-TRAY", quantity=3
            ),
        )
        sample = await place(client, order_body(requester="CAFE_NORTH"))

    assert [d["code"] for d in departments] == [
        "BAKEHOUSE",
        "CAFE_NORTH",
        "DAIRY",
        "MILL",
        "STAFF_SHOP",
    ]
    assert {i["sku"]: i["transfer_price"] for i in catalogue}["CROISSANT-TRAY"] == "36.00"
    assert order.status_code == 201, order.text
    assert (order.json()["total"], order.json()["placed_by_key_id"]) == ("108.00", "cafe_north-1")
    assert sample.status_code == 422 and refused_field(sample) == "supplier"  # not the sample's

    records = await read_records(
        broker.bootstrap_servers,
        [topics.REFERENCE],
        until=lambda rs: any(r.key == b"employee:BL-7" for r in rs),
    )
    keys = {r.key for r in records}
    assert {b"legal_entity:BL-PROD", b"department:CAFE_NORTH", b"catalogue:CROISSANT-TRAY"} <= keys
    croissants = next(r for r in records if r.key == b"catalogue:CROISSANT-TRAY")
    assert croissants.headers["event_type"] == "CatalogueItemDefined"
    assert (croissants.json["transfer_price"], croissants.json["active"]) == ("36.00", True)


async def test_admin_routes_take_admin_keys_only(start_service: Any) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url) as client:
        for method, path in ADMIN_ROUTES:
            body = (await client.get(path, headers=ADMIN)).json() if method == "PUT" else None
            as_department = await client.request(method, path, json=body, headers=auth("ASSEMBLY"))
            anonymous = await client.request(method, path, json=body)
            as_admin = await client.request(method, path, json=body, headers=ADMIN)

            assert as_department.status_code == 403, (method, path, as_department.text)
            assert as_department.headers["content-type"].startswith("application/problem+json")
            assert anonymous.status_code == 401, (method, path)
            assert as_admin.status_code == 200, (method, path, as_admin.text)
        departments = (await client.get("/v1/admin/departments", headers=ADMIN)).json()
        frame = (await client.get("/v1/admin/catalogue/FRAME-CITY", headers=ADMIN)).json()
        missing = await client.get("/v1/admin/employees/E-0", headers=ADMIN)

    assert all(d["active"] and d["changed_by"] == "company-file" for d in departments)
    # a PUT of what GET gave back changes nothing: its history is the file's line only
    assert [(c["changed_by"], c["before"]) for c in frame["history"]] == [("company-file", None)]
    assert frame["transfer_price_rule"] == {"kind": "cost_plus", "markup_pct": "10"}
    assert missing.status_code == 404


async def test_a_price_change_applies_to_the_next_order_only(
    start_service: Any, broker: Any
) -> None:
    intake = start_service("order-intake")
    sku = unique("SADDLE").replace("_", "-")
    url = f"/v1/admin/catalogue/{sku}"
    async with httpx.AsyncClient(base_url=intake.url, headers=ADMIN) as client:
        created = await client.put(url, json=saddle(sku, "12.00"))
        before = await place(client, order_body(sku=sku, quantity=2))
        changed = await client.put(url, json=saddle(sku, "15.00"))
        after = await place(client, order_body(sku=sku, quantity=2))
        first_again = await client.get(
            f"/v1/orders/{before.json()['order_id']}", headers=auth("ASSEMBLY")
        )
        offered = await client.get("/v1/catalogue?supplier=FRAMES", headers=auth("ASSEMBLY"))

    assert (created.status_code, changed.status_code) == (201, 200), changed.text
    assert (before.status_code, after.status_code) == (201, 201), after.text
    assert before.json()["total"] == first_again.json()["total"] == "24.00"
    assert after.json()["total"] == "30.00"
    assert {i["sku"]: i["transfer_price"] for i in offered.json()}[sku] == "15.00"
    history = changed.json()["history"]
    assert [
        (c["changed_by"], c["before"] and c["before"]["transfer_price_rule"]["price"])
        for c in history
    ] == [
        ("admin-1", None),
        ("admin-1", "12.00"),
    ]
    assert history[1]["after"]["transfer_price_rule"] == {"kind": "fixed", "price": "15.00"}

    key = f"catalogue:{sku}".encode()
    records = await read_records(
        broker.bootstrap_servers,
        [topics.REFERENCE],
        until=lambda rs: sum(r.key == key for r in rs) >= 2,
    )
    defined = [r.json for r in records if r.key == key]
    assert [(d["transfer_price"], d["changed_by"]) for d in defined] == [
        ("12.00", "admin-1"),
        ("15.00", "admin-1"),
    ]


async def test_a_department_added_by_an_administrator_orders_at_once(start_service: Any) -> None:
    intake = start_service("order-intake")
    code = unique("CYCLING")
    department = {
        "code": code,
        "name": "Cycling club",
        "legal_entity": "NC-RETAIL",
        "cost_centre": "CC-7000",
        "monthly_budget": "5000.00",
    }
    url = f"/v1/admin/departments/{code}"
    async with httpx.AsyncClient(base_url=intake.url, headers=ADMIN) as client:
        created = await client.put(url, json=department)
        again = await client.put(url, json=department)
        order = await place(client, order_body(requester=code, quantity=1))
        listed = await client.get("/v1/departments", headers=auth(code))
        other_code = await client.put(url, json={**department, "code": "ASSEMBLY"})
        no_entity = await client.put(url, json={**department, "legal_entity": "NC-MOON"})
        malformed = await client.put(url, json={**department, "monthly_budget": "lots"})
        no_supplier = await client.put(
            "/v1/admin/catalogue/SADDLE", json={**saddle("SADDLE", "1.00"), "supplier": "MOON"}
        )
        cycle = await client.put(
            "/v1/admin/catalogue/TUBE-AL-6061",
            json={
                **(await client.get("/v1/admin/catalogue/TUBE-AL-6061")).json(),
                "bill_of_materials": [{"sku": "FRAME-CITY", "quantity": 1}],
            },
        )
        history = (await client.get(url)).json()["history"]

    assert (created.status_code, again.status_code) == (201, 200), created.text
    assert order.status_code == 201, order.text
    assert order.json()["requester"] == code
    assert code in {d["code"] for d in listed.json()}
    assert len(history) == 1  # the second PUT changed nothing
    for refused, field in (
        (other_code, "code"),
        (no_entity, "legal_entity"),
        (malformed, "monthly_budget"),
        (no_supplier, "supplier"),
        (cycle, "bill_of_materials"),
    ):
        assert refused.status_code == 422, refused.text
        assert refused_field(refused) == field
