"""`make run` keeps its services up: a service that dies is restarted with backoff, and
after repeated crashes the runner gives up (stops everything, exits non-zero).

The policy comes from the environment: DEVSTACK_RESTART_LIMIT crashes (default 5) within
DEVSTACK_RESTART_WINDOW_S seconds (default 60) of one service end the run; the first
restart waits DEVSTACK_RESTART_BACKOFF_S (default 1), doubled per crash in the window
(at most 30 s).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from supplychain_devstack.processes import tail
from supplychain_devstack.services import ServiceProcess

MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class RestartPolicy:
    limit: int = 5
    window_s: float = 60.0
    backoff_s: float = 1.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> RestartPolicy:
        return cls(
            limit=int(env.get("DEVSTACK_RESTART_LIMIT", "5")),
            window_s=float(env.get("DEVSTACK_RESTART_WINDOW_S", "60")),
            backoff_s=float(env.get("DEVSTACK_RESTART_BACKOFF_S", "1")),
        )

    def backoff(self, crashes_in_window: int) -> float:
        return min(self.backoff_s * 2.0 ** max(crashes_in_window - 1, 0), MAX_BACKOFF_S)


def why_it_died(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class GaveUp(Exception):
    """A service crashed too often: the run ends."""


@dataclass
class Supervisor:
    services: Mapping[str, ServiceProcess]
    policy: RestartPolicy
    report: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    _crashes: dict[str, list[float]] = field(default_factory=dict, init=False)
    _restart_at: dict[str, float] = field(default_factory=dict, init=False)

    def check(self) -> None:
        """Note the services that died since the last check, restart the ones whose backoff
        has passed; raises GaveUp once a service crashed `limit` times within the window."""
        now = self.clock()
        for name, service in self.services.items():
            if name in self._restart_at:
                if now >= self._restart_at[name]:
                    del self._restart_at[name]
                    self.report(f"{name}: restarting")
                    service.start()
                continue
            process = service.process
            if process is None or process.poll() is None:
                continue
            crashes = [t for t in self._crashes.get(name, []) if now - t < self.policy.window_s]
            crashes.append(now)
            self._crashes[name] = crashes
            last_lines = tail(service.log_file, lines=15)
            died = f"{name} {why_it_died(process.returncode)}"
            log_tail = f"--- last lines of {service.log_file} ---\n{last_lines}"
            if len(crashes) >= self.policy.limit:
                self.report(
                    f"{died}; {len(crashes)} crashes within {self.policy.window_s:g} s: "
                    f"giving up\n{log_tail}"
                )
                raise GaveUp(f"{name} crashed {len(crashes)} times")
            delay = self.policy.backoff(len(crashes))
            self.report(
                f"{died}; restarting in {delay:g} s (crash {len(crashes)} of "
                f"{self.policy.limit} allowed within {self.policy.window_s:g} s)\n{log_tail}"
            )
            self._restart_at[name] = now + delay
