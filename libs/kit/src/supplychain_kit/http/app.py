"""The HTTP side every service has: health, metrics, AsyncAPI, problem+json, request metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from supplychain_kit import metrics
from supplychain_kit.db import PoolExhausted
from supplychain_kit.http import asyncapi_page
from supplychain_kit.http.asgi import ObserveRequests, fastapi_telemetry
from supplychain_kit.http.inputs import install_input_guards
from supplychain_kit.http.openapi import install_docs_pages, install_openapi, operation_id
from supplychain_kit.http.problems import install_problem_handlers, problem_response
from supplychain_kit.http.rate_limit import RateLimit
from supplychain_kit.messaging import reference
from supplychain_kit.runtime import ServiceRuntime
from supplychain_kit.settings import ServiceSettings

# Dependencies are `async def`: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hop per request for a few attribute reads.


async def get_runtime(request: Request) -> ServiceRuntime[Any]:
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


async def get_settings(request: Request) -> ServiceSettings:
    """The service's settings; a service aliases it with its own settings class:
    ``Settings = Annotated[OrderIntakeSettings, Depends(get_settings)]``."""
    settings: ServiceSettings = request.app.state.runtime.settings
    return settings


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the request pool (a bounded wait, then 503)."""
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    async with runtime.request_pool.acquire() as conn:
        yield conn


async def get_export_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the export pool, for a heavy read (a month of events, a company-wide
    aggregate): its own few connections and timeouts, so it takes none a request needs."""
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    async with runtime.export_pool.acquire() as conn:
        yield conn


Runtime = Annotated[ServiceRuntime[Any], Depends(get_runtime)]
# scope="function": the connection goes back to the pool when the route returns, before the
# response is sent, so a client that reads slowly holds no connection.
Db = Annotated[asyncpg.Connection, Depends(get_connection, scope="function")]
ExportDb = Annotated[asyncpg.Connection, Depends(get_export_connection, scope="function")]


def create_http_app(
    runtime: ServiceRuntime[Any],
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    on_started: Callable[[ServiceRuntime[Any]], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_started is not None:
            await on_started(runtime)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        telemetry=fastapi_telemetry(),
        generate_unique_id_function=operation_id,
        # served by install_docs_pages, from the package rather than a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_openapi(app)
    install_docs_pages(app)
    app.include_router(_operations_router())
    for router in routers:
        app.include_router(router)
    install_input_guards(app, max_body_bytes=runtime.settings.http_max_body_bytes)
    _install_resource_guards(app, runtime.settings)
    app.add_middleware(ObserveRequests, service=runtime.settings.service_name)
    return app


def _install_resource_guards(app: FastAPI, settings: ServiceSettings) -> None:
    """The per-key rate limit (outside the input guards: a refused request is not read),
    and a pool that has no connection free in time answered 503, never a hang."""
    app.add_middleware(
        RateLimit,
        service=settings.service_name,
        per_second=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
    )

    @app.exception_handler(PoolExhausted)
    async def on_pool_exhausted(request: Request, exc: PoolExhausted) -> JSONResponse:
        metrics.DATABASE_POOL_TIMEOUTS.labels(service=settings.service_name, pool=exc.pool).inc()
        return problem_response(
            request,
            503,
            f"The service is busy: {exc}; retry after {exc.retry_after_s} s.",
            headers={"Retry-After": str(exc.retry_after_s)},
            retry_after_s=exc.retry_after_s,
        )


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/health/ready", responses={503: {"description": "a dependency is unreachable"}})
    async def ready(runtime: Runtime) -> JSONResponse:
        """Broker and database reachable."""
        checks = await runtime.readiness()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
        )

    @router.get("/metrics", response_class=Response)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics (OpenMetrics with exemplars when asked for)."""
        body, content_type = metrics.exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    @router.get("/v1/reference/status")
    async def reference_status(runtime: Runtime) -> dict[str, Any]:
        """The reference entities (departments, catalogue items, employees, SLA policies,
        calendars) this service has learnt from the reference topic, per kind."""
        async with runtime.request_pool.acquire() as conn:
            return await reference.status(conn)

    @router.get("/asyncapi.json")
    async def asyncapi(runtime: Runtime) -> JSONResponse:
        """AsyncAPI 3.0 document of the topics this service publishes and consumes."""
        return JSONResponse(runtime.asyncapi())

    @router.get("/asyncapi", response_class=HTMLResponse)
    async def asyncapi_html(runtime: Runtime) -> HTMLResponse:
        """The same AsyncAPI document as a page to read."""
        return HTMLResponse(asyncapi_page.render(runtime.asyncapi()))

    return router
