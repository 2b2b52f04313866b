"""Composition root of monitoring."""

from __future__ import annotations

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from monitoring import api
from monitoring.config import MonitoringSettings
from monitoring.handlers import apply_event

SCHEMA = "monitoring"


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    settings = settings or MonitoringSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="monitoring",
        consumes=topics.ALL_TOPICS,
        produces=(topics.SLA,),
        apply=apply_event,
    )
    return create_http_app(
        runtime,
        title="Service-level monitoring",
        description="Handoff timelines, SLA clocks and scorecards of the production chain.",
        routers=[api.router],
    )
