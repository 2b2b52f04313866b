"""Composition root of invoicing."""

from __future__ import annotations

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from invoicing import api
from invoicing.config import InvoicingSettings
from invoicing.handlers import apply_event

SCHEMA = "invoicing"


def create_app(settings: InvoicingSettings | None = None) -> FastAPI:
    settings = settings or InvoicingSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="invoicing",
        # orders: OrderCancelled (cancellation credits); fulfilment: OrderDelivered (the
        # invoice); sla: SlaBreached with its service credit; reference: DepartmentDefined
        # (the legal entity and cost centre of each party). OrderPlaced is not needed.
        consumes=(topics.ORDERS, topics.FULFILMENT, topics.SLA, topics.REFERENCE),
        produces=(topics.INVOICING,),
        apply=apply_event,
    )
    return create_http_app(
        runtime,
        title="Internal invoicing",
        description=(
            "Invoices and credit notes between cost centres for delivered handoffs, the "
            "double-entry internal ledger and department statements."
        ),
        routers=[api.router],
    )
