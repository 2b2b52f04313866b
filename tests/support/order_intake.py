"""Helpers for the order-intake integration tests (plain HTTP and the broker; no project code
but the contracts)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from supplychain_contracts import topics

from support import auth, poll_http, produce


def key() -> str:
    return f"key-{uuid.uuid4()}"


async def place(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    *,
    department: str | None = None,
    key_number: int = 1,
    idempotency_key: str | None = None,
) -> httpx.Response:
    """POST /v1/orders as the requester (or `department`) with a fresh Idempotency-Key."""
    headers = {
        "Idempotency-Key": idempotency_key or key(),
        **auth(department or body["requester"], key_number),
    }
    return await client.post("/v1/orders", json=body, headers=headers)


def refused_field(response: httpx.Response) -> str:
    """The field a 4xx problem document names (asserting it is problem+json)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert len(fields) == 1, fields
    return fields[0]


async def settle_cancellation(
    bootstrap: str,
    client: httpx.AsyncClient,
    order: dict[str, Any],
    *,
    refused_because: str | None = None,
) -> dict[str, Any]:
    """Settle a requested cancellation as the supplier's fulfilment would: WorkCancelled (or
    CancellationRefused with `refused_because`) on the fulfilment topic; the order as intake
    shows it once it has consumed the settlement."""
    from supplychain_contracts import CancellationRefused, WorkCancelled

    order_id = uuid.UUID(order["order_id"])
    parties = {
        "order_id": order_id,
        "root_order_id": uuid.UUID(order["root_order_id"]),
        "producer": "fulfilment",
        "supplier": order["supplier"],
        "requester": order["requester"],
        "employee_id": order.get("employee_id"),
    }
    event = (
        WorkCancelled(**parties, reason="requested by the requester")
        if refused_because is None
        else CancellationRefused(**parties, reason=refused_because)
    )
    await produce(
        bootstrap,
        topics.FULFILMENT,
        event.model_dump_json().encode(),
        key=str(order_id).encode(),
        headers={"event_type": event.event_type},
    )
    settled = "cancelled" if refused_because is None else "refused"
    response = await poll_http(
        client,
        f"/v1/orders/{order_id}",
        headers=auth(order["requester"]),
        until=lambda r: (r.json().get("cancellation") or {}).get("status") == settled,
    )
    settled_order: dict[str, Any] = response.json()
    return settled_order
