"""Simulated demand for `make run`: departments and employees place plausible orders through
the public intake API, as their own systems would, so the chain has traffic to show."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purchase:
    requester: str
    supplier: str
    sku: str
    quantity: tuple[int, int]  # inclusive range
    employee_id: str | None = None
    weight: int = 1


# The development admin key of local and test (supplychain_kit.http.auth): it reads the company.
DEVELOPMENT_ADMIN_KEY: Final = "dev-admin-1"
# How often the simulator reads the company again (departments, catalogue and employees
# change while it runs).
REFRESH_S: Final = 60.0


def purchases_for(
    departments: Sequence[Mapping[str, Any]],
    catalogue: Sequence[Mapping[str, Any]],
    employees: Sequence[Mapping[str, Any]] = (),
) -> tuple[Purchase, ...]:
    """What each internal customer of the company plausibly buys, read from its reference data
    (as order intake's admin API lists it: the company file's objects): a component is bought by the department that builds with
    it, a finished item by every other department, an employee-shop item by each employee.
    Items made from components weigh more: their sub-orders make the interesting chains."""
    shops = {d["code"] for d in departments if d.get("employee_shop")}
    ordering = [d["code"] for d in departments if d["code"] not in shops]
    builders: dict[str, set[str]] = {}
    for item in catalogue:
        for component in item.get("bill_of_materials") or ():
            builders.setdefault(component["sku"], set()).add(item["supplier"])
    purchases: list[Purchase] = []
    for item in catalogue:
        sku, supplier = item["sku"], item["supplier"]
        if supplier in shops:
            if item.get("list_price") is not None:
                purchases += [
                    Purchase(e["department"], supplier, sku, (1, 1), employee_id=e["employee_id"])
                    for e in employees
                ]
            continue
        chain = bool(item.get("bill_of_materials"))
        requesters = sorted(builders.get(sku) or set(ordering) - {supplier})
        purchases += [
            Purchase(code, supplier, sku, (1, 3) if chain else (1, 5), weight=3 if chain else 1)
            for code in requesters
            if code != supplier
        ]
    return tuple(purchases)


def order_request(purchase: Purchase, rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requester": purchase.requester,
        "supplier": purchase.supplier,
        "lines": [{"sku": purchase.sku, "quantity": rng.randint(*purchase.quantity)}],
        "priority": "rush" if rng.random() < 0.1 else "standard",
    }
    if purchase.employee_id:
        body["employee_id"] = purchase.employee_id
    return body


class DemandSimulator:
    """Places an order every `interval_s` seconds on a background thread until stopped, for
    whatever company order intake runs (read through its public API, refreshed each minute)."""

    def __init__(self, intake_url: str, *, interval_s: float, seed: int | None = None) -> None:
        self._intake_url = intake_url
        self._interval_s = interval_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demand", daemon=True)
        self._purchases: tuple[Purchase, ...] = ()
        self._read_at = -REFRESH_S
        self.placed = 0
        self.refused = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def read_company(self, client: httpx.Client) -> tuple[Purchase, ...]:
        """The purchases of the company order intake runs now (development keys: local only)."""
        if time.monotonic() - self._read_at < REFRESH_S and self._purchases:
            return self._purchases
        reader = {"Authorization": f"Bearer {DEVELOPMENT_ADMIN_KEY}"}
        departments = client.get(f"{self._intake_url}/v1/admin/departments", headers=reader)
        catalogue = client.get(f"{self._intake_url}/v1/admin/catalogue", headers=reader)
        employees = client.get(f"{self._intake_url}/v1/admin/employees", headers=reader)
        for answer in (departments, catalogue, employees):
            answer.raise_for_status()
        self._purchases = purchases_for(
            [d for d in departments.json() if d.get("active", True)],
            [i for i in catalogue.json() if i.get("active", True)],
            [e for e in employees.json() if e.get("active", True)],
        )
        self._read_at = time.monotonic()
        return self._purchases

    def place_one(self, client: httpx.Client) -> int:
        purchases = self.read_company(client)
        if not purchases:
            return 0
        purchase = self._rng.choices(purchases, weights=[p.weight for p in purchases])[0]
        response = client.post(
            f"{self._intake_url}/v1/orders",
            json=order_request(purchase, self._rng),
            headers={
                "Idempotency-Key": f"demand-{uuid.uuid4()}",
                # the development key of the requesting department (see supplychain_kit.http.auth)
                "Authorization": f"Bearer dev-{purchase.requester.lower()}-1",
            },
        )
        if response.status_code == 201:
            self.placed += 1
        else:  # a budget or allowance running out is part of the simulation
            self.refused += 1
            log.info("demand: %s refused: %s", purchase.sku, response.text[:200])
        return response.status_code

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(self._interval_s):
                try:
                    self.place_one(client)
                except httpx.HTTPError as exc:
                    log.warning("demand: intake not reachable: %r", exc)
