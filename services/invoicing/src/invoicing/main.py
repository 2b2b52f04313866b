"""Composition root of invoicing."""

from __future__ import annotations

from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_kit.http import operator_api
from supplychain_kit.http.app import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from invoicing import api, dispute_commands, evidence, finance_api
from invoicing.config import InvoicingSettings
from invoicing.handlers import apply_event

SCHEMA = "invoicing"


def create_app(settings: InvoicingSettings | None = None) -> FastAPI:
    settings = settings or InvoicingSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="invoicing",
        # fulfilment: OrderDelivered (the invoice), OrderShipped (who held the order),
        # WorkCancelled (a settled cancellation: never invoiced); sla: SlaBreached with its
        # service credit; reference: DepartmentDefined (the legal entity and cost centre of
        # each party), LegalEntityDefined (its currency), FxRateDefined (the group view's
        # rates). The orders topic is not needed: a cancellation request credits nothing.
        consumes=(topics.FULFILMENT, topics.SLA, topics.REFERENCE),
        # with the operations topic: the redrives and outbox releases its operators ask for
        produces=(topics.INVOICING, topics.REDRIVES),
        # each order event is also noted as a dispute's evidence (the order's timeline)
        apply=evidence.recording(apply_event),
        jobs=(dispute_commands.escalate_disputes,),
    )
    return create_http_app(
        runtime,
        title="Internal invoicing",
        description=(
            "Invoices and credit notes between cost centres for delivered handoffs, the "
            "double-entry internal ledger and department statements."
        ),
        routers=[api.router, finance_api.router, operator_api.router],
    )
