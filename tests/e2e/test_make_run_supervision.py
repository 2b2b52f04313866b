"""`make run` as an operator gets it: a Prometheus scraping the four services, a service
that dies comes back, and a service that keeps crashing ends the run with a non-zero exit
and nothing left running. One runner for the module, with a short crash policy.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from supplychain_devstack.processes import free_port, port_open
from test_make_run import _free_port_block, _leftovers, _start

pytestmark = pytest.mark.e2e

SERVICES = ["order-intake", "fulfilment", "invoicing", "monitoring"]


@dataclass
class Runner:
    process: subprocess.Popen[str]
    output: list[str]
    ports: dict[str, int]
    data_dir: str
    env: dict[str, str]
    seen_pids: set[int]

    @property
    def text(self) -> str:
        return "".join(self.output)

    def service_pid(self, module: str) -> int | None:
        """The runner's child running `python -m <module>`."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
            state = re.search(r"^State:\s+(\w)", status, re.MULTILINE)
            if (
                parent
                and int(parent.group(1)) == self.process.pid
                and state
                and state.group(1) != "Z"
                and module.encode() in cmdline
            ):
                self.seen_pids.add(int(pid))
                return int(pid)
        return None


def _wait(check: Callable[[], object], *, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    data_dir = tmp_path_factory.mktemp("make-run-supervised")
    base = _free_port_block(4)
    env = {
        **os.environ,
        "DEVSTACK_DATA_DIR": str(data_dir),
        "DEVSTACK_KAFKA_PORT": str(free_port()),
        "DEVSTACK_POSTGRES_PORT": str(free_port()),
        "DEVSTACK_HTTP_PORT_BASE": str(base),
        "DEVSTACK_PROMETHEUS_PORT": str(free_port()),
        "DEVSTACK_DEMAND_INTERVAL_S": "0",
        "DEVSTACK_RESTART_LIMIT": "3",
        "DEVSTACK_RESTART_WINDOW_S": "60",
        "DEVSTACK_RESTART_BACKOFF_S": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    process, output = _start(env)

    def drain() -> None:  # keep reading: the supervisor reports on the same pipe
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    running = Runner(
        process=process,
        output=output,
        ports={name: base + i for i, name in enumerate(SERVICES, 1)},
        data_dir=str(data_dir),
        env=env,
        seen_pids=set(),
    )
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def test_make_run_starts_a_prometheus_that_scrapes_all_four_services(runner: Runner) -> None:
    if shutil.which("prometheus") is None:
        assert "make promtool" in runner.text  # it says how to get one and runs on
        pytest.skip("no prometheus binary (Debian package `prometheus`, `make promtool`)")
    port = runner.env["DEVSTACK_PROMETHEUS_PORT"]
    assert f"prometheus http://127.0.0.1:{port}" in runner.text
    url = f"http://127.0.0.1:{port}"

    def all_up() -> dict[str, str] | None:
        targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        health = {
            t["labels"]["app"]: t["health"]
            for t in targets
            if t["labels"].get("job") == "supplychain"
        }
        return health if health == dict.fromkeys(SERVICES, "up") else None

    _wait(all_up, timeout=30, what="Prometheus scraping the four services")
    targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    assert sorted(t["scrapeUrl"] for t in targets) == sorted(
        f"http://127.0.0.1:{port}/metrics" for port in runner.ports.values()
    )
    rules = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    alerts = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"OutboxRowsParked", "SupplychainServiceDown", "SlaBreached"} <= alerts


def _ready(runner: Runner, service: str) -> bool:
    try:
        url = f"http://127.0.0.1:{runner.ports[service]}/health/ready"
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_killed_service_is_restarted_and_says_why_it_died(runner: Runner) -> None:
    pid = runner.service_pid("invoicing")
    assert pid is not None and _ready(runner, "invoicing")
    os.kill(pid, signal.SIGKILL)

    _wait(
        lambda: (runner.service_pid("invoicing") or pid) != pid,
        timeout=15,
        what="a new invoicing process",
    )
    _wait(lambda: _ready(runner, "invoicing"), timeout=30, what="invoicing ready again")
    assert "invoicing killed by signal SIGKILL; restarting in 0.2 s (crash 1 of 3" in runner.text
    assert "--- last lines of" in runner.text and "invoicing.log ---" in runner.text
    assert runner.process.poll() is None  # the run goes on


def test_repeated_crashes_stop_everything_with_a_non_zero_exit(runner: Runner) -> None:
    for _ in range(2):  # crashes 2 and 3 within the window (the first was the test above)
        pid = _wait(
            lambda: runner.service_pid("invoicing"), timeout=15, what="an invoicing process"
        )
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)
        _wait(lambda killed=pid: not _alive(killed), timeout=5, what="the killed process gone")
        for name in ("order-intake", "fulfilment", "monitoring"):
            runner.service_pid(name)

    assert runner.process.wait(timeout=60) == 1
    _wait(lambda: "stopped\n" in runner.output, timeout=5, what="the last line")
    assert "invoicing killed by signal SIGKILL; 3 crashes within 60 s: giving up" in runner.text
    assert "invoicing crashed 3 times: stopping everything" in runner.text
    _wait(
        lambda: not any(_alive(pid) for pid in runner.seen_pids),
        timeout=10,
        what="every service process gone",
    )
    assert not any(port_open(port) for port in runner.ports.values())
    assert not port_open(int(runner.env["DEVSTACK_KAFKA_PORT"]))
    assert not port_open(int(runner.env["DEVSTACK_POSTGRES_PORT"]))
    assert not port_open(int(runner.env["DEVSTACK_PROMETHEUS_PORT"]))
    assert _leftovers(runner.data_dir) == []
