"""The simulated demand of `make run` asks for what the loaded company can deliver."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from supplychain_contracts.company import Company, sample_company
from supplychain_contracts.company_file import load_company_file
from supplychain_devstack.demand import Purchase, order_request, purchases_for

SECOND = Path(__file__).resolve().parents[2] / "examples" / "company" / "brightloaf.yaml"


def _as_published(company: Company) -> tuple[list[Any], list[Any], list[Any]]:
    """The company as order intake's admin API lists it (the company file's objects)."""
    data = json.loads(company.model_dump_json())
    return data["departments"], data["catalogue"], data["employees"]


@pytest.mark.parametrize(
    "company", [sample_company(), load_company_file(SECOND)], ids=lambda c: c.name
)
def test_every_simulated_purchase_is_a_valid_order_of_the_company(company: Company) -> None:
    purchases = purchases_for(*_as_published(company))
    assert purchases
    employees = {e.employee_id: e.department for e in company.employees}
    for purchase in purchases:
        item = company.item(purchase.sku)
        assert item is not None, purchase
        assert item.supplier == purchase.supplier
        supplier = company.department(purchase.supplier)
        assert supplier is not None
        if purchase.employee_id is not None:
            assert employees[purchase.employee_id] == purchase.requester
            assert supplier.employee_shop
        else:
            assert purchase.requester != purchase.supplier
            assert not supplier.employee_shop
    # the chains are there: something made from components is bought
    assert any(company.item(p.sku).bill_of_materials for p in purchases)  # type: ignore[union-attr]


def test_a_component_is_bought_by_the_department_that_builds_with_it() -> None:
    purchases = purchases_for(*_as_published(load_company_file(SECOND)))
    flour = {p.requester for p in purchases if p.sku == "FLOUR-RYE-25KG"}
    assert flour == {"BAKEHOUSE"}
    croissants = {p.requester for p in purchases if p.sku == "CROISSANT-TRAY"}
    assert croissants == {"MILL", "DAIRY", "CAFE_NORTH"}
    assert {p.employee_id for p in purchases if p.employee_id} == {"BL-7"}


def test_order_requests_stay_within_the_purchase_quantities() -> None:
    rng = random.Random(7)
    for purchase in purchases_for(*_as_published(sample_company())):
        for _ in range(5):
            body = order_request(purchase, rng)
            low, high = purchase.quantity
            assert low <= body["lines"][0]["quantity"] <= high
            assert body["priority"] in ("standard", "rush")
            assert body.get("employee_id") == purchase.employee_id
    assert isinstance(purchase, Purchase)
