"""The soak's demand: varied orders placed through the public intake API at a steady rate.

What is bought comes from the company as order intake lists it (supplychain_devstack.demand:
departments buying finished items, builders buying components, employees buying in the shop,
a tenth rush), with a fixed seed. Requests leave on a fixed schedule (open loop); a request
the platform does not answer (connection refused, timeout, 5xx while PostgreSQL restarts) is
sent again with the same Idempotency-Key until it is accepted, so a fault never loses or
doubles an order. The schedule can be held (the broker's drain point) and is shifted by the
time it was held.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from supplychain_contracts.company import Department, Employee
from supplychain_devstack.demand import (
    DEVELOPMENT_ADMIN_KEY,
    Purchase,
    order_request,
    purchases_for,
)

ADMIN = {"Authorization": f"Bearer {DEVELOPMENT_ADMIN_KEY}"}
UNLIMITED = "999999999999.00"
RETRY_FOR_S = 180.0  # how long one order is retried through outages
RETRY_EVERY_S = 0.5
CONCURRENCY = 128


@dataclass
class Placement:
    """One order the soak places: what, when, and how it went."""

    body: dict[str, Any]
    key: str
    sent_at: float = 0.0  # wall clock of the first attempt
    answered_at: float = 0.0
    status: int = 0  # the final answer's status; 0: never answered
    order_id: str | None = None
    attempts: int = 0
    problem: str = ""

    @property
    def accepted(self) -> bool:
        return self.status in (200, 201) and self.order_id is not None


async def unlimit_company(client: httpx.AsyncClient) -> tuple[Purchase, ...]:
    """No order of the run may be refused for money: every department gets an unlimited
    budget and no approval threshold, every employee an unlimited allowance (through the
    admin API, as an operator would). Returns what the company's departments buy."""
    departments = (await client.get("/v1/admin/departments", headers=ADMIN)).raise_for_status()
    for current in departments.json():
        body = {k: v for k, v in current.items() if k in Department.model_fields}
        body.update(monthly_budget=UNLIMITED, approval_threshold=None)
        answer = await client.put(
            f"/v1/admin/departments/{current['code']}", json=body, headers=ADMIN
        )
        answer.raise_for_status()
    employees = (await client.get("/v1/admin/employees", headers=ADMIN)).raise_for_status()
    for current in employees.json():
        body = {k: v for k, v in current.items() if k in Employee.model_fields}
        body.update(yearly_allowance=UNLIMITED)
        answer = await client.put(
            f"/v1/admin/employees/{current['employee_id']}", json=body, headers=ADMIN
        )
        answer.raise_for_status()
    catalogue = (await client.get("/v1/admin/catalogue", headers=ADMIN)).raise_for_status()
    departments = (await client.get("/v1/admin/departments", headers=ADMIN)).raise_for_status()
    employees = (await client.get("/v1/admin/employees", headers=ADMIN)).raise_for_status()
    purchases = purchases_for(
        [d for d in departments.json() if d.get("active", True)],
        [i for i in catalogue.json() if i.get("active", True)],
        [e for e in employees.json() if e.get("active", True)],
    )
    # make run's simulator weighs chains 3:1; here 1:1, so a chain is about a quarter of
    # the orders (each raises 3 to 6 sub-orders) and the rate that keeps up is higher
    return tuple(replace(p, weight=1) for p in purchases)


def plan(purchases: tuple[Purchase, ...], count: int, seed: int) -> list[Placement]:
    rng = random.Random(seed)
    chosen = rng.choices(purchases, weights=[p.weight for p in purchases], k=count)
    return [
        Placement(body=order_request(p, rng), key=f"soak-{seed}-{i}-{uuid.uuid4().hex[:8]}")
        for i, p in enumerate(chosen)
    ]


@dataclass
class Load:
    """Places `placements` at `rate` per second through `client` (order intake)."""

    client: httpx.AsyncClient
    placements: list[Placement]
    rate: float
    open: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: the schedule holds
    sent: int = 0
    in_flight: int = 0
    held_s: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0

    async def run(self) -> None:
        self.open.set()
        gate = asyncio.Semaphore(CONCURRENCY)
        loop = asyncio.get_running_loop()
        began = loop.time()
        self.started_at = time.time()
        tasks: list[asyncio.Task[None]] = []
        for index, placement in enumerate(self.placements):
            if not self.open.is_set():
                held_from = loop.time()
                await self.open.wait()
                self.held_s += loop.time() - held_from
            due = began + self.held_s + index / self.rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            await gate.acquire()
            self.sent += 1
            self.in_flight += 1
            task = asyncio.create_task(self._place(placement))
            task.add_done_callback(lambda _task: self._done(gate))
            tasks.append(task)
        await asyncio.gather(*tasks)
        self.finished_at = time.time()

    def _done(self, gate: asyncio.Semaphore) -> None:
        gate.release()
        self.in_flight -= 1

    async def quiet(self, timeout: float = 60) -> None:
        """Hold the schedule and wait until no request is in flight."""
        self.open.clear()
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def resume(self) -> None:
        self.open.set()

    async def _place(self, placement: Placement) -> None:
        placement.sent_at = time.time()
        requester = placement.body["requester"].lower()
        headers = {
            "Idempotency-Key": placement.key,
            "Authorization": f"Bearer dev-{requester}-1",
        }
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            placement.attempts += 1
            try:
                answer = await self.client.post("/v1/orders", json=placement.body, headers=headers)
            except httpx.HTTPError as exc:
                placement.problem = repr(exc)[:200]
            else:
                placement.status = answer.status_code
                if answer.status_code < 500:
                    placement.answered_at = time.time()
                    if answer.status_code in (200, 201):
                        placement.order_id = answer.json()["order_id"]
                    else:
                        placement.problem = answer.text[:300]
                    return
                placement.problem = answer.text[:200]
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(RETRY_EVERY_S)

    @property
    def accepted(self) -> list[Placement]:
        return [p for p in self.placements if p.accepted]
