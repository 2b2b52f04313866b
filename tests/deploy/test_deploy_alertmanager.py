"""The compose stack's Alertmanager config and its example webhook receiver, run for real: an
alert of the rules posted to Debian's Alertmanager comes out of the webhook sink."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from supplychain_devstack.processes import free_port, wait_until
from support.deploy import DEPLOY, load_yaml

ALERTMANAGER = DEPLOY / "compose/alertmanager"
RULES = DEPLOY / "compose/prometheus/alerts.yml"


def _binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not found:
        pytest.skip("Alertmanager not installed (Debian package `prometheus-alertmanager`)")
    return found


def _started(
    command: list[str], log: Path, url: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process logging to `log`; return once `url` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-2000:])
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=30, what=f"{command[0]} to answer", interval=0.1)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def alerting(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The webhook sink and Alertmanager with the shipped config (the sink's address local)."""
    binary = _binary()
    sink_port, port = free_port(), free_port()
    sink_log = tmp_path / "sink.log"
    sink = _started(
        [sys.executable, str(ALERTMANAGER / "webhook_sink.py")],
        sink_log,
        f"http://127.0.0.1:{sink_port}/",
        env={"PORT": str(sink_port)},
    )
    try:
        config = load_yaml(ALERTMANAGER / "alertmanager.yml")
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                assert webhook["url"] == "http://alert-webhook:8080/alerts"
                webhook["url"] = f"http://127.0.0.1:{sink_port}/alerts"
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        manager = _started(
            [
                binary,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # one instance: no gossip port
            ],
            tmp_path / "alertmanager.log",
            f"http://127.0.0.1:{port}/-/ready",
        )
        try:
            yield f"http://127.0.0.1:{port}", sink_log
        finally:
            _stop(manager)
    finally:
        _stop(sink)


def test_a_page_of_the_rules_reaches_the_webhook_receiver(alerting: tuple[str, Path]) -> None:
    url, sink_log = alerting
    rule = next(
        rule
        for group in load_yaml(RULES)["groups"]
        for rule in group["rules"]
        if rule.get("labels", {}).get("severity") == "page"
    )
    labels = {"alertname": rule["alert"], **rule["labels"], "supplier": "WHEELS"}
    posted = httpx.post(
        f"{url}/api/v2/alerts",
        json=[{"labels": labels, "annotations": {"summary": "WHEELS burns its budget"}}],
        timeout=5,
    )
    assert posted.status_code == 200, posted.text
    deadline = time.monotonic() + 20
    received: list[dict[str, object]] = []
    while not received and time.monotonic() < deadline:
        time.sleep(0.2)
        received = [
            json.loads(line)
            for line in sink_log.read_text(errors="replace").splitlines()
            if line.startswith("{")
        ]
    assert received, sink_log.read_text(errors="replace")
    (alert,) = received
    assert alert["alertname"] == rule["alert"]
    assert alert["severity"] == "page"
    assert alert["status"] == "firing"
    assert alert["receiver"] == "supplychain-webhook"
    assert alert["summary"] == "WHEELS burns its budget"
