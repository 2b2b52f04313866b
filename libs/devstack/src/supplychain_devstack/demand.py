"""Simulated demand for `make run`: departments and employees place plausible orders through
the public intake API, as their own systems would, so the chain has traffic to show."""

from __future__ import annotations

import logging
import random
import threading
import uuid
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


# What each internal customer plausibly buys (sample company); sub-orders follow by themselves.
PURCHASES: Final[tuple[Purchase, ...]] = (
    Purchase("RETAIL_OPS", "ASSEMBLY", "EBIKE-CITY", (1, 3), weight=3),
    Purchase("RETAIL_OPS", "ASSEMBLY", "BIKE-CITY", (1, 4), weight=3),
    Purchase("MARKETING", "RETAIL_OPS", "DEMO-BIKE-SET", (1, 1)),
    Purchase("ASSEMBLY", "LOGISTICS", "PALLET-MOVE", (1, 5), weight=2),
    Purchase("FRAMES", "FACILITIES", "WORKSHOP-CLEAN", (1, 1)),
    Purchase("ASSEMBLY", "WHEELS", "WHEEL-28", (2, 8), weight=2),
    Purchase("ASSEMBLY", "EMPLOYEE_SHOP", "SHOP-HELMET", (1, 1), employee_id="E-1001"),
    Purchase("MARKETING", "EMPLOYEE_SHOP", "SHOP-BIKE-CITY", (1, 1), employee_id="E-1003"),
)


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
    """Places an order every `interval_s` seconds on a background thread until stopped."""

    def __init__(self, intake_url: str, *, interval_s: float, seed: int | None = None) -> None:
        self._intake_url = intake_url
        self._interval_s = interval_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demand", daemon=True)
        self.placed = 0
        self.refused = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def place_one(self, client: httpx.Client) -> int:
        purchase = self._rng.choices(PURCHASES, weights=[p.weight for p in PURCHASES])[0]
        response = client.post(
            f"{self._intake_url}/v1/orders",
            json=order_request(purchase, self._rng),
            headers={
                "Idempotency-Key": f"demand-{uuid.uuid4()}",
                # the development key of the requesting department (see supplychain_kit.auth)
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
