"""Composition root of monitoring."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import operator_api
from supplychain_kit.http.app import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from monitoring import api
from monitoring.analytics import api as analytics_api
from monitoring.analytics.time_split_metrics import observe_wait_and_work
from monitoring.config import MonitoringSettings
from monitoring.console import api as console
from monitoring.ocel import api as exports_api
from monitoring.reference import admin, commands
from monitoring.reference.company import OwnedReference, owned_reference
from monitoring.timeline.clocks import ClockWakes, sla_clock_job
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from monitoring.timeline.watermark_sampler import watermark_sampler_job

SCHEMA = "monitoring"
log = logging.getLogger(__name__)


def reference_seeder(owned: OwnedReference) -> Callable[[asyncpg.Pool], Awaitable[None]]:
    """Define what the company file changed of its policies and calendars since the last load
    (an administrator's change stands otherwise) and publish what stands, in one transaction."""

    async def seed(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            loaded = await commands.load_owned_reference(conn, owned, now=datetime.now(UTC))
        log.info(
            "SLA policies and calendars of %s: %d new policy versions, %d new calendar "
            "versions, %d reference events published",
            owned.source,
            len(loaded.policy_versions),
            len(loaded.calendar_versions),
            loaded.published,
        )

    return seed


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    settings = settings or MonitoringSettings()
    # Refused here, before anything runs, when a clock could not run under the company's
    # policies (CompanyFileError names every problem by its path).
    owned = owned_reference(settings, at=datetime.now(UTC))
    wakes = ClockWakes()  # the sampler and the consumer wake the clock scan
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="monitoring",
        consumes=topics.ALL_TOPICS,
        # with the operations topic: the redrives and outbox releases its operators ask for
        produces=(topics.SLA, topics.REFERENCE, topics.REDRIVES),
        apply=event_applier(
            Emitting(observe=observe_wait_and_work, clocks_moved=wakes.clocks_moved), batched=True
        ),
        seed=reference_seeder(owned),
        jobs=(watermark_sampler_job(wakes.watermarks_moved), sla_clock_job(wakes)),
    )
    return create_http_app(
        runtime,
        title="Service-level monitoring",
        description="Handoff timelines, SLA clocks and scorecards of the production chain; "
        "the SLA policies and business calendars of the company.",
        routers=[
            api.router,
            analytics_api.router,
            exports_api.router,
            admin.router,
            console.router,
            operator_api.router,
        ],
    )
