"""Walk every operation of every service's OpenAPI document and send, in every parameter
(path, query, header) and every body field, an integer beyond 64 bits, a string with a NUL
byte and one with control characters: each answer is a 4xx problem document naming the
field (never a 5xx), and the kept-alive connection goes on serving.

The services run as processes on the real broker and database, as `make run` starts them.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from supplychain_devstack.services import ServiceProcess
from support.stacks import credentials, four_services  # noqa: F401

pytestmark = pytest.mark.integration

BEYOND_64_BITS = 2**64 + 1
NUL = "walk\x00nul"
CONTROL = "walk\x1b[31m\x07\x7f\u0085"
# (what it is, the value as JSON in a body, as text in a path or query)
BAD_VALUES = [
    ("an integer beyond 64 bits", BEYOND_64_BITS, str(BEYOND_64_BITS)),
    ("a NUL byte", NUL, NUL),
    ("control characters", CONTROL, CONTROL),
]
MAX_FIELD_DEPTH = 4


@dataclass(frozen=True)
class Field:
    """One input of an operation: where it goes, its name (dotted for a body field) and the
    type the document declares."""

    location: str  # path, query, header, body
    name: str
    path: tuple[str | int, ...]
    declared: str | None


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """The schema behind a $ref, and an optional one's non-null branch."""
    for _ in range(10):
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            continue
        branches = [
            b for b in schema.get("anyOf", schema.get("oneOf", [])) if b.get("type") != "null"
        ]
        if branches:
            schema = branches[0]
            continue
        return schema
    return schema


def body_fields(
    schema: dict[str, Any], document: dict[str, Any], path: tuple[str | int, ...] = ()
) -> Iterator[Field]:
    schema = resolve(schema, document)
    if len(path) >= MAX_FIELD_DEPTH:
        return
    if schema.get("type") == "array" and "items" in schema:
        yield from body_fields(schema["items"], document, (*path, 0))
        return
    for name, prop in schema.get("properties", {}).items():
        field_path = (*path, name)
        target = resolve(prop, document)
        yield Field("body", ".".join(map(str, field_path)), field_path, target.get("type"))
        if target.get("type") in ("object", "array"):
            yield from body_fields(target, document, field_path)


def operation_fields(operation: dict[str, Any], document: dict[str, Any]) -> list[Field]:
    fields = [
        Field(p["in"], p["name"], (), resolve(p.get("schema", {}), document).get("type"))
        for p in operation.get("parameters", [])
    ]
    for media in operation.get("requestBody", {}).get("content", {}).values():
        fields += list(body_fields(media["schema"], document))
    return fields


def valid_parameter(parameter: dict[str, Any], document: dict[str, Any]) -> str:
    """A value that routes the request (the walk changes one input at a time)."""
    schema = resolve(parameter.get("schema", {}), document)
    examples = parameter.get("examples") or schema.get("examples")
    if isinstance(examples, dict):
        examples = [e.get("value") for e in examples.values()]
    if examples:
        return str(examples[0])
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return str(max(1, schema.get("minimum", 1)))
    if parameter["name"] == "Idempotency-Key":
        return f"walk-{uuid.uuid4()}"
    return "ASSEMBLY"


def nest(path: tuple[str | int, ...], value: Any) -> Any:
    """A body holding `value` at `path`, e.g. ("lines", 0, "sku") -> {"lines": [{"sku": v}]}."""
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


@dataclass
class Walk:
    client: httpx.Client
    document: dict[str, Any]
    port: int | None = None
    sent: int = 0

    def send(
        self, method: str, path: str, operation: dict[str, Any], field: Field, value: Any, text: str
    ) -> tuple[httpx.Response, str]:
        params: dict[str, str] = {}
        headers = credentials(path)
        url = path
        for parameter in operation.get("parameters", []):
            chosen = (
                text
                if parameter["name"] == field.name and parameter["in"] == field.location
                else valid_parameter(parameter, self.document)
            )
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", _quote(chosen))
            elif parameter["in"] == "query":
                params[parameter["name"]] = chosen
            elif parameter["in"] == "header" and parameter["name"] != field.name:
                headers[parameter["name"]] = chosen
        content = json.dumps(nest(field.path, value)) if field.location == "body" else None
        if "requestBody" in operation and content is None:
            content = "{}"
        if content is not None:
            headers["Content-Type"] = "application/json"
        response = self.client.request(method, url, params=params, headers=headers, content=content)
        self.sent += 1
        port = response.extensions["network_stream"].get_extra_info("socket").getsockname()[1]
        self.port = self.port or port
        where = f"{method} {path} {field.location} {field.name}"
        # the connection outlived every answer: the client never had to open another
        assert port == self.port, f"{where}: the server closed the kept-alive connection"
        return response, where


def _quote(text: str) -> str:
    return quote(text, safe="")


def fields_named(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json().get("errors") or []]


def check(response: httpx.Response, where: str, field: Field, what: str) -> list[str]:
    """What is wrong with the answer, if anything."""
    if response.status_code >= 500:
        return [f"{where} {what}: {response.status_code} {response.text[:300]}"]
    number_as_text = what == "an integer beyond 64 bits" and field.location != "body"
    if number_as_text and field.declared != "integer" and response.status_code < 400:
        return []  # digits are a valid code or name where text is declared
    if not 400 <= response.status_code < 500:
        return [f"{where} {what}: accepted ({response.status_code})"]
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return [f"{where} {what}: {response.status_code} not a problem document"]
    named = fields_named(response)
    # a string where a number is declared, or a number beyond 64 bits where text is: the
    # value's own field is named; a number beyond 64 bits in a number field: named too
    must_name = what != "an integer beyond 64 bits" or field.declared == "integer"
    if (
        must_name
        and field.name not in named
        and not any(field.name.startswith(f"{n}.") for n in named)
    ):
        return [f"{where} {what}: {response.status_code} names {named}, not {field.name}"]
    return []


def header_refused_on_the_wire(
    service: ServiceProcess, path: str, name: str, value: str
) -> str | None:
    """A control character in a header never gets past the server: sent raw (no client
    library sends it), the answer must be a 4xx."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\n{name}: {value}\r\n\r\n"
        sock.sendall(request.encode("latin-1", "replace"))
        answer = sock.recv(4096)
    status = answer.split(b" ", 2)[1:2]
    if not status or not status[0].startswith(b"4"):
        return f"header {name} on {path}: {answer[:200]!r}"
    return None


def walk_service(service: ServiceProcess) -> tuple[int, list[str]]:
    document = httpx.get(f"{service.url}/openapi.json").json()
    failures: list[str] = []
    with httpx.Client(base_url=service.url, timeout=10) as client:
        walk = Walk(client, document)
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for field in operation_fields(operation, document):
                    if field.location == "header":
                        for what, _, text in BAD_VALUES[1:]:
                            problem = header_refused_on_the_wire(
                                service, path.replace("{", "").replace("}", ""), field.name, text
                            )
                            failures += [f"{what}: {problem}"] if problem else []
                        continue
                    for what, value, text in BAD_VALUES:
                        response, where = walk.send(
                            method.upper(), path, operation, field, value, text
                        )
                        failures += check(response, where, field, what)
        # and the service is well
        assert client.get("/health/ready").status_code == 200
    return walk.sent, failures


def test_every_input_of_every_operation_refuses_values_no_column_holds(
    four_services: dict[str, ServiceProcess],  # noqa: F811
) -> None:
    sent: dict[str, int] = {}
    failures: list[str] = []
    for name, service in four_services.items():
        sent[name], found = walk_service(service)
        failures += [f"{name}: {f}" for f in found]
    assert failures == [], "\n".join(failures[:40])
    # every service has inputs to walk: the walk did not silently find nothing
    assert all(count >= 10 for count in sent.values()), sent
