"""What the integration tests of stage endings and breach retractions share: monitoring with
short SLA targets of chosen suppliers, the services started together, a supplier's commands
over fulfilment's API, and the SLA events of an order on the topic."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from supplychain_devstack.services import ServiceProcess

from support import Record, auth, poll_http


def sla_env(
    targets: dict[str, dict[str, float]],
    *,
    credit_pct: str = "0",
    warning_threshold: float = 0.5,
) -> dict[str, str]:
    """Monitoring's settings: one policy per supplier (`{"WHEELS": {"acceptance": 3, ...}}`)
    replacing the company's, with `credit_pct` of service credit; verdicts raised 0.3 s past
    their time once the topics are known that far."""
    policies = [
        {
            "supplier": supplier,
            "targets_seconds": stages,
            "warning_threshold": warning_threshold,
            "service_credit_pct": credit_pct,
        }
        for supplier, stages in targets.items()
    ]
    return {
        "MONITORING_SLA_POLICIES_JSON": json.dumps(policies),
        "MONITORING_SLA_SCAN_INTERVAL_MS": "100",
        "MONITORING_SLA_VERDICT_RELAY_GRACE_SECONDS": "0.3",
        "MONITORING_SLA_WATERMARK_INTERVAL_MS": "200",
    }


def start_together(start_service: Any, *named: tuple[str, dict[str, str]]) -> list[ServiceProcess]:
    """Start the services at once and wait until each is ready (faster than one by one)."""
    services = [start_service(name, env=env, wait=False) for name, env in named]
    for service in services:
        service.wait_ready()
    return services


async def work_item(
    fulfilment: httpx.AsyncClient, order_id: str, department: str, timeout: float = 30
) -> dict[str, Any]:
    """The order as fulfilment works it, once fulfilment has received it."""
    response = await poll_http(
        fulfilment,
        f"/v1/fulfilments/{order_id}",
        headers=auth(department),
        until=lambda r: r.status_code == 200,
        timeout=timeout,
    )
    item: dict[str, Any] = response.json()
    return item


async def command(
    fulfilment: httpx.AsyncClient, order_id: str, action: str, department: str, **body: Any
) -> dict[str, Any]:
    """A supplier's command (accept, reject, start, ship) or the requester's receipt; 200.
    An acceptance waiting for the catalogue to reach fulfilment (409 with Retry-After) is
    asked again."""
    path = (
        f"/v1/orders/{order_id}/receipt"
        if action == "receipt"
        else f"/v1/fulfilments/{order_id}/{action}"
    )
    deadline = time.monotonic() + 30
    response = await fulfilment.post(path, headers=auth(department), json=body or None)
    while response.status_code == 409 and "Retry-After" in response.headers:
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.2)
        response = await fulfilment.post(path, headers=auth(department), json=body or None)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def sla_events_of(records: list[Record], order_ids: set[str]) -> list[dict[str, Any]]:
    """The SLA events of these orders on the topic, in topic order."""
    return [r.json for r in records if r.json.get("order_id") in order_ids]
