"""HTTP API of the exports (issue 15): the OCEL 2.0 event log.

Company-wide process data: for analyst keys only (issue 23; a department key gets 403). The
log names employees by pseudonyms of the export and holds no free text (monitoring.ocel.log)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from supplychain_kit.http import downloads
from supplychain_kit.http.app import Runtime
from supplychain_kit.http.auth import Principal, authenticate_roles
from supplychain_kit.http.downloads import FileDownload
from supplychain_kit.http.problems import PROBLEM_RESPONSE
from supplychain_kit.runtime import ServiceRuntime

from monitoring.ocel import export

router = APIRouter(prefix="/v1", tags=["exports"])
Analyst = Annotated[Principal, Depends(authenticate_roles("analyst"))]

JSON = "application/json"
SQLITE = "application/vnd.sqlite3"

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
    Analyst keys only; employees pseudonymised per export, free texts left out. Written to a
    temporary file first (on the export pool), then sent from it."""
    name = f"supplychain-ocel2-{period}"
    path = await _spooled(runtime, period, export_format)
    return FileDownload(
        path,
        media_type=SQLITE if export_format == "sqlite" else JSON,
        filename=f"{name}.{export_format}",
        stall_timeout_s=runtime.settings.http_download_stall_timeout_s,
    )


async def _spooled(runtime: ServiceRuntime[Any], period: str, export_format: str) -> Path:
    """The export written to a temporary file on the export pool, in one snapshot: the
    connection is back in its pool before the first byte is sent, however slow the reader."""
    async with (
        runtime.export_pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        items = export.log_items(conn, period)
        if export_format == "sqlite":
            return await downloads.spool_file(
                lambda path: export.write_sqlite(items, path), suffix=".sqlite"
            )
        return await downloads.spool(export.json_chunks(items), suffix=".json")
