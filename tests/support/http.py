"""A service's HTTP API as a test calls it: a department's key, an order body, a poll until
the answer satisfies a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


async def poll_http(
    client: httpx.AsyncClient,
    url: str,
    *,
    until: Callable[[httpx.Response], bool],
    timeout: float = 30,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    response = await client.get(url, headers=headers)
    while not until(response):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{url} never satisfied the condition; last: {response.status_code} {response.text[:500]}"
            )
        await asyncio.sleep(0.2)
        response = await client.get(url, headers=headers)
    return response


def auth(department: str, key_number: int = 1) -> dict[str, str]:
    """The development bearer key of a department (see supplychain_kit.http.auth)."""
    return {"Authorization": f"Bearer dev-{department.lower()}-{key_number}"}


def order_body(
    requester: str = "ASSEMBLY",
    supplier: str = "FRAMES",
    sku: str = "FRAME-CITY",
    quantity: int = 2,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "requester": requester,
        "supplier": supplier,
        "lines": [{"sku": sku, "quantity": quantity}],
        **extra,
    }
