"""Waiting on a condition, never on a sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(check: Callable[[], bool], *, what: str, timeout: float = 30) -> None:
    """Wait until `check()` holds (polled every 20 ms); AssertionError naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.02)
