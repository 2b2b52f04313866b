"""Every way an order ends, through the public reads of intake, fulfilment, monitoring and
invoicing on the real broker and database (issue 22, item 5): delivered and invoiced,
rejected, cancelled, a cancellation refused then delivered, blocked by a rejected sub-order.
Each service shows one status for the order; monitoring closes its stages with the order's
outcome and raises no verdict after the end, although the SLA targets are short enough that
the clocks of stages left running would have fired by the time the test looks (a canary order
nobody works proves they did).

Fulfilment's own states end at `delivered`: invoicing is not its business, so an invoiced
order is `invoiced` in intake and monitoring and `delivered` in fulfilment."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, order_body, outbox_drained, poll_http, read_records, read_to_end
from support.endings import command, sla_env, sla_events_of, start_together, work_item
from support.order_intake import place

pytestmark = pytest.mark.integration

# Short enough that a stage left running would breach within seconds; long enough (warning at
# 90 %) that the flows below end every stage well in time on a busy machine.
TARGETS = {"acceptance": 6, "fulfilment": 6, "delivery": 6, "invoicing": 6, "end_to_end": 8}
TIMED = ("WHEELS", "FRAMES", "PAINTSHOP")  # METALWORKS's sub-orders run untimed
REQUESTER = "ASSEMBLY"


@dataclass(frozen=True)
class Ending:
    """What every service says of an order once it ended."""

    status: str  # intake's status and monitoring's chain state
    work: str  # fulfilment's state of the work
    stages: dict[str, str]  # monitoring's status of each of the order's stages
    invoiced: bool


MET = dict.fromkeys(TARGETS, "met")
DELIVERED = Ending("invoiced", "delivered", MET, invoiced=True)
REJECTED = Ending(
    "rejected", "rejected", {"acceptance": "rejected", "end_to_end": "rejected"}, False
)
CANCELLED = Ending(
    "cancelled",
    "cancelled",
    {"acceptance": "met", "fulfilment": "cancelled", "end_to_end": "cancelled"},
    invoiced=False,
)
BLOCKED = Ending(
    "blocked",
    "blocked",
    {"acceptance": "met", "fulfilment": "blocked", "end_to_end": "blocked"},
    invoiced=False,
)


@dataclass(frozen=True)
class Clients:
    intake: httpx.AsyncClient
    fulfilment: httpx.AsyncClient
    invoicing: httpx.AsyncClient
    monitoring: httpx.AsyncClient


async def placed(clients: Clients, supplier: str, sku: str) -> str:
    response = await place(clients.intake, order_body(REQUESTER, supplier, sku, quantity=1))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def intake_read(clients: Clients, order_id: str, requester: str, until: Any) -> Any:
    return await poll_http(
        clients.intake, f"/v1/orders/{order_id}", headers=auth(requester), until=until
    )


async def deliver(clients: Clients, order_id: str, supplier: str) -> None:
    for action in ("accept", "start", "ship"):
        await command(clients.fulfilment, order_id, action, supplier)
    await command(clients.fulfilment, order_id, "receipt", REQUESTER)


async def cancel(clients: Clients, order_id: str, settled: str) -> None:
    """The requester cancels; fulfilment settles (`cancelled` or `refused`)."""
    asked = await clients.intake.post(
        f"/v1/orders/{order_id}/cancel", json={"reason": "not needed"}, headers=auth(REQUESTER)
    )
    if settled == "refused" and asked.status_code == 409:
        # intake heard of the shipment first and refuses the request itself
        assert asked.json()["status_now"] == "shipped", asked.text
        return
    assert asked.status_code == 202, asked.text
    await intake_read(
        clients,
        order_id,
        REQUESTER,
        lambda r: (r.json().get("cancellation") or {}).get("status") == settled,
    )


# Each flow ends its orders and says how: order id -> (its requester, its ending).
Ended = dict[str, tuple[str, Ending]]


async def delivered(clients: Clients) -> Ended:
    order_id = await placed(clients, "WHEELS", "WHEEL-28")
    await work_item(clients.fulfilment, order_id, "WHEELS")
    await deliver(clients, order_id, "WHEELS")
    return {order_id: (REQUESTER, DELIVERED)}


async def rejected(clients: Clients) -> Ended:
    order_id = await placed(clients, "WHEELS", "WHEEL-28")
    await work_item(clients.fulfilment, order_id, "WHEELS")
    await command(clients.fulfilment, order_id, "reject", "WHEELS", reason="no stock")
    return {order_id: (REQUESTER, REJECTED)}


async def cancelled(clients: Clients) -> Ended:
    order_id = await placed(clients, "WHEELS", "WHEEL-28")
    await work_item(clients.fulfilment, order_id, "WHEELS")
    await command(clients.fulfilment, order_id, "accept", "WHEELS")
    await cancel(clients, order_id, "cancelled")
    return {order_id: (REQUESTER, CANCELLED)}


async def refused_then_delivered(clients: Clients) -> Ended:
    order_id = await placed(clients, "WHEELS", "WHEEL-28")
    await work_item(clients.fulfilment, order_id, "WHEELS")
    for action in ("accept", "start", "ship"):
        await command(clients.fulfilment, order_id, action, "WHEELS")
    await cancel(clients, order_id, "refused")  # already shipped
    await command(clients.fulfilment, order_id, "receipt", REQUESTER)
    return {order_id: (REQUESTER, DELIVERED)}


async def blocked(clients: Clients) -> Ended:
    """A frame's paint sub-order is rejected: the frame can never ship."""
    order_id = await placed(clients, "FRAMES", "FRAME-CITY")
    await work_item(clients.fulfilment, order_id, "FRAMES")
    accepted = await command(clients.fulfilment, order_id, "accept", "FRAMES")
    (paint,) = [s["order_id"] for s in accepted["sub_orders"] if s["supplier"] == "PAINTSHOP"]
    await work_item(clients.fulfilment, paint, "PAINTSHOP")
    await command(clients.fulfilment, paint, "reject", "PAINTSHOP", reason="no paint")
    return {order_id: (REQUESTER, BLOCKED), paint: ("FRAMES", REJECTED)}


def answers(check: Any) -> Any:
    """A poll condition on a JSON answer that is there."""
    return lambda r: r.status_code == 200 and check(r.json())


async def assert_one_status(
    clients: Clients, order_id: str, requester: str, ending: Ending
) -> None:
    """Intake, fulfilment, monitoring (its stages, and the chain's state of a root order) and
    invoicing say the same of the order, once each has read its last event."""
    headers = auth(requester)
    read = await intake_read(
        clients, order_id, requester, answers(lambda o: o["status"] == ending.status)
    )
    root = read.json()["parent_order_id"] is None
    await poll_http(
        clients.fulfilment,
        f"/v1/fulfilments/{order_id}",
        headers=headers,
        until=answers(lambda w: w["status"] == ending.work),
    )

    def own_stages(handoffs: list[dict[str, Any]]) -> dict[str, str]:
        return {h["stage"]: h["status"] for h in handoffs if h["order_id"] == order_id}

    await poll_http(
        clients.monitoring,
        f"/v1/orders/{order_id}/handoffs",
        headers=headers,
        until=answers(lambda handoffs: own_stages(handoffs) == ending.stages),
    )
    if root:
        await poll_http(
            clients.monitoring,
            f"/v1/console/chains/{order_id}",
            until=answers(lambda chain: chain["state"] == ending.status),
        )
    invoices = await poll_http(
        clients.invoicing,
        "/v1/invoices?limit=200",
        headers=headers,
        until=answers(lambda listed: any(i["order_id"] == order_id for i in listed))
        if ending.invoiced
        else (lambda r: r.status_code == 200),
    )
    mine = [i for i in invoices.json() if i["order_id"] == order_id]
    assert len(mine) == ending.invoiced, mine
    assert all(i["credit_notes"] == [] for i in mine), mine  # nothing breached, nothing credited


async def test_every_ending_shows_one_status_everywhere_and_no_verdict_after_it(
    start_service: Any, broker: Any
) -> None:
    started = time.monotonic()
    intake, fulfilment, invoicing, monitoring = start_together(
        start_service,
        ("order-intake", {}),
        ("fulfilment", {}),
        ("invoicing", {}),
        ("monitoring", sla_env(dict.fromkeys(TIMED, TARGETS), warning_threshold=0.9)),
    )
    async with (
        httpx.AsyncClient(base_url=intake.url, timeout=30) as intake_client,
        httpx.AsyncClient(base_url=fulfilment.url, timeout=30) as fulfilment_client,
        httpx.AsyncClient(base_url=invoicing.url, timeout=30) as invoicing_client,
        httpx.AsyncClient(base_url=monitoring.url, timeout=30) as monitoring_client,
    ):
        clients = Clients(intake_client, fulfilment_client, invoicing_client, monitoring_client)
        flows = (delivered, rejected, cancelled, refused_then_delivered, blocked)
        ended: Ended = {}
        for orders in await asyncio.gather(*(flow(clients) for flow in flows)):
            ended |= orders

        # a canary placed after them all and never worked: once its end-to-end breach is out,
        # every deadline of the ended orders has passed and the clock scan has judged past it
        canary = await placed(clients, "WHEELS", "WHEEL-28")
        await read_records(
            broker.bootstrap_servers,
            [topics.SLA],
            until=lambda rs: any(
                e["event_type"] == "SlaBreached" and e["stage"] == "end_to_end"
                for e in sla_events_of(rs, {canary})
            ),
        )
        for order_id, (requester, ending) in ended.items():
            await assert_one_status(clients, order_id, requester, ending)
        await outbox_drained(start_service.database_url, "monitoring")
        sla = await read_to_end(broker.bootstrap_servers, [topics.SLA])
        verdicts = [
            (e["order_id"], e["event_type"], e["stage"]) for e in sla_events_of(sla, set(ended))
        ]
        assert verdicts == [], "an ended order (or one that ended in time) got a verdict"
    print(f"every ending walked in {time.monotonic() - started:.1f} s")
