"""Composition root of monitoring."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from monitoring import api, store
from monitoring.clocks import run_sla_clocks
from monitoring.config import MonitoringSettings
from monitoring.handlers import event_applier
from monitoring.sinks import Emitting

SCHEMA = "monitoring"


def policy_seeder(settings: MonitoringSettings) -> Callable[[asyncpg.Pool], Awaitable[None]]:
    async def seed(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await store.replace_policies(conn, settings.sla_policies())

    return seed


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    settings = settings or MonitoringSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="monitoring",
        consumes=topics.ALL_TOPICS,
        produces=(topics.SLA,),
        apply=event_applier(Emitting()),
        seed=policy_seeder(settings),
        jobs=(run_sla_clocks,),
    )
    return create_http_app(
        runtime,
        title="Service-level monitoring",
        description="Handoff timelines, SLA clocks and scorecards of the production chain.",
        routers=[api.router],
    )
