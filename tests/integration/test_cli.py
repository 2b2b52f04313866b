"""The `supplychain` CLI against the real stack: the four services as `make run` starts them
(started once for the module), the CLI run as a subprocess (`.venv/bin/supplychain`), its
live view in a real terminal (tmux).

LOGISTICS, MARKETING and FACILITIES work by hand here (their autopilot is off) so the work
commands drive their orders; every other department's simulated worker runs the e-bike chain.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from supplychain_devstack.processes import free_port, free_port_block
from supplychain_devstack.stack import Stack, StackConfig
from support import placed_event_json, produce, read_records

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("supplychain"))
BY_HAND = ("LOGISTICS", "MARKETING", "FACILITIES")
STAGES = ("acceptance", "fulfilment", "delivery", "invoicing", "end_to_end")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Running:
    stack: Stack
    env: dict[str, str]

    def cli(self, *args: str, key: str | None = None, stdin: str | None = None) -> Result:
        env = dict(self.env)
        if key:
            env["SUPPLYCHAIN_API_KEY"] = key
        done = subprocess.run(
            [CLI, *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def http(self, service: str, path: str, department: str) -> Any:
        """A service's answer over plain HTTP: what the tests poll (a CLI run costs more)."""
        url = self.stack.services[service].url
        response = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {key(department)}"})
        return response.json() if response.status_code == 200 else None

    def until(self, check: Callable[[], Any], *, timeout: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {what}")
            time.sleep(0.2)


def key(department: str, number: int = 1) -> str:
    return f"dev-{department.lower()}-{number}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("cli-stack")
    config = StackConfig(
        data_dir=data_dir,
        kafka_port=free_port(),
        postgres_port=free_port(),
        http_port_base=free_port_block(4),
        autopilot=True,
        fresh_database=True,
        extra_env={
            "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": "0",
            "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.2",
            "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.3",
            "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.2",
            "FULFILMENT_AUTOPILOT_DEPARTMENTS": json.dumps(
                {code: {"enabled": False} for code in BY_HAND}
            ),
            "OUTBOX_POLL_INTERVAL_MS": "100",
            "CONSUMER_RETRY_BACKOFF_MS": "20",
        },
    )
    stack = Stack(config)
    stack.start()
    urls = {name: service.url for name, service in stack.services.items()}
    env = {
        **{k: v for k, v in os.environ.items() if k != "SUPPLYCHAIN_API_KEY"},
        "SUPPLYCHAIN_URL_INTAKE": urls["order-intake"],
        "SUPPLYCHAIN_URL_FULFILMENT": urls["fulfilment"],
        "SUPPLYCHAIN_URL_INVOICING": urls["invoicing"],
        "SUPPLYCHAIN_URL_MONITORING": urls["monitoring"],
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "DATABASE_URL": stack.database_url,
        "COLUMNS": "160",
    }
    try:
        yield Running(stack=stack, env=env)
    finally:
        stack.stop()


def place(
    running: Running, requester: str, supplier: str, sku: str, quantity: int = 1
) -> dict[str, Any]:
    placed = running.cli(
        "orders", "place", "--requester", requester, "--supplier", supplier, "--sku", sku,
        "--quantity", str(quantity), "--json",
        key=key(requester),
    )  # fmt: skip
    assert placed.code == 0, placed.stderr
    return placed.json


# --- orders --------------------------------------------------------------------------------


def test_orders_place_show_list_cancel_approve(running: Running) -> None:
    placed = place(running, "MARKETING", "LOGISTICS", "PALLET-MOVE", 2)
    order = placed["order"]
    assert placed["idempotency_key"].startswith("cli-") and placed["replayed"] is False
    assert (order["status"], order["total"]) == ("placed", "36.00")
    again = running.cli(
        "orders", "place", "--requester", "MARKETING", "--supplier", "LOGISTICS",
        "--sku", "PALLET-MOVE", "--quantity", "2", "--idempotency-key",
        placed["idempotency_key"], "--json",
        key=key("MARKETING"),
    )  # fmt: skip
    assert again.code == 0 and again.json["replayed"] is True
    assert again.json["order"]["order_id"] == order["order_id"]

    shown = running.cli("orders", "show", order["order_id"], "--json", key=key("MARKETING"))
    assert shown.code == 0 and shown.json["lines"][0]["sku"] == "PALLET-MOVE"
    people = running.cli("orders", "show", order["order_id"], key=key("MARKETING"))
    assert order["order_id"] in people.stdout and "PALLET-MOVE" in people.stdout
    listed = running.cli(
        "orders", "list", "--supplier", "LOGISTICS", "--json", key=key("MARKETING")
    )
    assert order["order_id"] in [o["order_id"] for o in listed.json["orders"]]

    cancelled = running.cli(
        "orders", "cancel", order["order_id"], "--reason", "plan changed", "--json",
        key=key("MARKETING"),
    )  # fmt: skip
    # a request (202): LOGISTICS' fulfilment settles it, the work never began: cancelled
    assert cancelled.code == 0 and cancelled.json["status"] == "cancellation_requested"

    def settled() -> Any:
        found = running.http("order-intake", f"/v1/orders/{order['order_id']}", "MARKETING")
        return found if found and found["status"] == "cancelled" else None

    assert running.until(settled, what="the cancellation settled")["cancellation"]["status"] == (
        "cancelled"
    )
    people = running.cli("orders", "show", order["order_id"], key=key("MARKETING"))
    assert "cancelled: the supplier stopped the work" in people.stdout
    # above MARKETING's approval threshold (10 000): a second key approves it
    big = place(running, "MARKETING", "LOGISTICS", "PALLET-MOVE", 600)["order"]
    assert big["status"] == "pending_approval"
    same_key = running.cli("orders", "approve", big["order_id"], key=key("MARKETING"))
    assert same_key.code == 2 and "403" in same_key.stderr
    approved = running.cli("orders", "approve", big["order_id"], "--json", key=key("MARKETING", 2))
    assert approved.code == 0 and approved.json["status"] == "placed"

    unknown_sku = running.cli(
        "orders", "place", "--requester", "MARKETING", "--supplier", "LOGISTICS",
        "--sku", "NO-SUCH-SKU", "--json",
        key=key("MARKETING"),
    )  # fmt: skip
    assert unknown_sku.code == 2  # refused by the API: the problem document and its field
    assert unknown_sku.json["status"] == 422
    assert "422" in unknown_sku.stderr and "sku" in unknown_sku.stderr


# --- work, documents -----------------------------------------------------------------------


def test_work_commands_then_invoice_statement_trial_balance_scorecard(
    running: Running, tmp_path: Path
) -> None:
    order_id = place(running, "MARKETING", "LOGISTICS", "PALLET-MOVE", 3)["order"]["order_id"]

    def queued() -> bool:
        queue = running.http("fulfilment", "/v1/departments/LOGISTICS/queue", "LOGISTICS")
        return order_id in [i["order_id"] for i in queue or ()]

    running.until(queued, what="the order in LOGISTICS' queue")
    queue = running.cli("queue", "LOGISTICS", key=key("LOGISTICS"))
    assert queue.code == 0 and order_id[:8] in queue.stdout and "MARKETING" in queue.stdout
    assert order_id not in queue.stdout  # short ids in tables, the full one with --wide
    assert order_id in running.cli("queue", "LOGISTICS", "--wide", key=key("LOGISTICS")).stdout
    accepted = running.cli("work", "accept", order_id, "--json", key=key("LOGISTICS"))
    assert accepted.code == 0, accepted.stderr
    assert accepted.json["event_type"] == "OrderAccepted"
    helped = running.cli(
        "help", order_id, "--subject", "delivery dock", "--message", "dock 3 please", "--json",
        key=key("MARKETING"),
    )  # fmt: skip
    assert helped.code == 0 and helped.json["event_type"] == "HelpRequested"
    help_id = helped.json["event_id"]
    asked = running.cli(
        "help-awaiting-requester", order_id, help_id, "--question", "which dock?", "--json",
        key=key("LOGISTICS"),
    )  # fmt: skip
    assert asked.code == 0, asked.stderr
    assert asked.json["event_type"] == "HelpAwaitingRequester"
    answered = running.cli(
        "help-answer", order_id, help_id, "--answer", "dock 3", key=key("MARKETING")
    )
    assert answered.code == 0, answered.stderr
    assert "HelpAnswered" in answered.stdout
    again = running.cli("help-answer", order_id, help_id, "--answer", "x", key=key("MARKETING"))
    assert again.code == 2 and "answered" in again.stderr  # refused (409), naming the state
    [listed] = running.cli("help-requests", order_id, "--json", key=key("LOGISTICS")).json
    assert listed["status"] == "answered"
    assert [h["text"] for h in listed["history"]] == ["dock 3 please", "which dock?", "dock 3"]
    for command, event in (("start", "WorkStarted"), ("ship", "OrderShipped")):
        done = running.cli("work", command, order_id, "--json", key=key("LOGISTICS"))
        assert done.code == 0, done.stderr
        assert done.json["event_type"] == event
    receipt = running.cli("receipt", order_id, "--json", key=key("MARKETING"))
    assert receipt.code == 0 and receipt.json["status"] == "delivered"
    rated = running.cli("feedback", order_id, "--rating", "5", "--json", key=key("MARKETING"))
    assert rated.code == 0 and rated.json["event_type"] == "FeedbackGiven"

    def invoiced() -> bool:
        invoices = running.http("invoicing", "/v1/invoices", "MARKETING")
        return order_id in [i["order_id"] for i in invoices or ()]

    running.until(invoiced, what="the invoice")
    invoices = running.cli("invoices", "list", "--json", key=key("MARKETING"))
    listed = next(i for i in invoices.json if i["order_id"] == order_id)
    assert listed["total"] == "54.00"  # 3 x 18.00
    shown = running.cli("invoices", "show", listed["invoice_id"], "--json", key=key("LOGISTICS"))
    assert shown.code == 0 and shown.json["requester"] == "MARKETING"

    # the requester disputes part of it, the supplier rejects the dispute; finance sees both
    disputed = running.cli(
        "disputes", "open", listed["invoice_id"], "--amount", "4.00", "--reason", "one pallet late",
        "--json", key=key("MARKETING"),
    )  # fmt: skip
    assert disputed.code == 0, disputed.stderr
    assert (disputed.json["status"], disputed.json["amount"]) == ("open", "4.00")
    rejected = running.cli(
        "disputes", "reject", disputed.json["dispute_id"], "--reason", "on time per the log",
        key=key("LOGISTICS"),
    )  # fmt: skip
    assert rejected.code == 0 and "rejected" in rejected.stdout, rejected.stderr
    seen = running.cli("disputes", "list", "--json", key="dev-finance-1")
    assert disputed.json["dispute_id"] in [d["dispute_id"] for d in seen.json]
    # closing a month takes a finance key (the CLI's one key setting: SUPPLYCHAIN_API_KEY)
    not_finance = running.cli("periods", "close", "ACME", "2020-01", key=key("MARKETING"))
    assert not_finance.code == 2 and "403" in not_finance.stderr

    period = datetime.now(UTC).strftime("%Y-%m")
    csv = tmp_path / "statement.csv"
    statement = running.cli(
        "statement", "MARKETING", "--period", period, "--csv", str(csv), "--json",
        key=key("MARKETING"),
    )  # fmt: skip
    assert statement.code == 0, statement.stderr
    assert order_id in [d["order_id"] for d in statement.json["as_requester"]["invoices"]]
    assert order_id in csv.read_text() and csv.read_text().count("\n") >= 2

    balance = running.cli("trial-balance", "--json", key=key("FINANCE"))  # the whole ledger
    assert balance.code == 0 and balance.json["balanced"] is True

    cards = running.cli("scorecard", "--period", period, "--json", key=key("MARKETING"))
    logistics = next(c for c in cards.json if c["supplier"] == "LOGISTICS")
    assert logistics["orders_handled"] >= 1 and logistics["help_requests"] >= 1


# --- the live view in a terminal -----------------------------------------------------------


class Terminal:
    """A command in its own tmux server (a real terminal), its screen and its exit status."""

    def __init__(
        self, command: list[str], env: dict[str, str], workdir: Path, *, columns: int = 150
    ) -> None:
        self.socket = f"cli-test-{uuid.uuid4().hex[:8]}"
        self.status_file = workdir / f"{self.socket}.status"
        exports = " ".join(
            f"{k}={_quote(v)}" for k, v in env.items() if k.startswith(("SUPPLYCHAIN_", "KAFKA_"))
        )
        script = f"env {exports} {' '.join(_quote(c) for c in command)}; echo $? > {self.status_file}; sleep 60"
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-x", str(columns), "-y", "50", "sh", "-c", script],
            check=True,
        )  # fmt: skip

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "capture-pane", "-p", "-t", "0"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (screen := self.screen()) and text not in screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never shown; screen:\n{screen}")
            time.sleep(0.2)
        return screen

    def exit_status(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while not self.status_file.exists() or not self.status_file.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; screen:\n{self.screen()}")
            time.sleep(0.2)
        return int(self.status_file.read_text())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(running: Running, tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    opened: list[Terminal] = []

    def open_terminal(*args: str, key: str, columns: int = 150) -> Terminal:
        env = {**running.env, "SUPPLYCHAIN_API_KEY": key}
        opened.append(Terminal([CLI, *args], env, tmp_path, columns=columns))
        return opened[-1]

    yield open_terminal
    for each in opened:
        each.close()


def test_watch_shows_the_chain_live_and_ends_0_when_invoiced(running: Running, terminal) -> None:
    order = place(running, "RETAIL_OPS", "ASSEMBLY", "EBIKE-CITY")["order"]
    view = terminal("orders", "watch", order["order_id"], "--timeout", "90", key=key("RETAIL_OPS"))
    assert view.exit_status(timeout=95) == 0, view.screen()
    screen = view.screen()
    assert f"{order['order_id']}  RETAIL_OPS -> ASSEMBLY  [invoiced]" in screen
    for parties in ("ASSEMBLY -> FRAMES", "ASSEMBLY -> WHEELS", "ASSEMBLY -> ELECTRONICS",
                    "FRAMES -> METALWORKS", "FRAMES -> PAINTSHOP"):  # fmt: skip
        assert parties in screen, screen
    # every level shows its state, the third (below FRAMES) too: delivered before FRAMES shipped
    for parties in ("FRAMES -> METALWORKS", "FRAMES -> PAINTSHOP"):
        assert re.search(rf"{parties}  \[(delivered|invoiced)\]", screen), screen
    for stage in STAGES:
        assert stage in screen
    assert "met" in screen and " of " in screen  # elapsed against the SLA target
    assert "delivered and invoiced" in screen


def test_watch_counts_down_and_ends_4_when_rejected(running: Running, terminal) -> None:
    order = place(running, "MARKETING", "FACILITIES", "WORKSHOP-CLEAN")["order"]
    view = terminal("orders", "watch", order["order_id"], key=key("MARKETING"))
    screen = view.wait_for("deadline in")
    assert "acceptance  open" in screen and "MARKETING -> FACILITIES  [placed]" in screen
    running.until(
        lambda: running.http("fulfilment", f"/v1/fulfilments/{order['order_id']}", "FACILITIES"),
        what="the order at FACILITIES",
    )
    rejected = running.until(
        lambda: (
            (
                r := running.cli(
                    "work",
                    "reject",
                    order["order_id"],
                    "--reason",
                    "no crew",
                    key=key("FACILITIES"),
                )
            ).code
            == 0
            and r
        ),
        what="reject",
    )
    assert "OrderRejected" in rejected.stdout
    assert view.exit_status() == 4
    assert "[rejected]" in view.screen()


def test_orders_list_fits_a_terminal_of_80_columns(running: Running, terminal) -> None:
    """One line per order: short ids (like git's), the full ones with --wide."""
    placed = [place(running, "MARKETING", "LOGISTICS", "PALLET-MOVE")["order"] for _ in range(2)]
    view = terminal("orders", "list", "--limit", "5", key=key("MARKETING"), columns=80)
    assert view.exit_status() == 0, view.screen()
    screen = view.screen()
    for order in placed:
        [row] = [line for line in screen.splitlines() if line.startswith(order["order_id"][:8])]
        assert "MARKETING" in row and "LOGISTICS" in row and " ago" in row, screen
        assert order["order_id"] not in screen
    assert "--wide or --json shows them in full" in screen
    wide = terminal("orders", "list", "--limit", "5", "--wide", key=key("MARKETING"), columns=80)
    assert wide.exit_status() == 0
    assert all(order["order_id"] in wide.screen() for order in placed), wide.screen()


def test_watch_times_out_with_5(running: Running) -> None:
    order = place(running, "MARKETING", "FACILITIES", "WORKSHOP-CLEAN")["order"]
    watched = running.cli(
        "orders", "watch", order["order_id"], "--timeout", "1", "--json", key=key("MARKETING")
    )
    assert watched.code == 5
    assert watched.json["status"] == "placed"


# --- dead letters --------------------------------------------------------------------------


def test_a_poison_record_corrected_and_redriven_is_applied_exactly_once(
    running: Running, tmp_path: Path
) -> None:
    """Through the producing service's operator routes with an operator key (issue 23)."""
    bootstrap, operator = running.stack.bootstrap_servers, key("operator")
    order_id, good = placed_event_json(
        supplier="LOGISTICS", requester="MARKETING", sku="PALLET-MOVE", quantity=1,
        unit_price="18.00",
    )  # fmt: skip
    poison = json.loads(good)
    poison["priority"] = "urgent"  # a producer's bug: no such priority in the contract
    asyncio.run(
        produce(
            bootstrap, topics.ORDERS, json.dumps(poison).encode(), key=order_id.encode(),
            headers={"event_type": "OrderPlaced"},
        )
    )  # fmt: skip

    def both_groups_gave_up(records: list[Any]) -> bool:
        mine = [r for r in records if r.key == order_id.encode()]
        return {"fulfilment", "monitoring"} <= {r.headers["dlq_consumer_group"] for r in mine}

    asyncio.run(
        read_records(
            bootstrap, [topics.dead_letter_topic(topics.ORDERS)], until=both_groups_gave_up
        )
    )
    department = running.cli("dlq", "list", "--topic", topics.ORDERS, key=key("LOGISTICS"))
    assert department.code == 2 and "operator key" in department.stderr
    listed = running.cli("dlq", "list", "--topic", topics.ORDERS, "--json", key=operator)
    assert listed.code == 0, listed.stderr
    records = [r for r in listed.json if r["key"] == order_id]
    by_group = {r["consumer_group"]: r for r in records}
    first = by_group["fulfilment"]
    assert first["source_topic"] == topics.ORDERS and first["error_type"] == "ValidationError"
    assert "priority" in first["error"] and first["redriven"] is None
    where = [first["topic"], str(first["partition"]), str(first["offset"])]
    shown = running.cli("dlq", "show", *where, "--json", key=operator)
    assert shown.code == 0 and shown.json["value"]["priority"] == "urgent"

    as_received = running.cli("dlq", "redrive", *where, "--yes", key=operator)
    assert as_received.code == 2 and "would be dead-lettered again" in as_received.stderr
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**json.loads(good), "order_id": str(uuid.uuid4())}))
    refused = running.cli(
        "dlq", "redrive", *where, "--value-file", str(forged), "--yes", key=operator
    )
    assert refused.code == 2 and "value.order_id" in refused.stderr
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(good)
    declined = running.cli(
        "dlq", "redrive", *where, "--value-file", str(fixed), stdin="n\n", key=operator
    )
    assert declined.code == 1 and "not redriven" in declined.stderr
    redriven = running.cli(
        "dlq", "redrive", *where, "--value-file", str(fixed), "--reason", "priority fixed",
        "--yes", "--json", key=operator,
    )  # fmt: skip
    assert redriven.code == 0, redriven.stderr
    assert (
        redriven.json["value_replaced"] is True and redriven.json["source_topic"] == topics.ORDERS
    )
    assert (redriven.json["redriven_by"], redriven.json["producer"]) == (
        "operator-1",
        "order-intake",
    )

    def in_queue() -> list[dict[str, Any]]:
        queue = running.http("fulfilment", "/v1/departments/LOGISTICS/queue", "LOGISTICS")
        return [i for i in queue or () if i["order_id"] == order_id]

    assert len(running.until(in_queue, what="the corrected order in the queue")) == 1

    twice = running.cli("dlq", "redrive", *where, "--value-file", str(fixed), "--yes", key=operator)
    assert twice.code == 2 and "Already redriven" in twice.stderr
    other = by_group["monitoring"]  # the same source record, dead-lettered by another group
    sibling = running.cli(
        "dlq", "redrive", other["topic"], str(other["partition"]), str(other["offset"]),
        "--value-file", str(fixed), "--yes", key=operator,
    )  # fmt: skip
    assert sibling.code == 2 and "Already redriven" in sibling.stderr
    forced = running.cli("dlq", "redrive", *where, "--yes", "--force", key=operator)
    assert forced.code == 1 and "No such option" in forced.stderr  # nothing forces a redrive

    republished = asyncio.run(
        read_records(
            bootstrap,
            [topics.ORDERS],
            until=lambda rs: any(
                r.headers.get("redriven_from") == first["coordinates"] for r in rs
            ),
        )
    )
    assert [r.key for r in republished if "redriven_from" in r.headers] == [order_id.encode()]
    handoffs = running.http("monitoring", f"/v1/orders/{order_id}/handoffs", "LOGISTICS")
    assert sum(h["stage"] == "acceptance" for h in handoffs) == 1
    listed = running.cli("dlq", "list", "--topic", topics.ORDERS, "--json", key=operator).json
    assert next(r for r in listed if r["coordinates"] == first["coordinates"])["redriven"]
    parked = running.cli("outbox", "parked", "--service", "fulfilment", "--json", key=operator)
    assert parked.code == 0 and parked.json == []


# --- operator tools, demo ------------------------------------------------------------------


def test_simulate_and_replay(running: Running) -> None:
    simulated = running.cli("simulate", "--rate", "10", "--duration", "1", "--seed", "7", "--json")
    assert simulated.code == 0, simulated.stderr
    assert simulated.json["placed"] + simulated.json["refused"] == 10
    assert simulated.json["placed"] >= 5

    replayed = running.cli("replay", "--timeout", "60", "--json")
    assert replayed.code in (0, 4), replayed.stderr  # 4: in-flight chains differ
    assert replayed.json["events_replayed"] > 0 and replayed.json["stages_compared"] > 0


def test_demo_places_an_ebike_chain_and_ends_invoiced(running: Running) -> None:
    shown = running.cli("demo")  # no key: the requester's development key, as with make run
    assert shown.code == 0, shown.stdout + shown.stderr
    for text in ("RETAIL_OPS orders 1 x EBIKE-CITY from ASSEMBLY", "FRAMES -> METALWORKS",
                 "delivered and invoiced", "invoice ", "/console", "where to look next"):  # fmt: skip
        assert text in shown.stdout, shown.stdout
    assert "total 713.00 EUR" in shown.stdout  # its invoice: 1 x 713.00
