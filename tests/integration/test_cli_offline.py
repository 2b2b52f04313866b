"""The `supplychain` CLI without a running system: help everywhere, usage errors, an
unreachable service or broker, the company file check. (test_cli.py runs it against the stack.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from supplychain_cli.app import app
from supplychain_devstack.processes import free_port
from typer.testing import CliRunner

CLI = str(Path(sys.executable).with_name("supplychain"))
SAMPLE = (
    Path(__file__).parents[2]
    / "libs/contracts/src/supplychain_contracts/fixtures/sample_company.json"
)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    closed = f"http://127.0.0.1:{free_port()}"
    environment = {
        "PATH": "/usr/bin:/bin",
        "SUPPLYCHAIN_URL_INTAKE": closed,
        "SUPPLYCHAIN_URL_MONITORING": closed,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "COLUMNS": "160",
        **(env or {}),
    }
    return subprocess.run(
        [CLI, *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def commands(group: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], bool]:
    """Every command path -> whether it is a leaf (a command, not a group of them)."""
    children = getattr(group, "commands", {})
    found = {prefix: not children}
    for name, command in children.items():
        found |= commands(command, (*prefix, name))
    return found


COMMANDS = commands(typer.main.get_command(app))


def test_every_command_is_there() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {
        "orders place", "orders show", "orders list", "orders cancel", "orders approve",
        "orders watch", "queue", "work accept", "work reject", "work start", "work ship",
        "receipt", "feedback", "help", "invoices list", "invoices show", "statement",
        "trial-balance", "scorecard", "dlq list", "dlq show", "dlq redrive", "simulate",
        "replay", "company validate", "demo", "disputes list", "disputes show", "disputes open",
        "disputes accept", "disputes reject", "periods list", "periods close", "periods reopen",
        "outbox parked", "outbox release",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "supplychain")
def test_help_everywhere_and_json_on_every_command(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if COMMANDS[path]:
        assert "--json" in result.output, f"{' '.join(path)} has no --json"


def test_root_help_documents_the_exit_codes_and_environment() -> None:
    shown = run("--help")
    assert shown.returncode == 0
    for text in ("Exit codes: 0 ok; 1 usage error", "2 refused", "3 a service", "4 a watched",
                 "5 timeout", "SUPPLYCHAIN_API_KEY", "SUPPLYCHAIN_URL_INTAKE",
                 "KAFKA_BOOTSTRAP_SERVERS"):  # fmt: skip
        assert text in " ".join(shown.stdout.split()), shown.stdout


def test_shell_completion_script() -> None:
    shown = run("--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert shown.returncode == 0 and "_supplychain_completion" in shown.stdout


def test_usage_errors_exit_1() -> None:
    unknown = run("orders", "place", "--bogus")
    assert unknown.returncode == 1 and "No such option" in unknown.stderr
    assert run("orders", "show", "not-a-uuid", env={"SUPPLYCHAIN_API_KEY": "k"}).returncode == 1
    assert run("scorecard", "--period", "2025-13", env={"SUPPLYCHAIN_API_KEY": "k"}).returncode == 1
    no_key = run("orders", "list")
    assert no_key.returncode == 1 and "SUPPLYCHAIN_API_KEY" in no_key.stderr


def test_an_unreachable_service_or_broker_exits_3() -> None:
    service = run("orders", "list", "--json", env={"SUPPLYCHAIN_API_KEY": "dev-marketing-1"})
    assert service.returncode == 3 and "order-intake" in service.stderr
    assert "unreachable" in service.stderr
    # dead letters through the producing service's operator route, not the broker
    dead_letters = run("dlq", "list", env={"SUPPLYCHAIN_API_KEY": "dev-operator-1"})
    assert dead_letters.returncode == 3 and "order-intake" in dead_letters.stderr
    no_key = run("dlq", "redrive", "supplychain.orders.v1.dlq", "0", "1", "--yes")
    assert no_key.returncode == 1 and "SUPPLYCHAIN_API_KEY" in no_key.stderr


def test_company_validate(tmp_path: Path) -> None:
    valid = run("company", "validate", str(SAMPLE), "--json")
    assert valid.returncode == 0 and valid.stdout and json.loads(valid.stdout)["valid"] is True
    assert json.loads(valid.stdout)["counts"]["departments"] == 11
    broken = json.loads(SAMPLE.read_text())
    broken["catalogue"][0]["supplier"] = "NOWHERE"
    bad = tmp_path / "company.json"
    bad.write_text(json.dumps(broken))
    refused = run("company", "validate", str(bad))
    assert refused.returncode == 1
    assert "catalogue[0]" in refused.stdout and "NOWHERE" in refused.stdout
