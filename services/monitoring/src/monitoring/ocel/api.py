"""HTTP API of the exports (issue 15): the OCEL 2.0 event log.

Company-wide process data: for analyst keys only (issue 23; a department key gets 403). The
log names employees by pseudonyms of the export and holds no free text (monitoring.ocel.log)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from supplychain_kit.auth import Principal, authenticate_roles
from supplychain_kit.http import Runtime
from supplychain_kit.problems import PROBLEM_RESPONSE
from supplychain_kit.runtime import ServiceRuntime

from monitoring.ocel import export

router = APIRouter(prefix="/v1", tags=["exports"])
Analyst = Annotated[Principal, Depends(authenticate_roles("analyst"))]

JSON = "application/json"
SQLITE = "application/vnd.sqlite3"
READ_BYTES = 64 * 1024

OCEL2_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the OCEL 2.0 event log of the month: JSON (`objectTypes`, `eventTypes`, "
        "`events`, `objects`), or with `format=sqlite` the OCEL 2.0 SQLite database",
        "content": {
            JSON: {"schema": {"type": "object"}},
            SQLITE: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    401: PROBLEM_RESPONSE,
    403: PROBLEM_RESPONSE,
    422: PROBLEM_RESPONSE,
}


@router.get("/exports/ocel2", response_class=StreamingResponse, responses=OCEL2_RESPONSES)
async def ocel2_export(
    runtime: Runtime,
    caller: Analyst,
    period: Annotated[
        str,
        Query(
            pattern=r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$",
            description="month, YYYY-MM (UTC): the events that occurred in it",
        ),
    ],
    export_format: Annotated[
        Literal["json", "sqlite"],
        Query(alias="format", description="`json` (OCEL 2.0 JSON) or `sqlite` (OCEL 2.0 SQLite)"),
    ] = "json",
) -> StreamingResponse:
    """The handoffs of a month as an OCEL 2.0 object-centric event log, for process-mining
    tools: one event type per contract event, objects order, department, invoice, credit_note
    and sla_clock, qualified relationships, an order's status and a clock's state over time.
    Analyst keys only; employees pseudonymised per export, free texts left out. Streamed; the SQLite form is written to a temporary file first."""
    name = f"supplychain-ocel2-{period}"
    if export_format == "sqlite":
        path = await _sqlite_file(runtime, period)
        return StreamingResponse(
            _file_chunks(path),
            media_type=SQLITE,
            headers={"Content-Disposition": f'attachment; filename="{name}.sqlite"'},
            background=BackgroundTask(path.unlink, missing_ok=True),
        )
    return StreamingResponse(
        _json_chunks(runtime, period),
        media_type=JSON,
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


async def _json_chunks(runtime: ServiceRuntime[Any], period: str) -> AsyncIterator[bytes]:
    async with (
        runtime.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        async for chunk in export.json_chunks(export.log_items(conn, period)):
            yield chunk


async def _sqlite_file(runtime: ServiceRuntime[Any], period: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="ocel2-", suffix=".sqlite")
    os.close(handle)
    path = Path(name)  # empty: SQLite takes an empty file for a new database
    try:
        async with (
            runtime.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            await export.write_sqlite(export.log_items(conn, period), path)
    except BaseException:
        await anyio.Path(path).unlink(missing_ok=True)
        raise
    return path


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as stream:
        while chunk := await stream.read(READ_BYTES):
            yield chunk
