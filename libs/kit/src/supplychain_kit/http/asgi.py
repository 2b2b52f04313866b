"""HTTP observation: FastAPI's own OpenTelemetry server spans, and our request histogram as
pure ASGI middleware.

FastAPI (0.165+) traces each request natively: a server span named by the route template
(`POST /v1/orders`, `http.route`), continuing the caller's W3C `traceparent`. We keep that and
turn off its per-operation spans (dependencies, endpoint, serialization: three more spans per
request). The duration histogram is pure ASGI, not Starlette's BaseHTTPMiddleware, which runs
every request through an extra task and memory streams. Probes and scrapes (/health,
/metrics) are neither traced nor counted: they are not traffic.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplychain_kit import metrics

UNOBSERVED_PREFIXES = ("/health", "/metrics")
# The request histogram's `method` label: any other method a client sends (anyone may send
# any token, unauthenticated) is counted as `other`, so it cannot add series without limit.
# The route label is already bounded: the matched route's template, else `unmatched`.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


def unobserved(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).startswith(UNOBSERVED_PREFIXES)


def fastapi_telemetry() -> TelemetryConfig:
    """How FastAPI traces requests in every service (spans only; metrics are Prometheus')."""
    return {
        "tracing": True,
        "operation_spans": False,
        "metrics": False,
        "logs": False,
        "exclude": unobserved,
    }


class ObserveRequests:
    """`supplychain_http_request_duration_seconds` by service, method, route template, status."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or unobserved(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before responding

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            metrics.HTTP_DURATION.labels(
                service=self.service,
                method=method_label(scope["method"]),
                route=_route_template(scope) or "unmatched",
                status=str(status),
            ).observe(time.perf_counter() - started)


def method_label(method: str) -> str:
    """The method as the histogram labels it: a known one, else `other`."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


def _route_template(scope: Scope) -> str | None:
    """The matched route's path template (the router writes the route into the scope)."""
    route: Any = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else None
