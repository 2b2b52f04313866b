"""Budgets and allowances across replicas: two order-intake processes on one database, orders
against the same department's monthly budget and the same employee's yearly allowance placed
on both at once. The sum accepted never exceeds the limit, and no order that fits is refused.

Sample company figures: LOGISTICS refuses orders over its monthly budget of 30000.00 (50
workshop cleans at 140.00 = 7000.00: four fit, a fifth does not); employee E-1001 of ASSEMBLY
has a yearly allowance of 2000.00 (a city bike at 384.30 to employees: five fit).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import httpx
import pytest
from support import order_body
from support.order_intake import place, refused_field

pytestmark = pytest.mark.integration

CONCURRENT = 10
BUDGET, CLEANS = (
    Decimal("30000.00"),
    order_body(requester="LOGISTICS", supplier="FACILITIES", sku="WORKSHOP-CLEAN", quantity=50),
)
ALLOWANCE, BIKE = (
    Decimal("2000.00"),
    order_body(
        requester="ASSEMBLY",
        supplier="EMPLOYEE_SHOP",
        sku="SHOP-BIKE-CITY",
        quantity=1,
        employee_id="E-1001",
    ),
)


async def test_replicas_never_overspend_a_budget_or_an_allowance(start_service) -> None:
    replicas = [start_service("order-intake", wait=False) for _ in range(2)]
    for replica in replicas:
        replica.wait_ready()
    clients = [httpx.AsyncClient(base_url=r.url, timeout=30) for r in replicas]
    try:
        answers = await asyncio.gather(
            *(place(clients[n % 2], CLEANS) for n in range(CONCURRENT)),
            *(place(clients[n % 2], BIKE) for n in range(CONCURRENT)),
        )
    finally:
        for client in clients:
            await client.aclose()
    cleans, bikes = answers[:CONCURRENT], answers[CONCURRENT:]
    for limit, answered, fitting, field in (
        (BUDGET, cleans, 4, "total"),
        (ALLOWANCE, bikes, 5, "employee_id"),
    ):
        accepted = [r for r in answered if r.status_code == 201]
        refused = [r for r in answered if r.status_code != 201]
        spent = sum(Decimal(r.json()["total"]) for r in accepted)
        assert spent <= limit, f"{len(accepted)} orders accepted for {spent}, over {limit}"
        assert len(accepted) == fitting, [r.text[:200] for r in refused]
        for response in refused:
            assert response.status_code == 422, response.text
            assert refused_field(response) == field

    conn = await asyncpg.connect(start_service.database_url)
    try:
        committed = {
            row["requester"]: (row["orders"], row["total"])
            for row in await conn.fetch(
                """SELECT requester, count(*) AS orders, sum(total) AS total
                   FROM order_intake.orders WHERE status <> 'cancelled' GROUP BY requester"""
            )
        }
    finally:
        await conn.close()
    assert committed == {
        "LOGISTICS": (4, Decimal("28000.00")),
        "ASSEMBLY": (5, Decimal("1921.50")),
    }, committed
