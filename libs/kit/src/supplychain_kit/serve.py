"""Run a service's HTTP app (and with it, its broker and background jobs) under uvicorn."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from supplychain_kit.settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s [" + settings.service_name + "] %(name)s: %(message)s",
    )
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level.upper() == "DEBUG",
        timeout_graceful_shutdown=10,
    )
