"""A service started for production without its API keys refuses to start: it exits non-zero
naming what is missing, whatever broker or database it was given. The development keys never
run there."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from supplychain_devstack.processes import free_port

pytestmark = pytest.mark.integration

MODULES = ("order_intake", "fulfilment", "invoicing", "monitoring")
KEYS = {
    "DEPARTMENT_API_KEYS": json.dumps(
        [{"key_id": "a-1", "department": "ASSEMBLY", "sha256": hashlib.sha256(b"x").hexdigest()}]
    ),
    "ADMIN_API_KEYS": json.dumps([{"key_id": "adm-1", "sha256": hashlib.sha256(b"y").hexdigest()}]),
}
SAFE_DATABASE = "postgresql://app:secret@127.0.0.1:1/app"  # nothing listens: never reached


def start(module: str, **env: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if k not in KEYS and k != "DATABASE_URL"}
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={
            **base,
            "SUPPLYCHAIN_ENVIRONMENT": "production",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            # Kafka is authenticated outside local and test (issue 23): a principal of its own
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": module.replace("_", "-"),
            "KAFKA_SASL_PASSWORD": "never-sent",
            "HTTP_PORT": str(free_port()),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def refusal(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=60)
    assert process.returncode not in (0, None), output[-2000:]
    return output


def test_an_unsafe_production_start_is_refused_and_a_safe_one_gets_past_the_settings() -> None:
    """Every service without keys; one without admin keys; one on an unauthenticated Kafka;
    and the control: with its keys the same start gets past the
    settings (so the refusals come from what is missing, not from the setup). All at once."""
    refused = {
        (module, "DEPARTMENT_API_KEYS must be set"): start(module, DATABASE_URL=SAFE_DATABASE)
        for module in MODULES
    }
    refused["invoicing", "ADMIN_API_KEYS must be set"] = start(
        "invoicing",
        DATABASE_URL=SAFE_DATABASE,
        DEPARTMENT_API_KEYS=KEYS["DEPARTMENT_API_KEYS"],
    )
    refused["fulfilment", "Kafka must be authenticated in production"] = start(
        "fulfilment", **KEYS, DATABASE_URL=SAFE_DATABASE, KAFKA_SECURITY_PROTOCOL="PLAINTEXT"
    )
    control = start("order_intake", **KEYS, DATABASE_URL=SAFE_DATABASE)

    for (module, named), process in refused.items():
        output = refusal(process)
        assert named in output, f"{module}: {output[-2000:]}"
    try:
        output, _ = control.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        control.kill()
        output, _ = control.communicate()
    for refusing in ("refuses to start", "default postgres credentials", "ValidationError"):
        assert refusing not in output, output[-2000:]
