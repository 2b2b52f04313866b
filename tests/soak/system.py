"""The system under test: the stack as `make run` starts it with the soak's settings, which
consumer groups read which topic, and when it is quiet."""

from __future__ import annotations

import asyncio
import json
import os
import time

import asyncpg
import httpx
from supplychain_contracts.company import sample_company
from supplychain_devstack.stack import Stack
from supplychain_kit.messaging.lag import LagProbe

SETTLE_QUIET_S = 6.0  # no new outbox row for this long (longest autopilot step: 2.5 s)
# the services whose outboxes carry the orders' flow (monitoring's carries SLA clock events)
FLOW_SCHEMAS = ("order_intake", "fulfilment", "invoicing")


def stack_env(short: bool) -> dict[str, str]:
    """make run's settings (the short variant's workers twice as quick), plus: ASSEMBLY's
    worker accepts after 2.5 s and the rush policy of ASSEMBLY has a 0.5 s acceptance target,
    so every rush order of ASSEMBLY breaches a stage its supplier owes under a policy granting
    a credit: the credit check has work even when no fault delays anything."""
    policies = []
    for policy in sample_company().sla_policies:
        if policy.supplier == "ASSEMBLY" and policy.priority == "rush":
            targets = {**policy.targets_seconds}
            targets[next(s for s in targets if s.value == "acceptance")] = 0.5
            policy = policy.model_copy(update={"targets_seconds": targets})
        policies.append(policy.model_dump(mode="json", exclude_none=True))
    env = {
        "MONITORING_SLA_POLICIES_JSON": json.dumps(policies),
        "FULFILMENT_AUTOPILOT_DEPARTMENTS": json.dumps({"ASSEMBLY": {"accept_delay_s": 2.5}}),
        "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": os.environ.get(
            "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY", "0.02"
        ),
        "LOG_LEVEL": "WARNING",
        # the load places every order with one key: no per-key rate limit in the soak
        "RATE_LIMIT_PER_SECOND": "0",
    }
    if short:
        env |= {
            "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.5",
            "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "1",
            "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.5",
        }
    return env


async def groups_by_topic(stack: Stack) -> dict[str, list[str]]:
    """Which consumer groups read which topic, from each service's AsyncAPI document (its
    receive operations; a service's group is its name, CONSUMER_GROUP's default)."""
    groups: dict[str, list[str]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, service in stack.services.items():
            doc = (await client.get(f"{service.url}/asyncapi.json")).raise_for_status().json()
            for operation in doc["operations"].values():
                if operation["action"] != "receive":
                    continue
                channel = doc["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
                groups.setdefault(channel["address"], []).append(name)
    return groups


async def settle(stack: Stack, groups: dict[str, list[str]], timeout: float) -> float:
    """Wait until the orders are quiet: no new row in the outboxes of order intake,
    fulfilment and invoicing for SLA_QUIET_S, then a moment when those outboxes are all sent
    and every group has caught up. Monitoring is not waited for: the SLA clocks of chains
    blocked by a turned-down sub-order go on warning and breaching for as long as their
    targets (up to 15 minutes). Returns the seconds it took."""
    began = time.monotonic()
    conn = await asyncpg.connect(stack.database_url)
    probe = LagProbe(stack.bootstrap_servers, client_id="soak-settle")
    await probe.start()
    last: tuple[int, ...] = ()
    quiet_since = time.monotonic()
    try:
        while True:
            counts = []
            pending = 0
            for schema in FLOW_SCHEMAS:
                row = await conn.fetchrow(
                    f"SELECT count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) AS p "
                    f'FROM "{schema}".outbox'
                )
                counts.append(row["n"])
                pending += row["p"]
            if tuple(counts) != last:
                last = tuple(counts)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_QUIET_S and not pending:
                lag = 0
                for topic, readers in groups.items():
                    for group in readers:
                        lag += (await probe.group_lag(group, [topic])).records
                if not lag:
                    return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"orders not quiet within {timeout:.0f}s ({pending} unsent)")
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()
        await conn.close()
