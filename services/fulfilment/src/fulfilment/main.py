"""Composition root of fulfilment."""

from __future__ import annotations

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import operator_api
from supplychain_kit.http.app import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from fulfilment import api
from fulfilment.auto_receipt import run_auto_receipt
from fulfilment.autopilot import run_autopilot
from fulfilment.config import FulfilmentSettings
from fulfilment.handlers import apply_event

SCHEMA = "fulfilment"


def create_app(settings: FulfilmentSettings | None = None) -> FastAPI:
    settings = settings or FulfilmentSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="fulfilment",
        # its own topic too: the events of the sub-orders it raised move their parents; and
        # the reference topic, from which it builds its copies of the catalogue, the
        # departments' currencies, the exchange rates, the SLA policies and calendars
        consumes=(topics.ORDERS, topics.FULFILMENT, topics.REFERENCE),
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
    )
