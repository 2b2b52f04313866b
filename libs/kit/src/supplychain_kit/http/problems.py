"""RFC 9457 problem+json errors for every HTTP failure, without leaking internals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from supplychain_contracts.company import InvalidDefinition

from supplychain_kit.http.paths import allowed_methods

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = problem_body(
        status, detail, instance=request.url.path, title=title, type_=type_, **extensions
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str,
    title: str | None = None,
    type_: str = "about:blank",
    **extensions: Any,
) -> dict[str, Any]:
    """An RFC 9457 problem document: `ProblemDetail`, plus the problem's own extensions."""
    return {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extensions,
    }


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(location[0] if location else "request")


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.detail,
            title=exc.title,
            type_=exc.type,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(error.get("loc", ())), "message": error.get("msg", "invalid")}
            for error in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(
            request,
            422,
            f"The request is invalid: {summary}",
            title="Invalid request",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names the methods of the first route of the path only
            methods = allowed_methods(request.app, request.url.path)
            if methods:
                headers = {**(headers or {}), "Allow": ", ".join(sorted(methods))}
        return problem_response(request, exc.status_code, str(exc.detail), headers=headers)

    # Any other exception is answered by supplychain_kit.http.inputs.AnswerUnexpected: an
    # `Exception` handler here would go to Starlette's error middleware, which re-raises after
    # answering, and uvicorn then drops the client's kept-alive connection.


@contextmanager
def refused_definitions() -> Iterator[None]:
    """An admin route's refused definition of reference data as a 422 problem document
    naming each field."""
    try:
        yield
    except InvalidDefinition as invalid:
        raise Problem(
            422,
            f"The definition is refused: {invalid}",
            title="Invalid definition",
            errors=[{"field": p.field, "message": p.message} for p in invalid.problems],
        ) from invalid


class ErrorItem(BaseModel):
    field: str = Field(description="the offending input", examples=["lines.0.quantity"])
    message: str = Field(description="what is wrong with it")


class ProblemDetail(BaseModel):
    """RFC 9457 problem document (media type application/problem+json); a problem may add
    members of its own (e.g. `status_now`, `limit_bytes`, `line` and `column`)."""

    type: str = Field(default="about:blank", description="problem type URI")
    title: str = Field(description="short summary", examples=["Order refused"])
    status: int = Field(description="HTTP status", examples=[422])
    detail: str = Field(
        description="human-readable explanation", examples=["needed_by is in the past"]
    )
    instance: str = Field(description="the request path", examples=["/v1/orders"])
    errors: list[ErrorItem] | None = Field(
        default=None, description="for 422 and rule refusals: each offending field"
    )


# For `responses=` in route declarations: the error body is a problem document.
PROBLEM_RESPONSE: dict[str, Any] = {"model": ProblemDetail}
