"""Composition root of order intake."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_kit.http import create_http_app
from supplychain_kit.problems import PROBLEM_JSON
from supplychain_kit.runtime import ServiceRuntime

from order_intake import api, store
from order_intake.config import OrderIntakeSettings
from order_intake.handlers import apply_event

SCHEMA = "order_intake"


async def seed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.load_company(conn, sample_company())


def create_app(settings: OrderIntakeSettings | None = None) -> FastAPI:
    settings = settings or OrderIntakeSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="order_intake",
        consumes=(topics.FULFILMENT, topics.INVOICING),
        produces=(topics.ORDERS,),
        apply=apply_event,
        seed=seed,
    )
    app = create_http_app(
        runtime,
        title="Order intake",
        description=DESCRIPTION,
        routers=[api.router],
    )
    install_problem_openapi(app)
    return app


DESCRIPTION = """Departments and employees place internal orders with supplying departments.

Authenticate as a department with `Authorization: Bearer <department key>`; a department
places, reads, approves and cancels only its own orders. Every error is an RFC 9457
`application/problem+json` document naming the offending field in `errors`."""


def install_problem_openapi(app: FastAPI) -> None:
    """Document error responses with the media type they are sent with (problem+json)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in document["paths"].values():
                for operation in operations.values():
                    for code, answer in operation.get("responses", {}).items():
                        content = answer.get("content", {})
                        if code[0] in "45" and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
