"""Log lines: JSON with the service, the trace and span of the current span and the order at
work; readable text on a terminal; uvicorn's and FastStream's records through the same handler."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from supplychain_kit.logs import JsonLines, ReadableText, bound_order, setup_logging
from supplychain_kit.settings import ServiceSettings

TRACER = TracerProvider().get_tracer("test")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {
        name: {
            **vars(logging.getLogger(name)),
            "handlers": list(logging.getLogger(name).handlers),
            "filters": list(logging.getLogger(name).filters),
        }
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream")
    }
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, saved in libraries.items():
            library = logging.getLogger(name)
            for attribute in ("handlers", "filters", "propagate", "level", "disabled"):
                setattr(library, attribute, saved[attribute])


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "supplychain.test", logging.WARNING, __file__, 1, message, args, None
    )
    record.__dict__.update(extra)
    return record


def test_a_json_line_names_the_service_the_span_and_the_order() -> None:
    order_id = uuid.uuid4()
    with TRACER.start_as_current_span("work") as span, bound_order(order_id):
        line = JsonLines("fulfilment").format(_record("shipped %s", "x", department="FRAMES"))
    fields = json.loads(line)
    context = span.get_span_context()
    assert fields["level"] == "WARNING"
    assert fields["service"] == "fulfilment"
    assert fields["logger"] == "supplychain.test"
    assert fields["message"] == "shipped x"
    assert fields["trace_id"] == format(context.trace_id, "032x")
    assert fields["span_id"] == format(context.span_id, "016x")
    assert fields["order_id"] == str(order_id)
    assert fields["department"] == "FRAMES"  # a record's `extra` comes along
    assert fields["timestamp"].endswith("+00:00") and "T" in fields["timestamp"]
    assert list(fields)[:5] == ["timestamp", "level", "service", "logger", "message"]


def test_outside_a_span_and_an_order_there_are_no_ids() -> None:
    with bound_order(uuid.uuid4()):
        pass  # the binding ends with its block
    fields = json.loads(JsonLines("invoicing").format(_record("idle")))
    assert not {"trace_id", "span_id", "order_id"} & set(fields)


def test_an_exception_is_in_the_json_line() -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    fields = json.loads(JsonLines("invoicing").format(record))
    assert "ValueError: bad input" in fields["exc_info"]


def test_text_is_one_readable_line_with_the_ids() -> None:
    order_id = uuid.uuid4()
    with TRACER.start_as_current_span("work") as span, bound_order(order_id):
        line = ReadableText("monitoring").format(_record("breached"))
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert "WARNING [monitoring] supplychain.test: breached" in line
    assert line.endswith(f"(order_id={order_id} trace_id={trace_id})")


def test_setup_writes_json_to_a_pipe_and_text_to_a_terminal(restored_logging: None) -> None:
    settings = ServiceSettings(service_name="order-intake")
    pipe = io.StringIO()
    assert setup_logging(settings, stream=pipe) == "json"
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "c", "GET", "/x", "1.1", 200
    )
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "c", "GET", "/health/ready", "1.1", 200
    )  # a probe is not traffic
    logging.getLogger("faststream").warning("from the framework")
    lines = [json.loads(line) for line in pipe.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.access", 'c - "GET /x HTTP/1.1" 200'),
        ("faststream", "from the framework"),
    ]
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert setup_logging(settings, stream=terminal) == "text"
        assert setup_logging(
            settings.model_copy(update={"log_format": "json"}), stream=terminal
        ) == ("json")
    os.close(leader)


def test_log_format_is_validated() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        ServiceSettings.model_validate({"LOG_FORMAT": "xml"})
    assert ServiceSettings.model_validate({"LOG_FORMAT": "text"}).log_format == "text"


def test_the_current_span_of_the_global_api_is_what_is_logged() -> None:
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("x")
    with trace.use_span(span, end_on_exit=True):
        fields = json.loads(JsonLines("s").format(_record("m")))
    assert fields["span_id"] == format(span.get_span_context().span_id, "016x")
