"""HTTP API of the exports (issue 15): the OCEL 2.0 event log."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["exports"])
