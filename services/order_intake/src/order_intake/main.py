"""Composition root of order intake."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_contracts.company import Company
from supplychain_kit.http import operator_api
from supplychain_kit.http.app import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from order_intake import admin, api, company_commands
from order_intake.company import owned_company
from order_intake.config import OrderIntakeSettings
from order_intake.handlers import apply_event

SCHEMA = "order_intake"
log = logging.getLogger(__name__)


def company_loader(
    company: Company | None, *, source: str
) -> Callable[[ServiceRuntime[Any]], Awaitable[None]]:
    """Load the company (None: keep what is stored) and republish every entity, in one
    transaction, before the service answers."""

    async def load(runtime: ServiceRuntime[Any]) -> None:
        async with runtime.pool.acquire() as conn:
            loaded = await company_commands.load_company(conn, company)
        log.info(
            "reference data of %s: %d entities changed, %d reference events published",
            source if company is not None else "the database (nothing loaded)",
            loaded.changed,
            loaded.published,
        )

    return load


def create_app(settings: OrderIntakeSettings | None = None) -> FastAPI:
    settings = settings or OrderIntakeSettings()
    # Refused here, before anything runs: CompanyFileError names every problem by its path.
    company = owned_company(settings)
    runtime = ServiceRuntime[OrderIntakeSettings](
        settings=settings,
        schema=SCHEMA,
        migrations_package="order_intake",
        # the orders topic for the sub-orders fulfilment raises (our own events are ignored)
        consumes=(topics.ORDERS, topics.FULFILMENT, topics.INVOICING),
        # with the operations topic: the redrives and outbox releases its operators ask for
        produces=(topics.ORDERS, topics.REFERENCE, topics.REDRIVES),
        apply=apply_event,
    )
    return create_http_app(
        runtime,
        title="Order intake",
        description=DESCRIPTION,
        routers=[api.router, admin.router, operator_api.router],
        # Not the runtime's seed, which LOAD_SAMPLE_COMPANY=false switches off: the owner
        # republishes its reference data at every start, whatever it loads.
        on_started=company_loader(company, source=settings.company_file or "the sample company"),
    )


DESCRIPTION = """Departments and employees place internal orders with supplying departments.

Authenticate as a department with `Authorization: Bearer <department key>`; a department
places, reads, approves and cancels only its own orders. Every error is an RFC 9457
`application/problem+json` document naming the offending field in `errors`.

Cancelling an announced order is a request (202): the supplier's fulfilment settles it, and
the order's status, budget and timeline follow that settlement. An order is priced in its
supplier's currency and charged to its requester's budget at the exchange rate valid on its
date (no rate: refused, 422).

Order intake owns the company's legal entities, departments, catalogue, employees and exchange
rates: loaded
from `COMPANY_FILE` (JSON or YAML; the sample company by default) at every start, changed with
an admin key (`/v1/admin/...`), and published as reference events on
`supplychain.reference.v1`."""
