"""Every Grafana dashboard panel shows data: a real Prometheus (Debian's `prometheus` binary)
scrapes the four services through a short real run, evaluates the alert rules' recordings,
and every panel query (and dashboard variable) is asked over the HTTP API."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from supplychain_contracts.company import sample_company
from supplychain_devstack.processes import free_port, wait_until
from support import auth, order_body, panel_queries, poll_http

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy/compose/prometheus"
DASHBOARDS = sorted((ROOT / "deploy/compose/grafana/dashboards").glob("*.json"))
# Grafana's own variables, at values that suit a run of a minute scraped every second.
GRAFANA_VARIABLES = {"$__rate_interval": "20s", "$__interval": "5s", "$__range": "5m"}
SERVICES = ("order-intake", "fulfilment", "invoicing", "monitoring")


def as_run(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return re.sub(r"\$\w+", ".*", expr)  # every dashboard variable at "All"


def fast_rules(target: Path) -> Path:
    """alerts.yml with every group evaluated each second (the shipped ones use 30 s)."""
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
    target.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return target


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        pytest.skip("the prometheus server binary is not installed (Debian package `prometheus`)")
    return found


@pytest.fixture
def prometheus(
    prometheus_binary: str, tmp_path: Path, start_service: Any
) -> Iterator[tuple[str, dict[str, str]]]:
    """The four services with tiny SLA targets and the autopilot on, scraped every second."""
    fast_acceptance = [
        {
            **policy.model_dump(mode="json"),
            "targets_seconds": {
                **policy.model_dump(mode="json")["targets_seconds"],
                "acceptance": 0.2,
            },
        }
        for policy in sample_company().sla_policies
    ]
    env = {
        "FULFILMENT_AUTOPILOT": "true",
        "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.5",
        "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.5",
        "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.5",
        "MONITORING_SLA_POLICIES_JSON": json.dumps(fast_acceptance),
        "MONITORING_SLA_SCAN_INTERVAL_MS": "100",
        "MONITORING_SLA_VERDICT_RELAY_GRACE_SECONDS": "0",
        "MONITORING_SLA_WATERMARK_INTERVAL_MS": "200",
    }
    services = [start_service(name, env=env, wait=False) for name in SERVICES]
    for service in services:
        service.wait_ready()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast_rules(tmp_path / "alerts.yml"))],
        "scrape_configs": [
            {
                "job_name": "supplychain",
                "honor_labels": True,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{s.port}"], "labels": {"app": s.name}}
                    for s in services
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # the HTTP API answers only once the TSDB is open: wait for it, not just the port
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(
                    (tmp_path / "prometheus.log").read_text(errors="replace")[-2000:]
                )
            try:
                return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, what="Prometheus to be ready", interval=0.2)
        yield f"http://127.0.0.1:{port}", {s.name: s.url for s in services}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def query(client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/query", params={"query": expr})
    assert response.status_code == 200, f"{expr}: {response.text}"
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


async def test_every_dashboard_panel_query_returns_data(
    prometheus: tuple[str, dict[str, str]],
) -> None:
    prometheus_url, urls = prometheus
    queries = [
        (f"{path.stem} {where}", as_run(expr))
        for path in DASHBOARDS
        for where, expr in panel_queries(json.loads(path.read_text(encoding="utf-8")))
    ]
    assert len(queries) >= 25
    async with httpx.AsyncClient(base_url=prometheus_url, timeout=10) as client:
        await poll_http(
            client,
            "/api/v1/query?query=up",
            until=lambda r: r.status_code == 200 and len(r.json()["data"]["result"]) == 4,
        )
        # a short real run: ASSEMBLY buys wheels and frames (with sub-orders upstream)
        order_ids = []
        async with httpx.AsyncClient(
            base_url=urls["order-intake"], headers=auth("ASSEMBLY")
        ) as intake:
            for body in (
                order_body(supplier="WHEELS", sku="WHEEL-28"),
                order_body(supplier="WHEELS", sku="WHEEL-28", quantity=4),
                order_body(supplier="FRAMES", sku="FRAME-CITY", quantity=1),
            ):
                placed = await intake.post(
                    "/v1/orders", json=body, headers={"Idempotency-Key": f"obs-{uuid.uuid4()}"}
                )
                assert placed.status_code == 201, placed.text
                order_ids.append(placed.json()["order_id"])
        deadline = time.monotonic() + 45
        empty = [where for where, _ in queries]
        while empty and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            empty = [where for where, expr in queries if not await query(client, expr)]
        assert not empty, f"panels without data after the run: {empty}"

        # the handoff histogram's exemplars are the orders' real trace ids
        async with httpx.AsyncClient(base_url=urls["monitoring"], headers=auth("ASSEMBLY")) as api:
            trace_ids = {
                handoff["trace_id"]
                for order_id in order_ids
                for handoff in (await api.get(f"/v1/orders/{order_id}/handoffs")).json()
            }
        exemplars = (
            await client.get(
                "/api/v1/query_exemplars",
                params={
                    "query": "supplychain_handoff_duration_seconds_bucket",
                    "start": time.time() - 300,
                    "end": time.time(),
                },
            )
        ).json()["data"]
    seen = {e["labels"]["trace_id"] for series in exemplars for e in series["exemplars"]}
    assert seen and seen <= trace_ids | {None}, (seen, trace_ids)
