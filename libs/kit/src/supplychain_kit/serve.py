"""Run a service's HTTP app (and with it, its broker and background jobs) under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import uvicorn
from fastapi import FastAPI

from supplychain_kit.logs import setup_logging
from supplychain_kit.settings import ServiceSettings

TICK_S = 1.0  # uvicorn's own: 0.1
STARTUP_FAILURE = 3  # uvicorn's exit code when the app did not start


class Server(uvicorn.Server):
    """uvicorn's server, looking whether to exit (and renewing its Date header) once a second
    instead of ten times: an idle service wakes less (a signal is still noticed within it)."""

    async def main_loop(self) -> None:
        should_exit = await self.on_tick(0)
        while not should_exit:
            await asyncio.sleep(TICK_S)
            should_exit = await self.on_tick(0)  # 0: each tick is a whole second


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    setup_logging(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        # uvicorn's own records go through the handler setup_logging installed
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.http_access_log or settings.log_level.upper() == "DEBUG",
        timeout_graceful_shutdown=10,
        # uvloop's event loop and httptools' parser: cheaper per request than asyncio + h11
        loop="uvloop",
        http="httptools",
    )
    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # as uvicorn.run: a failed startup is the process's failure
        sys.exit(STARTUP_FAILURE)
