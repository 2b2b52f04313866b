"""Run a service's HTTP app (and with it, its broker and background jobs) under uvicorn."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from supplychain_kit.logs import setup_logging
from supplychain_kit.settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    setup_logging(settings)
    uvicorn.run(
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
