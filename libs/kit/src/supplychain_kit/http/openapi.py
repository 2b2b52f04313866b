"""Every service's OpenAPI document says what the service answers: the errors each operation
can give (as problem+json) and the input rules the kit enforces for every route
(supplychain_kit.http.inputs), so a client, or a fuzzer, generating from the document sends what
the service accepts.

A client generator takes the document whole: each operation's id is its route function's
name (`place_order`), each model is one schema under its own name (a model both taken and
answered is not split into `-Input` and `-Output` twins), and a body a route may go without is
documented as its model. `/docs` (Swagger UI) and `/redoc` (ReDoc) show the document with
assets the service serves itself.

Added to what FastAPI generates from the routes:
- on every operation: 400 and 422, 413 with a body, 401 and 403 with a key, 404 with a path
  parameter, 429 and 503 but on health and metrics; every 4xx (and that 503) with the media
  type application/problem+json and `ProblemDetail`;
- on every request parameter and body field: a string without a pattern of its own gets the
  guard's (no control characters), an integer without bounds gets 64-bit ones;
- a discriminated union's tag is required in each variant (pydantic cannot tell the variant
  without it, whatever default the field has).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from supplychain_kit.http.inputs import (
    BODY_TEXT_PATTERN,
    INT64_MAX,
    INT64_MIN,
    PARAMETER_TEXT_PATTERN,
)
from supplychain_kit.http.problems import PROBLEM_JSON, ProblemDetail

_PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetail"}
_REF_PREFIX = "#/components/schemas/"
_INPUT, _OUTPUT = "-Input", "-Output"
_OPERATIONS_TAG = "operations"
# Swagger UI's and ReDoc's scripts, styles and icon, as the package ships them
DOCS_ASSETS = "/docs/assets"
_DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

# What every operation can answer, by what it has: the kit's guards and handlers give these
# whatever the route does (supplychain_kit.http.inputs, auth, the router).
_GUARDED = (
    "400",
    "the request cannot be read: a body that is not JSON (`line`, `column`, `position`) or "
    "is nested too deep (`limit_depth`)",
)
_TOO_LARGE = ("413", "the body is over the size limit (`limit_bytes`)")
_INVALID = (
    "422",
    "a parameter or the body is invalid (malformed, out of range, a control character); "
    "`errors` names each field",
)
_UNAUTHORIZED = ("401", "no or unknown API key (`Authorization: Bearer <key>`)")
_FORBIDDEN = (
    "403",
    "the key may not do this (an admin key on a department route, a department key on an "
    "admin route or for another department)",
)
_NOT_FOUND = ("404", "no such resource at this path")
_RATE_LIMITED = (
    "429",
    "too many requests for this key (the per-key rate limit): retry after `Retry-After` "
    "seconds (`retry_after_s`)",
)
_BUSY = (
    "503",
    "the service is busy (no database connection free in time): retry after `Retry-After` "
    "seconds (`retry_after_s`)",
)
# probes and scrapes: neither rate-limited nor answered busy
_UNLIMITED_PREFIXES = ("/health", "/metrics")


def install_openapi(app: FastAPI) -> None:
    """Generate the app's document once, with the answers and rules above."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            merge_input_output_twins(document)
            document_optional_bodies(document)
            document_problems(document)
            document_input_rules(document)
            order_tags(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs_pages(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, their scripts, styles and icon served by the
    service itself from the copies the fastapi-offline package ships: the pages work without
    internet (FastAPI's own load them from a CDN)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_DOCS_ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        document, assets = _page_urls(app, request)
        return get_swagger_ui_html(
            openapi_url=document,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        document, assets = _page_urls(app, request)
        return get_redoc_html(
            openapi_url=document,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )


def _page_urls(app: FastAPI, request: Request) -> tuple[str, str]:
    """The document's and the assets' paths, under the prefix a proxy may serve us at."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{root}{app.openapi_url}", f"{root}{DOCS_ASSETS}"


def operation_id(route: APIRoute) -> str:
    """The route function's name: what a generated client calls the operation. FastAPI's
    default adds the path and method (`place_order_v1_orders_post`)."""
    return route.name


def order_tags(document: dict[str, Any]) -> None:
    """The resources in the order the service's routes come, the kit's own operations
    (health, metrics, dead letters) last: the order the pages show them in."""
    tags = list(dict.fromkeys(t for _, op in _operations(document) for t in op.get("tags", [])))
    tags.sort(key=lambda tag: tag == _OPERATIONS_TAG)
    document["tags"] = [{"name": tag} for tag in tags]


def merge_input_output_twins(document: dict[str, Any]) -> None:
    """One schema per model. Pydantic describes a model both taken and answered (a reference
    definition an admin puts and reads back) twice, `X-Input` and `X-Output`, when reading and
    writing differ (a Decimal is read from a number or a string, written as a string); a
    generator then makes two models named X. The input's schema is kept, as `X`: every answer
    fits it. Twins whose fields differ (a computed field) stay apart."""
    schemas = document.get("components", {}).get("schemas", {})
    renamed: dict[str, str] = {}
    for name in [name for name in schemas if name.endswith(_INPUT)]:
        model = name.removesuffix(_INPUT)
        input_fields = set(schemas[name].get("properties", {}))
        output_fields = set(schemas.get(model + _OUTPUT, {}).get("properties", {}))
        if model in schemas or not output_fields <= input_fields:
            continue
        schemas[model] = schemas.pop(name)
        schemas.pop(model + _OUTPUT, None)
        renamed[_REF_PREFIX + name] = renamed[_REF_PREFIX + model + _OUTPUT] = _REF_PREFIX + model
    if renamed:
        _replace_references(document, renamed)


def document_optional_bodies(document: dict[str, Any]) -> None:
    """A body a route may go without is documented as its model, not as "the model or null":
    leaving it out is how a client sends none (and the input guards refuse a `null` body).
    Given "or null", openapi-python-client sends an unset body's placeholder as JSON and fails
    (openapi-generators/openapi-python-client#1488, open)."""
    for _, operation in _operations(document):
        body = operation.get("requestBody", {})
        if body.get("required"):
            continue
        for media in body.get("content", {}).values():
            variants = media.get("schema", {}).get("anyOf", [])
            models = [variant for variant in variants if variant != {"type": "null"}]
            if len(variants) == 2 and len(models) == 1:
                media["schema"] = models[0]


def _replace_references(node: Any, renamed: dict[str, str]) -> None:
    """Every `$ref` and discriminator mapping to a renamed schema, anywhere in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value in renamed:
                node[key] = renamed[value]
            else:
                _replace_references(value, renamed)
    elif isinstance(node, list):
        for value in node:
            _replace_references(value, renamed)


def _answers(operation: dict[str, Any], path: str) -> list[tuple[str, str]]:
    answers = [_GUARDED, _INVALID]
    if "requestBody" in operation:
        answers.append(_TOO_LARGE)
    if operation.get("security"):
        answers += [_UNAUTHORIZED, _FORBIDDEN]
    if "{" in path:
        answers.append(_NOT_FOUND)
    if not path.startswith(_UNLIMITED_PREFIXES):
        answers += [_RATE_LIMITED, _BUSY]
    return answers


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            yield path, operation


def document_problems(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = ProblemDetail.model_json_schema(ref_template=_REF_PREFIX + "{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["ProblemDetail"] = problem_schema
    # FastAPI's own 422 schemas describe an answer the kit never sends
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, operation in _operations(document):
        responses = operation.setdefault("responses", {})
        for code, description in _answers(operation, path):
            if code == _BUSY[0] and code not in responses:
                responses[code] = {
                    "description": description,
                    "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
                }
            responses.setdefault(code, {"description": description})
        for code, answer in responses.items():
            if code.startswith("4"):
                answer["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}


def document_input_rules(document: dict[str, Any]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    body_schemas: list[dict[str, Any]] = []
    for _, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            _constrain(parameter.get("schema", {}), PARAMETER_TEXT_PATTERN, schemas, seen=set())
        for media in operation.get("requestBody", {}).get("content", {}).values():
            body_schemas.append(media.get("schema", {}))
    seen: set[str] = set()
    for schema in body_schemas:
        _constrain(schema, BODY_TEXT_PATTERN, schemas, seen=seen)


def _constrain(
    schema: dict[str, Any], text: str, schemas: dict[str, Any], *, seen: set[str]
) -> None:
    """Add the guard's rules to a schema and everything it refers to (each component once)."""
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith(_REF_PREFIX):
        name = reference.removeprefix(_REF_PREFIX)
        if name not in seen and name in schemas:
            seen.add(name)
            _constrain(schemas[name], text, schemas, seen=seen)
        return
    kind = schema.get("type")
    if kind == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        schema["pattern"] = text
    elif kind == "integer":
        schema.setdefault("minimum", INT64_MIN)
        schema.setdefault("maximum", INT64_MAX)
    discriminator = schema.get("discriminator", {})
    for variant in discriminator.get("mapping", {}).values():
        target = schemas.get(str(variant).removeprefix(_REF_PREFIX), {})
        required = target.setdefault("required", [])
        if discriminator["propertyName"] not in required:
            required.append(discriminator["propertyName"])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for branch in schema.get(key, []):
            _constrain(branch, text, schemas, seen=seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _constrain(schema[key], text, schemas, seen=seen)
    for prop in schema.get("properties", {}).values():
        _constrain(prop, text, schemas, seen=seen)
