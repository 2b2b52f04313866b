"""The four services as separate processes, as `make run` starts them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from supplychain_devstack.processes import spawn, stop, tail, wait_until

# service name → (python module, default port)  (contract: names and ports)
SERVICES: Final[dict[str, tuple[str, int]]] = {
    "order-intake": ("order_intake", 8001),
    "fulfilment": ("fulfilment", 8002),
    "invoicing": ("invoicing", 8003),
    "monitoring": ("monitoring", 8004),
}
# service name → the variable of its base URL the supplychain CLI reads (`make run` prints them)
CLI_URL_VARIABLES: Final[dict[str, str]] = {
    "order-intake": "SUPPLYCHAIN_URL_INTAKE",
    "fulfilment": "SUPPLYCHAIN_URL_FULFILMENT",
    "invoicing": "SUPPLYCHAIN_URL_INVOICING",
    "monitoring": "SUPPLYCHAIN_URL_MONITORING",
}


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def module(self) -> str:
        return SERVICES[self.name][0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "HTTP_PORT": str(self.port),
            "OTEL_SERVICE_NAME": self.name,
        }
        self.process = spawn([sys.executable, "-m", self.module], log_file=self.log_file, env=env)

    def is_ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{tail(self.log_file)}"
            )
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 90) -> None:
        try:
            wait_until(
                self.is_ready, timeout=timeout, what=f"{self.name} to be ready", interval=0.25
            )
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{tail(self.log_file)}") from exc

    def stop(self) -> None:
        stop(self.process, sig=signal.SIGTERM, timeout=20)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): it neither runs nor reconnects until resumed."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Crash: no shutdown, no flush, nothing committed that was not committed already."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
