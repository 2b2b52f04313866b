"""One trace per root order, also when the order is approved by a later request or cancelled
in the middle of its chain: the events the approval and the cancellation cause (and the
compensations down the chain) stay in the trace of the request that placed the order, not in
the trace of whoever approved, accepted or cancelled it (those requests are only linked).

Each request here comes with a caller's `traceparent` of its own, so a record carrying the
wrong one shows which request's trace it fell into.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, has_event, order_body, poll_http, read_records
from support.fulfilment import new_traceparent, of_tree
from support.order_intake import key

pytestmark = pytest.mark.integration


def _traced(department: str, key_number: int = 1) -> tuple[str, dict[str, str]]:
    """A caller's new trace: (trace id, headers of a request in it)."""
    trace_id, traceparent = new_traceparent()
    return trace_id, {**auth(department, key_number), "traceparent": traceparent}


async def test_approved_and_cancelled_orders_stay_in_the_trace_of_their_placing_request(
    start_service, broker
) -> None:
    intake = start_service("order-intake", wait=False)
    fulfilment = start_service("fulfilment", wait=False)
    intake.wait_ready()
    fulfilment.wait_ready()
    others: set[str] = set()  # traces of every request that is not a placing one
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(url: str, department: str, key_number: int = 1, **kw: Any) -> Any:
            trace_id, headers = _traced(department, key_number)
            response = await client.post(url, headers={**headers, **kw.pop("headers", {})}, **kw)
            assert response.status_code in (200, 201, 202), response.text
            return trace_id, response.json()

        # over MARKETING's approval threshold: placed, then approved by a second key
        approval_trace, pending = await post(
            f"{intake.url}/v1/orders",
            "MARKETING",
            json=order_body(
                requester="MARKETING", supplier="RETAIL_OPS", sku="DEMO-BIKE-SET", quantity=11
            ),
            headers={"Idempotency-Key": key()},
        )
        assert pending["status"] == "pending_approval"
        approved_id = pending["order_id"]
        approving, _ = await post(f"{intake.url}/v1/orders/{approved_id}/approve", "MARKETING", 2)
        others.add(approving)

        # a chain: the e-bike's components are ordered upstream, then the root is cancelled
        chain_trace, root = await post(
            f"{intake.url}/v1/orders",
            "RETAIL_OPS",
            json=order_body(requester="RETAIL_OPS", supplier="ASSEMBLY", sku="EBIKE-CITY"),
            headers={"Idempotency-Key": key()},
        )
        root_id = root["order_id"]
        for order_id, supplier in ((approved_id, "RETAIL_OPS"), (root_id, "ASSEMBLY")):
            await poll_http(
                client,
                f"{fulfilment.url}/v1/departments/{supplier}/queue",
                headers=auth(supplier),
                until=lambda r, o=order_id: o in {i["order_id"] for i in r.json()},
            )
            accepting, _ = await post(
                f"{fulfilment.url}/v1/fulfilments/{order_id}/accept", supplier
            )
            others.add(accepting)
        records = await read_records(
            broker.bootstrap_servers,
            [topics.ORDERS],
            until=lambda rs: (
                sum(1 for r in of_tree(rs, root_id) if r.json["order_id"] != root_id) >= 3
            ),
        )
        sub_orders = {r.json["order_id"] for r in of_tree(records, root_id)} - {root_id}
        cancelling, _ = await post(
            f"{intake.url}/v1/orders/{root_id}/cancel",
            "RETAIL_OPS",
            json={"reason": "the shop closed"},
        )
        others.add(cancelling)

    def complete(rs: list[Any]) -> bool:
        return (
            has_event(approved_id, "OrderAccepted")(rs)
            and has_event(root_id, "WorkCancelled")(rs)
            and all(has_event(s, "WorkCancelled")(rs) for s in sub_orders)
        )

    records = await read_records(
        broker.bootstrap_servers, [topics.ORDERS, topics.FULFILMENT], until=complete
    )
    approved = [r for r in records if r.json.get("order_id") == approved_id]
    assert {r.headers["event_type"] for r in approved} >= {"OrderPlaced", "OrderAccepted"}
    assert {r.trace_id for r in approved} == {approval_trace}, [
        (r.headers["event_type"], r.trace_id) for r in approved
    ]
    tree = of_tree(records, root_id)
    cancelled = [r for r in tree if r.headers["event_type"] == "OrderCancelled"]
    assert {r.json["order_id"] for r in cancelled} == {root_id, *sub_orders}
    compensations = [r for r in cancelled if r.json["order_id"] != root_id]
    assert compensations and {r.json["producer"] for r in compensations} == {"fulfilment"}
    settled = [r for r in tree if r.headers["event_type"] == "WorkCancelled"]
    assert {r.json["order_id"] for r in settled} == {root_id, *sub_orders}
    assert {r.trace_id for r in tree} == {chain_trace}, [
        (r.headers["event_type"], r.json["order_id"][:8], r.trace_id) for r in tree
    ]
    assert not others & {r.trace_id for r in records}
