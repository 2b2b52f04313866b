"""HTTP API of the handoff analytics (issue 15): where the time of a handoff goes, bottlenecks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["analytics"])
