"""Composition root of fulfilment."""

from __future__ import annotations

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from fulfilment import api
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
        consumes=(topics.ORDERS,),
        produces=(topics.FULFILMENT, topics.ORDERS),
        apply=apply_event,
        jobs=(run_autopilot,),
    )
    return create_http_app(
        runtime,
        title="Department fulfilment",
        description="Each supplier department's work queue and the state machine of its orders.",
        routers=[api.router],
    )
