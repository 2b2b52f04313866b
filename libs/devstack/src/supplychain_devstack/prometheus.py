"""A Prometheus for `make run` when its binary is on PATH (Debian's `prometheus` package,
which `make promtool` installs): it scrapes the four services and evaluates the project's
alert rules. Without the binary, `make run` says how to get it and runs on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from supplychain_devstack.processes import free_port, port_open, spawn, stop, tail, wait_until

RULES = Path("deploy/compose/prometheus/alerts.yml")  # relative to the project root
HOW_TO_GET_IT = (
    "not on PATH: `make promtool` (or `sudo apt-get install prometheus`) installs it, "
    "then make run starts one with the alert rules"
)


def scrape_config(targets: Mapping[str, int], *, rules: Path | None) -> dict[str, object]:
    """The compose stack's scrape job (deploy/compose/prometheus/prometheus.yml), on loopback."""
    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "15s"},
        "rule_files": [str(rules)] if rules is not None else [],
        "scrape_configs": [
            {
                "job_name": "supplychain",
                "honor_labels": True,  # the services label their own series with `service`
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"app": name}}
                    for name, port in targets.items()
                ],
            }
        ],
    }


@dataclass
class LocalPrometheus:
    data_dir: Path
    project_root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @staticmethod
    def binary() -> str | None:
        return shutil.which("prometheus")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "prometheus.log"

    @property
    def rules(self) -> Path | None:
        rules = self.project_root / RULES
        return rules if rules.exists() else None

    def start(self, targets: Mapping[str, int]) -> None:
        binary = self.binary()
        if binary is None:
            raise FileNotFoundError("prometheus")
        if not self.port:
            wanted = int(os.environ.get("DEVSTACK_PROMETHEUS_PORT", "9090"))
            self.port = wanted if not port_open(wanted) else free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        # JSON is YAML: no YAML library needed
        config.write_text(json.dumps(scrape_config(targets, rules=self.rules), indent=2))
        self.process = spawn(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            log_file=self.log_file,
        )
        try:
            wait_until(self._ready, timeout=30, what="Prometheus to be ready", interval=0.2)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{tail(self.log_file, lines=15)}") from exc

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop(self.process)
        self.process = None
