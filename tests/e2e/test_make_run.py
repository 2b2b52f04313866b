"""The whole system as `make run` starts it: one order through the four services.

Events are observed with a plain aiokafka consumer, the invoice and metrics over HTTP.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from supplychain_contracts import topics
from supplychain_devstack.processes import free_port, free_port_block, port_open
from support import (
    auth,
    events_of,
    has_event,
    order_body,
    poll_http,
    read_records,
    read_to_end,
)
from support.metrics import samples

pytestmark = pytest.mark.e2e

CHAIN = [
    "OrderPlaced",
    "OrderAccepted",
    "WorkStarted",
    "OrderShipped",
    "OrderDelivered",
    "InvoiceIssued",
]
SERVICES = ["order-intake", "fulfilment", "invoicing", "monitoring"]
STAGES = ["acceptance", "fulfilment", "delivery", "invoicing", "end_to_end"]
HANDOFFS_COUNTED = "supplychain_handoff_duration_seconds_count"


@dataclass
class RunningSystem:
    process: subprocess.Popen[str]
    output: list[str]
    kafka: str
    ports: dict[str, int]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def text(self) -> str:
        return "".join(self.output)


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "supplychain_devstack.run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + 180
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("make run exited before it was ready:\n" + "".join(output))
        output.append(line)
        if line.startswith("ready"):
            # keep reading: the supervisor reports on the same pipe
            reader = threading.Thread(target=_drain, args=(process, output), daemon=True)
            reader.start()
            _READERS[process.pid] = reader
            return process, output
    process.kill()
    raise AssertionError("make run was not ready in time:\n" + "".join(output))


_READERS: dict[int, threading.Thread] = {}


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)


def _wait_exit(process: subprocess.Popen[str], timeout: float) -> int:
    """The run's exit code, once it exited and everything it printed has been read."""
    code = process.wait(timeout=timeout)
    _READERS.pop(process.pid).join(timeout=10)
    return code


def _stop(process: subprocess.Popen[str], output: list[str]) -> None:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert _wait_exit(process, timeout=90) == 0, "".join(output)


def _leftovers(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningSystem, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("make-run")
    base = free_port_block(4)
    env = {
        **os.environ,
        "DEVSTACK_DATA_DIR": str(data_dir),
        "DEVSTACK_KAFKA_PORT": str(free_port()),
        "DEVSTACK_POSTGRES_PORT": str(free_port()),
        "DEVSTACK_HTTP_PORT_BASE": str(base),
        "FULFILMENT_AUTOPILOT": "true",
        "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": "0",  # the order under test must go through
        "DEVSTACK_DEMAND_INTERVAL_S": "0.5",  # simulated demand runs beside the order under test
        "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.3",
        "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.5",
        "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.3",
        "DEVSTACK_PROMETHEUS_PORT": str(free_port()),
        # a short crash policy: the supervision tests crash invoicing three times in a minute
        "DEVSTACK_RESTART_LIMIT": "3",
        "DEVSTACK_RESTART_WINDOW_S": "60",
        "DEVSTACK_RESTART_BACKOFF_S": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    process, output = _start(env)
    ports = {
        name: base + i
        for i, name in enumerate(["order-intake", "fulfilment", "invoicing", "monitoring"], 1)
    }
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{env['DEVSTACK_KAFKA_PORT']}"
    running = RunningSystem(process=process, output=output, kafka=kafka, ports=ports)
    try:
        yield running, env
    finally:
        if process.poll() is None:
            process.kill()


async def test_an_order_flows_through_all_four_services_in_one_trace(system) -> None:
    running, _ = system
    printed = "".join(running.output)
    for name, port in running.ports.items():
        assert f"http://127.0.0.1:{port}" in printed and name in printed
    # the console, and the CLI's variables for this stack's ports, ready to paste
    assert f"console   http://127.0.0.1:{running.ports['monitoring']}/console" in printed
    assert f"export SUPPLYCHAIN_URL_INTAKE=http://127.0.0.1:{running.ports['order-intake']}" in (
        printed
    )

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{running.url('order-intake')}/v1/orders",
            json=order_body(requester="ASSEMBLY", supplier="WHEELS", sku="WHEEL-28", quantity=4),
            headers={"Idempotency-Key": f"e2e-{uuid.uuid4()}", **auth("ASSEMBLY")},
        )
        assert response.status_code == 201, response.text
        order_id = response.json()["order_id"]

        records = await read_records(
            running.kafka, topics.ALL_TOPICS, until=has_event(order_id, "InvoiceIssued"), timeout=60
        )
        chain = sorted(events_of(records, order_id), key=lambda r: r.json["occurred_at"])
        assert [r.headers["event_type"] for r in chain] == CHAIN
        assert [r.json["event_type"] for r in chain] == CHAIN
        # one trace for the order across the four services
        assert len({r.trace_id for r in chain}) == 1
        trace_id = chain[0].trace_id
        assert trace_id is not None and trace_id != "0" * 32
        # each event was caused by the one before it
        for before, after in itertools.pairwise(chain):
            assert after.json["causation_id"] == before.json["event_id"]
        assert {r.json["root_order_id"] for r in chain} == {order_id}
        assert {r.key for r in chain} == {order_id.encode()}
        assert [r.json["producer"] for r in chain] == [
            "order-intake",
            "fulfilment",
            "fulfilment",
            "fulfilment",
            "fulfilment",
            "invoicing",
        ]

        invoices = await poll_http(
            client,
            f"{running.url('invoicing')}/v1/invoices",
            headers=auth("WHEELS"),
            until=lambda r: r.status_code == 200 and order_id in [i["order_id"] for i in r.json()],
        )
        [invoice] = [i for i in invoices.json() if i["order_id"] == order_id]
        assert invoice["total"] == "154.00"  # 4 x 38.50
        assert invoice["requester_cost_centre"] == "CC-1600"

        order = await poll_http(
            client,
            f"{running.url('order-intake')}/v1/orders/{order_id}",
            headers=auth("ASSEMBLY"),
            # each topic has a consumer of its own (make run): the invoice may arrive before
            # the delivery it follows, the timeline is complete once both did
            until=lambda r: (
                r.json()["status"] == "invoiced" and len(r.json()["timeline"]) == len(CHAIN)
            ),
        )
        assert [t["event_type"] for t in order.json()["timeline"]] == CHAIN

        def all_stages_observed(r: httpx.Response) -> bool:
            return all(
                samples(r.text, HANDOFFS_COUNTED, requester="ASSEMBLY", stage=s, supplier="WHEELS")
                for s in STAGES
            )

        metrics = await poll_http(
            client, f"{running.url('monitoring')}/metrics", until=all_stages_observed
        )
        openmetrics = await client.get(
            f"{running.url('monitoring')}/metrics",
            headers={"Accept": "application/openmetrics-text"},
        )
        # each bucket keeps its latest exemplar, which the simulated demand may have replaced:
        # every exemplar of the handoff histogram names the trace of an order on the topics
        exemplars = {
            m.group(1)
            for line in openmetrics.text.splitlines()
            if line.startswith("supplychain_handoff_duration_seconds_bucket")
            for m in [re.search(r'# \{trace_id="([0-9a-f]{32})"', line)]
            if m
        }
        assert exemplars, openmetrics.text
        on_topics = {r.trace_id for r in await read_to_end(running.kafka, topics.ALL_TOPICS)}
        assert trace_id in on_topics and exemplars <= on_topics, exemplars - on_topics
        assert "supplychain_handoff_duration_seconds_bucket" in metrics.text
        assert "faststream_received_messages_total" in metrics.text  # FastStream's own metrics
        assert "supplychain_consumer_lag_records{group=" in metrics.text

        # the simulated demand places orders of several departments through the public API
        def placed_by_many(r: httpx.Response) -> bool:
            placed = samples(r.text, "supplychain_orders_placed_total")
            return len({sample.labels["requester"] for sample in placed}) >= 3

        await poll_http(
            client, f"{running.url('order-intake')}/metrics", until=placed_by_many, timeout=60
        )
        handoffs = (
            await client.get(
                f"{running.url('monitoring')}/v1/orders/{order_id}/handoffs", headers=auth("WHEELS")
            )
        ).json()
        assert {h["stage"] for h in handoffs} == set(STAGES)
        assert {h["trace_id"] for h in handoffs} == {trace_id}


ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URLS = {  # the ports the README's commands assume (make run's defaults)
    "order-intake": "http://127.0.0.1:8001",
    "fulfilment": "http://127.0.0.1:8002",
    "invoicing": "http://127.0.0.1:8003",
    "monitoring": "http://127.0.0.1:8004",
}
# what runs elsewhere or needs another `make run`: `make demo` is the CLI's demo command
# (tests/integration/test_cli.py runs it); the first terminal's `make run` is the fixture
NOT_HERE = ("make demo", "make run")


def sh_blocks(page: Path, *sections: str) -> str:
    """The `sh` blocks of these sections of a page, in order, as one script (but NOT_HERE)."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for title in sections:
        assert f"\n## {title}\n" in text, f"{page.name} has no section {title!r}"
        section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
        blocks += re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, f"{page.name}: no commands in {sections}"
    return "\n".join(b for b in blocks if not b.strip().endswith(NOT_HERE))


def run_as_written(running: RunningSystem, script: str) -> str:
    """Bash at the repository root, after the `export` block `make run` printed."""
    exports = [line.strip() for line in running.output if line.strip().startswith("export ")]
    assert exports, "make run printed no export block"
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", "\n".join([*exports, script])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_readme_first_order_runs_as_written(system) -> None:
    """The README's commands assume the default ports; this stack's replace them, as the
    README says to do when they moved."""
    running, _ = system
    script = sh_blocks(ROOT / "README.md", "A first order")
    for name, url in DEFAULT_URLS.items():
        assert url in script or name == "fulfilment", f"the README no longer calls {name}"
        script = script.replace(url, running.url(name))
    out = run_as_written(running, script)
    order_id = out.splitlines()[0]
    assert str(uuid.UUID(order_id)) == order_id, out
    # what the curls printed (one JSON document each, one after the other)
    arrays = json_arrays(out)
    handoffs = next(a for a in arrays if a and all("stage" in row for row in a))
    assert {row["order_id"] for row in handoffs} == {order_id}, out
    invoices = next(a for a in arrays if a and all("invoice_id" in row for row in a))
    assert order_id in {row["order_id"] for row in invoices}, out


def test_the_first_hour_runs_as_written(system) -> None:
    """docs/quickstart.md up to its production chain (working a queue by hand needs a `make
    run` with two workers off: the page says so)."""
    running, _ = system
    script = sh_blocks(
        ROOT / "docs" / "quickstart.md",
        "What `make run` prints",
        "A first order",
        "A production chain",
    )
    out = run_as_written(running, script)
    order_id = out.splitlines()[0]
    assert str(uuid.UUID(order_id)) == order_id, out
    assert "supplychain_handoff_duration_seconds_count{" in out, out


def json_arrays(text: str) -> list[list[dict[str, object]]]:
    """Every JSON array of objects in `text`, in order (curl prints no newline after one)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("[", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            found.append(value)
        at = end
    return found


def test_make_run_starts_a_prometheus_that_scrapes_all_four_services(system) -> None:
    running, env = system
    if shutil.which("prometheus") is None:
        assert "make promtool" in running.text  # it says how to get one and runs on
        pytest.skip("no prometheus binary (Debian package `prometheus`, `make promtool`)")
    port = env["DEVSTACK_PROMETHEUS_PORT"]
    assert f"prometheus http://127.0.0.1:{port}" in running.text
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
        f"http://127.0.0.1:{port}/metrics" for port in running.ports.values()
    )
    rules = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    alerts = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"OutboxRowsParked", "SupplychainServiceDown", "SlaBreached"} <= alerts


def test_a_killed_service_is_restarted_and_says_why_it_died(system) -> None:
    running, _ = system
    pid = _service_pid(running.process, "invoicing")
    assert pid is not None and _ready(running.ports["invoicing"])
    os.kill(pid, signal.SIGKILL)

    _wait(
        lambda: (_service_pid(running.process, "invoicing") or pid) != pid,
        timeout=15,
        what="a new invoicing process",
    )
    _wait(lambda: _ready(running.ports["invoicing"]), timeout=30, what="invoicing ready again")
    assert "invoicing killed by signal SIGKILL; restarting in 0.2 s (crash 1 of 3" in running.text
    assert "--- last lines of" in running.text and "invoicing.log ---" in running.text
    assert running.process.poll() is None  # the run goes on


@pytest.fixture(scope="module")
def second_run() -> dict[str, RunningSystem]:
    """The run the Ctrl-C test starts after the first one stopped, for the crash test."""
    return {}


async def test_ctrl_c_stops_everything_and_a_second_run_works(
    system, second_run: dict[str, RunningSystem]
) -> None:
    running, env = system
    data_dir = env["DEVSTACK_DATA_DIR"]
    _stop(running.process, running.output)
    assert "stopped" in running.output[-1]
    assert not any(port_open(p) for p in running.ports.values())
    assert not port_open(int(env["DEVSTACK_KAFKA_PORT"]))
    assert not port_open(int(env["DEVSTACK_POSTGRES_PORT"]))
    assert _leftovers(data_dir) == []
    assert _leftovers(f"127.0.0.1:{env['DEVSTACK_KAFKA_PORT']}") == []

    process, output = _start(env)  # the same data folder: PostgreSQL keeps its data
    second_run["run"] = replace(running, process=process, output=output)
    async with httpx.AsyncClient(timeout=30) as client:
        departments = await client.get(
            f"{running.url('order-intake')}/v1/departments", headers=auth("FACILITIES")
        )
        assert departments.status_code == 200
        assert len(departments.json()) >= 8


def test_repeated_crashes_stop_everything_with_a_non_zero_exit(
    system, second_run: dict[str, RunningSystem]
) -> None:
    """The second run's invoicing crashes three times within the window: the run gives up."""
    _, env = system
    running = second_run.pop("run")
    seen: set[int] = set()
    try:
        for _ in range(3):
            pid = _wait(
                lambda: _service_pid(running.process, "invoicing", seen),
                timeout=15,
                what="an invoicing process",
            )
            assert isinstance(pid, int)
            for name in ("order_intake", "fulfilment", "monitoring"):
                _service_pid(running.process, name, seen)
            os.kill(pid, signal.SIGKILL)
            _wait(lambda killed=pid: not _alive(killed), timeout=5, what="the killed process gone")

        assert _wait_exit(running.process, timeout=60) == 1
    finally:
        if running.process.poll() is None:
            running.process.kill()
    assert "stopped\n" in running.output, running.text
    assert "invoicing killed by signal SIGKILL; 3 crashes within 60 s: giving up" in running.text
    assert "invoicing crashed 3 times: stopping everything" in running.text
    _wait(
        lambda: not any(_alive(pid) for pid in seen),
        timeout=10,
        what="every service process gone",
    )
    assert not any(port_open(port) for port in running.ports.values())
    assert not port_open(int(env["DEVSTACK_KAFKA_PORT"]))
    assert not port_open(int(env["DEVSTACK_POSTGRES_PORT"]))
    assert not port_open(int(env["DEVSTACK_PROMETHEUS_PORT"]))
    assert _leftovers(env["DEVSTACK_DATA_DIR"]) == []


def _service_pid(
    run: subprocess.Popen[str], module: str, seen: set[int] | None = None
) -> int | None:
    """The run's living child running `python -m <module>` (remembered in `seen`)."""
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
            and int(parent.group(1)) == run.pid
            and state
            and state.group(1) != "Z"
            and module.encode() in cmdline
        ):
            if seen is not None:
                seen.add(int(pid))
            return int(pid)
    return None


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


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


def test_make_run_refuses_a_bad_company_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "company.yaml"
    bad.write_text(
        "name: Broken\nlegal_entities: [{code: E, name: E}]\n"
        "departments: [{code: SHOP, name: Shop, legal_entity: NOWHERE, cost_centre: C,"
        " monthly_budget: '-1'}]\n"
        "catalogue: [{sku: X, name: X, supplier: GHOST, unit: u, standard_cost: '1',"
        " transfer_price_rule: {kind: fixed, price: '1'}, lead_time_days: 1}]\n",
        encoding="utf-8",
    )
    env = {**os.environ, "COMPANY_FILE": str(bad), "DEVSTACK_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "supplychain_devstack.run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "departments[0].monthly_budget" in done.stderr
    assert "starting" not in done.stdout  # nothing was started
    assert not (tmp_path / "data").exists()
