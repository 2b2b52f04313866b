"""Log lines every service writes: JSON lines for machines, readable text in a terminal.

Each line carries the service, the logger, the trace and span ids of the current span and the
order being worked on where known, so a log line leads to its trace and back. The kit, uvicorn
and FastStream log through the standard `logging` module; python-json-logger is a formatter
for it (no second logging API to learn, and every library's records come out the same way).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TextIO

from fastapi.telemetry import get_telemetry_data
from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from supplychain_kit.http.asgi import UNOBSERVED_PREFIXES
from supplychain_kit.settings import ServiceSettings

LogFormat = Literal["json", "text"]

# The order a task works on (a consumed record's, a command's): a UUID or str, turned into
# text only when a line is written.
_ORDER_ID: ContextVar[object | None] = ContextVar("supplychain_order_id", default=None)

# Libraries that install their own handler and stop propagation: their records go through ours.
_OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream")


class bound_order:
    """`with bound_order(order_id):` log lines written inside name that order."""

    __slots__ = ("_order_id", "_token")

    def __init__(self, order_id: object | None) -> None:
        self._order_id = order_id
        self._token: Token[object | None] | None = None

    def __enter__(self) -> None:
        self._token = _ORDER_ID.set(self._order_id)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _ORDER_ID.reset(self._token)


def log_context() -> dict[str, str]:
    """trace_id and span_id of the current span, and order_id where known: bound by the code
    at work, or the `{order_id}` of the HTTP route being served."""
    fields: dict[str, str] = {}
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        fields["trace_id"] = format(span_context.trace_id, "032x")
        fields["span_id"] = format(span_context.span_id, "016x")
    order_id = _ORDER_ID.get()
    if order_id is None:
        request = getattr(get_telemetry_data(), "request", None)
        order_id = request.path_params.get("order_id") if request is not None else None
    if order_id is not None:
        fields["order_id"] = str(order_id)
    return fields


class JsonLines(JsonFormatter):
    """One JSON object per line: timestamp, level, service, logger, message, trace_id, span_id,
    order_id, then whatever the record carries as `extra`."""

    def __init__(self, service: str) -> None:
        super().__init__(reserved_attrs=[*RESERVED_ATTRS, "color_message"])
        self._service = service

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["service"] = self._service
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data.update(log_context())
        super().add_fields(log_data, record, message_dict)


class ReadableText(logging.Formatter):
    """`time LEVEL [service] logger: message (order_id=… trace_id=…)` for a person."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s [{service}] %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = log_context()
        context.pop("span_id", None)
        if not context:
            return line
        return line + " (" + " ".join(f"{k}={v}" for k, v in sorted(context.items())) + ")"


def is_traffic(record: logging.LogRecord) -> bool:
    """uvicorn's access line of a probe or a scrape (/health, /metrics) is not traffic."""
    args = record.args
    path = args[2] if isinstance(args, tuple) and len(args) == 5 else ""
    return not (isinstance(path, str) and path.startswith(UNOBSERVED_PREFIXES))


def formatter(service: str, log_format: LogFormat) -> logging.Formatter:
    return JsonLines(service) if log_format == "json" else ReadableText(service)


def setup_logging(settings: ServiceSettings, *, stream: TextIO | None = None) -> LogFormat:
    """Send every logger's records (the kit's, uvicorn's, FastStream's) to one handler on
    stderr: `LOG_FORMAT` when set, else text on a terminal and JSON lines otherwise."""
    stream = stream or sys.stderr
    log_format: LogFormat = settings.log_format or ("text" if stream.isatty() else "json")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(settings.service_name, log_format))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in _OWN_HANDLER_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        library.setLevel(logging.NOTSET)  # the root's level decides
        library.disabled = False
    access = logging.getLogger("uvicorn.access")
    if is_traffic not in access.filters:
        access.addFilter(is_traffic)
    return log_format
