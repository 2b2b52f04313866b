"""What a request may carry, checked once for every route of every service before any route
(or PostgreSQL) sees it, and the answer to a failure no route expected.

`GuardInputs` (pure ASGI) refuses, as problem documents:
- 422 naming the field: a control character (or NUL) in the path, a query parameter, a header
  value or a JSON string (tab, newline and carriage return are text in a body); in a body also
  a lone surrogate (not encodable as UTF-8), an integer beyond 64 bits, NaN or an infinity,
  and a body that is `null` (a route that takes no body is sent none; FastAPI would read
  `null` as no body where a body is optional, which the OpenAPI document does not offer);
- 400 naming the position or the limit: a body that is not JSON (line, column, offset), or is
  nested deeper than `MAX_JSON_DEPTH`;
- 413 naming the limit: a body over `max_body_bytes`, from its Content-Length before reading
  it, or counted while it streams in (chunked), without reading the rest.
- 422 naming the parameter: a path or query parameter the OpenAPI document declares an
  integer, beyond 64 bits (PostgreSQL's bigint). Domain ranges (a quantity, a page size) stay
  with the route's own types.

`AnswerUnexpected` (pure ASGI, outermost): an exception no handler mapped is logged and
answered as a problem+json 500, and the connection stays usable. (Starlette's error middleware
re-raises after answering, and uvicorn then drops the kept-alive connection.)
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplychain_kit.http.paths import integer_parameters, path_parameters
from supplychain_kit.http.problems import PROBLEM_JSON, problem_body

log = logging.getLogger(__name__)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_REPORTED = 20

# C0 controls, DEL and C1 controls; in a body tab, newline and carriage return are text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The same as JSON Schema patterns (ECMA and Python read them alike): what a text parameter,
# and a text field of a body, may be.
PARAMETER_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
BODY_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
# Header values are bytes (latin-1): C0 controls but tab, and DEL. Bytes 0x80-0xff are left
# alone: they are how UTF-8 text reaches a header.
_HEADER_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_INT64_DIGITS = len(str(INT64_MAX))
# A run of digits as long as a bigint's: only then can a parameter be out of its range.
_LONG_NUMBER = re.compile(rf"[0-9]{{{_INT64_DIGITS},}}")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def refusal(value: str, *, body: bool = False) -> str | None:
    """Why a string may not reach a route, or None."""
    found = (_BODY_CONTROL if body else _CONTROL).search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return f"contains a lone surrogate U+{ord(char):04X} (not encodable as UTF-8)"
    return f"contains the control character U+{ord(char):04X}"


class _NotANumber:
    """A JSON token Python reads but JSON does not have (NaN, Infinity) or that no column
    holds (an integer beyond 64 bits): parsed as this, refused with the field it is in."""

    def __init__(self, token: str) -> None:
        self.token = token


def _parse_int(token: str) -> int | _NotANumber:
    if len(token.lstrip("+-").lstrip("0")) > _INT64_DIGITS:
        return _NotANumber(token)
    value = int(token)
    return value if INT64_MIN <= value <= INT64_MAX else _NotANumber(token)


def _parse_float(token: str) -> float | _NotANumber:
    value = float(token)
    return value if math.isfinite(value) else _NotANumber(token)


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_NotANumber
)


def _field(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path) or "body"


def body_problems(document: Any) -> Iterator[tuple[str, str]]:
    """(field, message) of every value in a parsed JSON body a route must not get; a value
    nested deeper than `MAX_JSON_DEPTH` is one message, and not walked into."""
    if document is None:
        yield "body", "null is no body: leave the body out instead"
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            yield _field(path), f"nested deeper than {MAX_JSON_DEPTH} levels"
            continue
        if isinstance(value, str):
            reason = refusal(value, body=True)
            if reason:
                yield _field(path), reason
        elif isinstance(value, _NotANumber):
            token = value.token if len(value.token) <= 40 else value.token[:37] + "..."
            yield _field(path), f"{token} is out of range (at most 64-bit integers, finite numbers)"
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                reason = refusal(key, body=True)
                if reason:
                    yield _field((*path, key)), f"the name {reason}"
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(value))))


def _is_json(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    close: bool = False,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> None:
    """Answer a problem document straight from ASGI (before or outside FastAPI's handlers)."""
    document = problem_body(
        status, detail, instance=scope.get("path", ""), title=title, **extensions
    )
    body = json.dumps(document).encode()
    raw_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [
        (name.lower().encode(), value.encode()) for name, value in (headers or {}).items()
    ]
    if close:
        raw_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _path_parameter(scope: Scope) -> str:
    """The route parameter a refused path segment is (the path template's name), else path."""
    app = scope.get("app")
    if app is not None:
        for name, value in path_parameters(app, scope.get("path", "")).items():
            if refusal(value):
                return name
    return "path"


def _request_line_problems(scope: Scope) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    reason = refusal(scope.get("path", ""))
    if reason:
        problems.append({"field": _path_parameter(scope), "message": reason})
    query = scope.get("query_string", b"").decode("latin-1")
    if "%" in query or _CONTROL.search(query):
        for name, value in parse_qsl(query, keep_blank_values=True):
            reason = refusal(name)
            if reason:
                problems.append({"field": "query", "message": f"a parameter name {reason}"})
            reason = refusal(value)
            if reason:
                problems.append(
                    {"field": name if not refusal(name) else "query", "message": reason}
                )
    if _LONG_NUMBER.search(scope.get("path", "")) or _LONG_NUMBER.search(query):
        problems += _integers_beyond_64_bits(scope, query)
    for name, value in scope.get("headers", ()):
        if _HEADER_CONTROL.search(value):
            found = _HEADER_CONTROL.search(value)
            assert found is not None
            header = name.decode("latin-1")
            problems.append(
                {
                    "field": header.title() if header.islower() else header,
                    "message": f"contains the control character U+{ord(found.group()):04X}",
                }
            )
    return problems


def _integers_beyond_64_bits(scope: Scope, query: str) -> list[dict[str, str]]:
    """Path and query parameters declared integers whose value no bigint holds."""
    app = scope.get("app")
    path = scope.get("path", "")
    if app is None:
        return []
    declared = integer_parameters(app, scope.get("method", ""), path)
    values = [("query", name, value) for name, value in parse_qsl(query, keep_blank_values=True)]
    values += [("path", name, value) for name, value in path_parameters(app, path).items()]
    return [
        {"field": name, "message": f"{value[:40]} is beyond a 64-bit integer"}
        for where, name, value in values
        if (where, name) in declared
        and _INTEGER.fullmatch(value.strip())
        and isinstance(_parse_int(value.strip()), _NotANumber)
    ]


class GuardInputs:
    """Refuse control characters, out-of-range numbers, malformed, too deep and too large
    bodies before a route runs (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problems = _request_line_problems(scope)
        if problems:
            await _refuse_fields(scope, send, problems)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, send)
            return
        body = bytearray()
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more_body = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, send)
                return
        if body and _is_json(headers):
            refused = await _refuse_json(scope, send, bytes(body))
            if refused:
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        # The rest of the body is never read, so the connection cannot carry another request.
        await send_problem(
            scope,
            send,
            413,
            f"The request body is larger than the limit of {self.max_body_bytes} bytes.",
            close=True,
            limit_bytes=self.max_body_bytes,
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read in full, then whatever the server says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse_fields(scope: Scope, send: Send, problems: list[dict[str, str]]) -> None:
    problems = problems[:MAX_REPORTED]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    await send_problem(
        scope,
        send,
        422,
        f"The request is invalid: {summary}",
        title="Invalid request",
        errors=problems,
    )


async def _refuse_json(scope: Scope, send: Send, body: bytes) -> bool:
    """Answer a problem and return True when the JSON body must not reach the route."""
    try:
        document = _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        message = f"the body is not UTF-8 (byte {exc.start})"
        await send_problem(
            scope,
            send,
            400,
            f"The request body cannot be read: {message}.",
            title="Malformed body",
            position=exc.start,
            errors=[{"field": "body", "message": message}],
        )
        return True
    except json.JSONDecodeError as exc:
        message = f"{exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
        await send_problem(
            scope,
            send,
            400,
            f"The request body is not valid JSON: {message}.",
            title="Malformed JSON",
            line=exc.lineno,
            column=exc.colno,
            position=exc.pos,
            errors=[{"field": "body", "message": message}],
        )
        return True
    except RecursionError:
        message = f"nested deeper than {MAX_JSON_DEPTH} levels"
        await send_problem(
            scope,
            send,
            400,
            f"The request body is {message}.",
            title="Malformed JSON",
            limit_depth=MAX_JSON_DEPTH,
            errors=[{"field": "body", "message": message}],
        )
        return True
    problems = [{"field": field, "message": message} for field, message in body_problems(document)]
    if not problems:
        return False
    too_deep = next((p for p in problems if p["message"].startswith("nested deeper")), None)
    if too_deep is not None:
        await send_problem(
            scope,
            send,
            400,
            f"The request body is {too_deep['message']} (at {too_deep['field']}).",
            title="Malformed JSON",
            limit_depth=MAX_JSON_DEPTH,
            errors=[too_deep],
        )
        return True
    await _refuse_fields(scope, send, problems)
    return True


class AnswerUnexpected:
    """A failure no exception handler mapped: logged, answered as a problem+json 500, and
    not re-raised, so the server keeps the connection (uvicorn closes it on an exception).
    If the response had already started, the exception goes on: the server then closes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            if started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await send_problem(
                scope,
                send,
                500,
                "An internal error occurred; it has been logged.",
                title="Internal Server Error",
            )


def install_input_guards(app: FastAPI, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Add the guards to a service's app: `AnswerUnexpected` around `GuardInputs` around the
    routes. Middleware added after this (the request histogram) sees the answers of both."""
    app.add_middleware(GuardInputs, max_body_bytes=max_body_bytes)
    app.add_middleware(AnswerUnexpected)
