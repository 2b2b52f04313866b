"""What the monitoring tests of stage endings and retractions share: monitoring's schema with
the sample company's policies, an order to WHEELS (acceptance 30 s, fulfilment 120 s, end to
end 300 s on a 24/7 UTC calendar) and its follow-ups at chosen times, the SLA events written
to the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from supplychain_contracts import OrderCancelled, OrderPlaced, follow_up
from supplychain_contracts.reference import ReferenceEvent

from support import verdicts
from support.service import ServicePool, outbox_events

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def monitoring_pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Monitoring's schema with its policies loaded as main.py's seeder loads them."""
    pool = await service_pool("monitoring")
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    return pool


def wheels_order() -> OrderPlaced:
    """An order ASSEMBLY placed with WHEELS at T0."""
    return verdicts.wheels_order(T0)


def then(order: OrderPlaced, event: type[Any], seconds: float, **fields: Any) -> Any:
    """The order's next event, `seconds` after it was placed, from the service that owns it."""
    producer = "order-intake" if event is OrderCancelled else "fulfilment"
    at = T0 + timedelta(seconds=seconds)
    return follow_up(order, event, producer=producer, occurred_at=at, **fields)


async def sla_events(pool: asyncpg.Pool) -> list[Any]:
    """The SLA events monitoring wrote to its outbox (the load at start published reference)."""
    async with pool.acquire() as conn:
        return [e for e in await outbox_events(conn) if not isinstance(e, ReferenceEvent)]
