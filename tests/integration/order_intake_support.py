"""Helpers for the order-intake integration tests (plain HTTP, no project code)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from support import auth


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
