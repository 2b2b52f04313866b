"""Admin bodies say what they did not understand: a key the body's model does not know is
refused (422, problem+json), named by its field with the closest known key, instead of being
ignored in silence (contract models ignore unknown fields: events must).

    KnownDepartmentKeys = Annotated[None, refuse_unknown_fields(Department)]

    async def define_department(
        code: str, body: Department, admin: Admin, _known: KnownDepartmentKeys
    ) -> ...

Declare it after the route's authentication, so that an unauthenticated caller still gets 401
(FastAPI solves a route's dependencies in the order of its parameters), and not in the route's
`dependencies=[...]`, which are solved before them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from supplychain_contracts.unknown_keys import unknown_keys

from supplychain_kit.http.problems import Problem


def refuse_unknown_fields(
    model: type[BaseModel], *, read_back: type[BaseModel] | None = None
) -> Any:
    """A dependency refusing a JSON body with keys `model` does not know; the answer names
    the body's other problems too (the model's own errors), so one round trip shows them all.

    `read_back`: what a GET of the same resource answers. Its own top-level keys (`active`,
    `history`, ...) are read-only, and accepted (and ignored) so that what a GET gave can be
    PUT back as it is."""
    read_only = frozenset(read_back.model_fields) if read_back else frozenset()
    return Depends(_refusal(model, read_only))


def _refusal(
    model: type[BaseModel], read_only: frozenset[str]
) -> Callable[[Request], Awaitable[None]]:
    async def refuse_unknown(request: Request) -> None:
        try:
            document = json.loads(await request.body())
        except ValueError:
            return  # not JSON: the input guards and the body's own validation answer it
        unknown = [
            found
            for found in unknown_keys(model, document)
            if len(found.location) > 1 or found.key not in read_only
        ]
        if not unknown:
            return
        errors = [{"field": found.field, "message": found.message} for found in unknown]
        errors += _model_errors(model, document)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise Problem(
            422, f"The request is invalid: {summary}", title="Invalid request", errors=errors
        )

    return refuse_unknown


def _model_errors(model: type[BaseModel], document: Any) -> list[dict[str, str]]:
    try:
        model.model_validate(document)
    except ValidationError as invalid:
        return [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "body",
                "message": error["msg"],
            }
            for error in invalid.errors()
            if error["type"] != "extra_forbidden"  # the unknown keys, named above
        ]
    return []
