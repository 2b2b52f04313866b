"""Composition root of fulfilment."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import operator_api
from supplychain_kit.http.app import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from fulfilment import api, progress
from fulfilment.auto_receipt import run_auto_receipt
from fulfilment.autopilot import run_autopilot
from fulfilment.config import FulfilmentSettings
from fulfilment.handlers import apply_event

SCHEMA = "fulfilment"
log = logging.getLogger(__name__)


def create_app(settings: FulfilmentSettings | None = None) -> FastAPI:
    settings = settings or FulfilmentSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="fulfilment",
        # and the reference topic, from which it builds its copies of the catalogue, the
        # departments' currencies, the exchange rates, the SLA policies and calendars. Not its
        # own topic: a sub-order's progress moves its parent in the same transaction (progress)
        consumes=(topics.ORDERS, topics.REFERENCE),
        # with the operations topic: the redrives and outbox releases its operators ask for
        produces=(topics.FULFILMENT, topics.ORDERS, topics.REDRIVES),
        apply=apply_event,
        jobs=(run_autopilot, run_auto_receipt),
    )
    return create_http_app(
        runtime,
        title="Department fulfilment",
        description=(
            "Each supplier department's work queue, the state machine of its orders and the "
            "sub-orders of the production chain."
        ),
        routers=[api.router, operator_api.router],
        on_started=catch_up_sub_orders,
    )


async def catch_up_sub_orders(runtime: ServiceRuntime[Any]) -> None:
    """Records of sub-orders an older version left behind (it moved them from its own topic's
    events, some not consumed when it stopped) are brought forward before the service
    answers; once caught up, a start finds nothing to move."""
    async with runtime.pool.acquire() as conn:
        moved = await progress.catch_up(conn)
    if moved:
        log.info("brought %d sub-order records forward to their sub-orders' state", moved)
