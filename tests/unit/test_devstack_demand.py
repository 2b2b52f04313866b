"""The simulated demand of `make run` asks for what the sample company can deliver."""

from __future__ import annotations

import random

from supplychain_contracts.company import sample_company
from supplychain_devstack.demand import PURCHASES, order_request


def test_every_simulated_purchase_is_a_valid_order_of_the_sample_company() -> None:
    company = sample_company()
    employees = {e.employee_id: e.department for e in company.employees}
    for purchase in PURCHASES:
        item = company.item(purchase.sku)
        assert item is not None, purchase
        assert item.supplier == purchase.supplier
        assert purchase.requester != purchase.supplier
        if purchase.employee_id is not None:
            assert employees[purchase.employee_id] == purchase.requester
            supplier = company.department(purchase.supplier)
            assert supplier is not None
            assert supplier.employee_shop


def test_order_requests_stay_within_the_purchase_quantities() -> None:
    rng = random.Random(7)
    for purchase in PURCHASES:
        for _ in range(20):
            body = order_request(purchase, rng)
            low, high = purchase.quantity
            assert low <= body["lines"][0]["quantity"] <= high
            assert body["priority"] in ("standard", "rush")
            assert body.get("employee_id") == purchase.employee_id
