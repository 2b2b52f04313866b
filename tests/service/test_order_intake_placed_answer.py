"""POST /v1/orders answers the order as it stored it, without reading it back: the answer is
the one a GET of the order gives right after (placed, warned, pending approval, an employee's
discounted purchase), and a replay answers 200 with the same order. In process over ASGI
against the real PostgreSQL (no broker: placing does not need one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from order_intake.config import OrderIntakeSettings
from order_intake.main import create_app
from support import auth
from support.service import serving

NO_BROKER = "127.0.0.1:9"  # nothing listens there


@pytest.fixture
async def intake(database: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = OrderIntakeSettings(
        database_url=database.new_database(),
        kafka_bootstrap_servers=NO_BROKER,
        environment="test",
    )
    async with serving(create_app(settings)) as client:
        yield client


def body(requester: str, supplier: str, sku: str, quantity: int, **more: Any) -> dict[str, Any]:
    return {
        "requester": requester,
        "supplier": supplier,
        "lines": [{"sku": sku, "quantity": quantity}],
        **more,
    }


# (body, status, how many warnings): one service start for all (it pays for the test)
ORDERS = [
    (body("ASSEMBLY", "FRAMES", "FRAME-CITY", 3, needed_by="2099-01-31"), "placed", 0),
    (body("FACILITIES", "LOGISTICS", "PALLET-MOVE", 1200), "placed", 1),  # over, warned
    (body("MARKETING", "RETAIL_OPS", "DEMO-BIKE-SET", 11), "pending_approval", 0),
    (body("ASSEMBLY", "EMPLOYEE_SHOP", "SHOP-HELMET", 2, employee_id="E-1001"), "placed", 0),
]


async def test_the_answer_is_the_order_as_a_get_reads_it(intake: httpx.AsyncClient) -> None:
    for order, status, warnings in ORDERS:
        headers = {"Idempotency-Key": f"key-{uuid4()}", **auth(order["requester"])}
        placed = await intake.post("/v1/orders", json=order, headers=headers)

        assert placed.status_code == 201, placed.text
        answer = placed.json()
        assert (answer["status"], len(answer["warnings"])) == (status, warnings), answer
        read = await intake.get(f"/v1/orders/{answer['order_id']}", headers=headers)
        assert read.status_code == 200, read.text
        assert answer == read.json()
        replay = await intake.post("/v1/orders", json=order, headers=headers)
        assert (replay.status_code, replay.json()) == (200, answer)
