"""A service has no default environment (issue 23): started without SUPPLYCHAIN_ENVIRONMENT,
each of the four refuses to start, exits non-zero and says how to set it, before it reaches a
broker or a database (none is given here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from supplychain_devstack.processes import free_port

pytestmark = pytest.mark.integration

MODULES = ("order_intake", "fulfilment", "invoicing", "monitoring")


def test_a_service_without_an_environment_refuses_to_start_and_says_how_to_set_it() -> None:
    base = {k: v for k, v in os.environ.items() if k != "SUPPLYCHAIN_ENVIRONMENT"}
    started = {
        module: subprocess.Popen(
            [sys.executable, "-m", module],
            env={
                **base,
                "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens: never reached
                "DATABASE_URL": "postgresql://app:secret@127.0.0.1:1/app",
                "HTTP_PORT": str(free_port()),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for module in MODULES
    }
    for module, process in started.items():
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 1, f"{module} exited {process.returncode}: {output[-2000:]}"
        assert "refuses to start" in output, output[-2000:]
        assert "SUPPLYCHAIN_ENVIRONMENT is not set" in output
        assert "SUPPLYCHAIN_ENVIRONMENT=local|test|staging|production" in output
        assert "Traceback" not in output  # a message to act on, not a stack to read
        assert "Uvicorn running" not in output
