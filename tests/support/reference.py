"""Reference data (legal entities, departments, catalogue, employees) as its owner, order
intake, publishes it: for a service started without order intake."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaProducer

if TYPE_CHECKING:
    from supplychain_contracts.company import Company
    from supplychain_contracts.reference import ReferenceEvent

REFERENCE_PRODUCER = "order-intake"


def reference_events(
    company: Company, *, producer: str = REFERENCE_PRODUCER
) -> list[ReferenceEvent]:
    """Every legal entity, department, catalogue item and employee of `company` as the
    owner's reference events (fresh event ids), in that order."""
    from supplychain_contracts.reference import (
        catalogue_item_defined,
        department_defined,
        employee_defined,
        legal_entity_defined,
    )

    return [
        *(legal_entity_defined(e, producer=producer) for e in company.legal_entities),
        *(department_defined(d, producer=producer) for d in company.departments),
        *(catalogue_item_defined(i, producer=producer) for i in company.catalogue),
        *(employee_defined(e, producer=producer) for e in company.employees),
    ]


def reference_counts(company: Company) -> dict[str, int]:
    """Active entities per kind that `publish_reference(company)` defines, as
    `GET /v1/reference/status` counts them."""
    counts: dict[str, int] = {}
    for event in reference_events(company):
        kind = event.entity_key.split(":", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


async def publish_reference(bootstrap: str, company: Company) -> list[ReferenceEvent]:
    """Publish the company's reference data to `supplychain.reference.v1` as order intake
    (its owner) does: keyed by entity, `event_type` header. Returns the events sent."""
    from supplychain_contracts import topics

    events = reference_events(company)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = [
            await producer.send(
                topics.REFERENCE,
                event.model_dump_json().encode(),
                key=event.message_key().encode(),
                headers=[("event_type", event.event_type.encode())],
            )
            for event in events
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return events


def wait_for_reference(
    base_url: str, *, at_least: dict[str, int], timeout: float = 30
) -> dict[str, Any]:
    """Poll the service's `GET /v1/reference/status` until it knows at least `at_least`
    active entities of each kind (`{"department": 11, ...}`); its last answer."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{base_url}/v1/reference/status", timeout=5)
        if response.status_code == 200:
            status = response.json()
            known = status.get("entities", {})
            if all(known.get(kind, 0) >= count for kind, count in at_least.items()):
                return status
        time.sleep(0.2)
    raise AssertionError(
        f"{base_url} did not learn {at_least} within {timeout}s; last status: {status}"
    )


async def provide_company(bootstrap: str, base_url: str, company: Company) -> list[ReferenceEvent]:
    """Play the owner for a service started without order intake: publish the company's
    reference data and wait until the service at `base_url` has learnt all of it."""
    events = await publish_reference(bootstrap, company)
    await asyncio.to_thread(wait_for_reference, base_url, at_least=reference_counts(company))
    return events
