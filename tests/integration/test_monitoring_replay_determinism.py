"""The real `python -m monitoring.replay` agrees with live (issue 16, item 9), on one stack for
the module (embedded Tansu with three partitions per topic, the four services as processes,
the autopilot working the orders):

- after a mixed load (rush and standard orders, a requester with its own SLA policy, e-bike
  and bike chains with sub-orders three levels deep, an order cancelled at once: its work
  cancelled, or the cancellation refused if it lost the race) it reports no difference and
  exits 0, whichever topic it happens to read first;
- with stages in the database older than anything the topics hold (as after `make run`
  restarted its in-memory broker) it compares only the window the topics cover, names that
  window, and exits 0; an event inside the window the topics lack still shows (exit 1).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Silent
from supplychain_contracts import (
    OrderAccepted,
    OrderPlaced,
    OrderShipped,
    Priority,
    follow_up,
)
from supplychain_contracts.company import sample_company
from supplychain_devstack.processes import free_port
from supplychain_devstack.services import SERVICES, ServiceProcess
from supplychain_devstack.tansu import TANSU_CLIENT_ENV, EmbeddedTansu
from supplychain_devstack.topics import create_topics
from supplychain_kit import db
from support import auth, poll_http, reference_counts, wait_for_reference
from support.events import order_placed
from support.monitoring import run_replay
from support.service import apply_events

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-1"}
# A policy of its own for RETAIL_OPS buying from LOGISTICS (the sample company has none).
REQUESTER_POLICY = {
    "supplier": "LOGISTICS",
    "requester": "RETAIL_OPS",
    "targets_seconds": {"acceptance": 25, "fulfilment": 50, "delivery": 40, "end_to_end": 200},
}
# (requester, supplier, sku, priority, orders in its chain)
LOAD = (
    ("RETAIL_OPS", "ASSEMBLY", "EBIKE-CITY", "rush", 7),  # the case of the issue
    ("RETAIL_OPS", "ASSEMBLY", "BIKE-CITY", "standard", 6),
    ("FACILITIES", "ASSEMBLY", "EBIKE-CITY", "standard", 7),
    ("RETAIL_OPS", "LOGISTICS", "PALLET-MOVE", "rush", 1),  # the requester's own policy
    ("ASSEMBLY", "LOGISTICS", "PALLET-MOVE", "standard", 1),
    ("RETAIL_OPS", "FACILITIES", "WORKSHOP-CLEAN", "rush", 1),
)
STAGES_PER_ORDER = 5


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, database: Any
) -> Iterator[dict[str, ServiceProcess]]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("needs a broker of its own (the embedded Tansu)")
    root: Path = tmp_path_factory.mktemp("replay-determinism")
    tansu = EmbeddedTansu(port=free_port(), log_file=root / "tansu.log")
    tansu.start()
    asyncio.run(create_topics(tansu.bootstrap_servers, partitions=3))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap_servers,
        "DATABASE_URL": database.new_database(),
        **TANSU_CLIENT_ENV,
        "SUPPLYCHAIN_ENVIRONMENT": "test",
        "OUTBOX_POLL_INTERVAL_MS": "50",
        "CONSUMER_RETRY_BACKOFF_MS": "20",
        "FULFILMENT_AUTOPILOT": "true",
        "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.1",
        "FULFILMENT_AUTOPILOT_START_DELAY_S": "0",
        "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.2",
        "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.1",
        "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": "0",
    }
    services = {
        name: ServiceProcess(
            name=name, port=free_port(), env={**env, "CONSUMER_GROUP": name}, log_dir=root
        )
        for name in SERVICES
    }
    try:
        for service in services.values():
            service.start()
        for service in services.values():
            service.wait_ready()
        counts = reference_counts(sample_company())
        for name in ("fulfilment", "invoicing"):
            wait_for_reference(services[name].url, at_least=counts, timeout=60)
        yield services
    finally:
        for service in services.values():
            service.stop()
        tansu.stop()


async def place_load(intake: str) -> list[tuple[str, int]]:
    """Every order of LOAD; (root order id, orders in its chain)."""
    placed: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=intake) as client:
        for requester, supplier, sku, priority, chain in LOAD:
            response = await client.post(
                "/v1/orders",
                json={
                    "requester": requester,
                    "supplier": supplier,
                    "priority": priority,
                    "lines": [{"sku": sku, "quantity": 1}],
                },
                headers={**auth(requester), "Idempotency-Key": f"replay-{uuid.uuid4()}"},
            )
            assert response.status_code == 201, response.text
            placed.append((response.json()["order_id"], chain))
    return placed


async def place_and_cancel(intake: str) -> str:
    """An order cancelled as soon as it is placed: fulfilment settles the request."""
    async with httpx.AsyncClient(base_url=intake, headers=auth("ASSEMBLY")) as client:
        placed = await client.post(
            "/v1/orders",
            json={"requester": "ASSEMBLY", "supplier": "LOGISTICS",
                  "lines": [{"sku": "PALLET-MOVE", "quantity": 1}]},
            headers={"Idempotency-Key": f"replay-cancel-{uuid.uuid4()}"},
        )  # fmt: skip
        assert placed.status_code == 201, placed.text
        order_id: str = placed.json()["order_id"]
        cancelled = await client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "test"})
        assert cancelled.status_code in (200, 202), cancelled.text
    return order_id


def settled_and_closed(response: httpx.Response) -> bool:
    """The cancelled order's stages all ended (at the cancellation, or delivered if refused)."""
    rows = response.json() if response.status_code == 200 else []
    return any(row["stage"] == "end_to_end" for row in rows) and all(
        row["duration_s"] is not None for row in rows
    )


def all_stages_closed(chain: int) -> Any:
    def closed(response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        rows = response.json()
        return (
            len({row["order_id"] for row in rows}) == chain
            and len(rows) == chain * STAGES_PER_ORDER
            and all(row["duration_s"] is not None for row in rows)
        )

    return closed


async def test_replay_after_a_mixed_load_agrees_with_live(
    stack: dict[str, ServiceProcess],
) -> None:
    monitoring = stack["monitoring"]
    async with httpx.AsyncClient(base_url=monitoring.url, headers=ADMIN) as admin:
        defined = await admin.put(
            "/v1/admin/sla-policies/LOGISTICS:from-RETAIL_OPS", json=REQUESTER_POLICY
        )
        assert defined.status_code == 201, defined.text
    roots = await place_load(stack["order-intake"].url)
    cancelled = await place_and_cancel(stack["order-intake"].url)

    # an analyst reads every chain's handoffs (a department only those it is party to)
    async with httpx.AsyncClient(base_url=monitoring.url, headers=auth("ANALYST")) as client:
        chains = {
            root: (
                await poll_http(
                    client,
                    f"/v1/orders/{root}/handoffs",
                    until=all_stages_closed(chain),
                    timeout=60,
                )
            ).json()
            for root, chain in roots
        }
        cancelled_stages = (
            await poll_http(
                client,
                f"/v1/orders/{cancelled}/handoffs",
                until=settled_and_closed,
                timeout=60,
            )
        ).json()
    target_of = {
        (root, row["stage"]): row["target_seconds"]
        for root, rows in chains.items()
        for row in rows
        if row["order_id"] == root
    }
    ebike_rush, _, ebike_standard, logistics_own, logistics, _ = (root for root, _ in roots)
    # live timed each stage by the policy its order's facts call for
    assert target_of[(ebike_rush, "fulfilment")] == 300  # ASSEMBLY rush, not the general 600
    assert target_of[(ebike_rush, "delivery")] == 30
    assert target_of[(ebike_standard, "fulfilment")] == 600
    assert target_of[(logistics_own, "fulfilment")] == 50  # RETAIL_OPS' own LOGISTICS policy
    assert target_of[(logistics, "fulfilment")] == 60

    code, report, stderr = await run_replay(monitoring)
    assert code == 0, report["differences"][:10]
    assert report["differences"] == []
    orders = sum(chain for *_, chain in LOAD)
    assert report["stages_compared"] == orders * STAGES_PER_ORDER + len(cancelled_stages)
    assert report["outside_window"] == {"orders": 0, "stages": 0}
    assert report["window"]["from"] is not None and "window the topics cover" in stderr


async def test_replay_compares_only_the_window_the_topics_still_cover(
    stack: dict[str, ServiceProcess],
) -> None:
    """Stages recorded before the topics' first record (the broker restarted with empty
    topics, the database kept them) are outside the window, not missing."""
    monitoring = stack["monitoring"]
    code, before, _ = await run_replay(monitoring)
    assert code == 0, before["differences"][:10]

    # an earlier life of the database: two orders whose events no topic holds any more
    yesterday = datetime.now(UTC) - timedelta(days=1)
    pool = await db.create_pool(monitoring.env["DATABASE_URL"], schema="monitoring", max_size=1)
    try:
        old = [_order(yesterday), _order(yesterday + timedelta(minutes=5))]
        await _apply(pool, [e for chain in old for e in _started_chain(chain)])

        code, report, stderr = await run_replay(monitoring)
        assert code == 0, report["differences"][:10]
        assert report["outside_window"] == {"orders": 2, "stages": 2 * 4}
        assert report["stages_compared"] == before["stages_compared"]
        window = report["window"]
        opened = datetime.fromisoformat(window["from"])
        assert yesterday < opened <= datetime.fromisoformat(window["to"])
        assert set(window["topics"]) >= {"supplychain.orders.v1", "supplychain.fulfilment.v1"}
        assert f"from {window['from']} to {window['to']}" in stderr
        assert "8 stages of 2 orders" in stderr

        # an event inside the window the topics lack is not explained by it: it shows
        lost = _order(datetime.now(UTC))
        await _apply(pool, [lost])
        code, report, _ = await run_replay(monitoring)
        assert code == 1
        assert {d["order_id"] for d in report["differences"]} == {str(lost.order_id)}
        assert report["outside_window"]["orders"] == 2
    finally:
        await pool.close()


def _order(at: datetime) -> OrderPlaced:
    return order_placed(
        occurred_at=at,
        producer="order-intake",
        supplier="ASSEMBLY",
        requester="RETAIL_OPS",
        priority=Priority.RUSH,
        sku="EBIKE-CITY",
        unit_price="1290.00",
    )


def _started_chain(placed: OrderPlaced) -> list[Any]:
    """Placed, accepted and shipped: acceptance, fulfilment, delivery and end to end."""
    return [
        placed,
        follow_up(
            placed,
            OrderAccepted,
            producer="fulfilment",
            occurred_at=placed.occurred_at + timedelta(seconds=3),
            priority=placed.priority,
        ),
        follow_up(
            placed,
            OrderShipped,
            producer="fulfilment",
            occurred_at=placed.occurred_at + timedelta(seconds=60),
            priority=placed.priority,
        ),
    ]


async def _apply(pool: asyncpg.Pool, events: list[Any]) -> None:
    """As the live consumer applied them once (its handlers, one transaction each)."""
    await apply_events(pool, event_applier(Silent()), *events)
