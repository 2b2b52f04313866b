"""Sampling profiles of the services under load (py-spy), summarised by what spends the CPU.

Each sample is attributed to the innermost frame that belongs to a library or to the
platform's own code (a socket write under asyncpg counts as asyncpg); samples with only the
standard library on the stack are the event loop itself (selecting, scheduling callbacks).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# first path component of a frame's file (py-spy prints site-packages-relative paths)
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("database driver (asyncpg)", ("asyncpg",)),
    ("Kafka client (aiokafka)", ("aiokafka", "kafka")),
    ("FastStream", ("faststream", "fast_depends")),
    ("HTTP server and framework", ("uvicorn", "starlette", "fastapi", "h11", "httptools")),
    ("anyio (under FastStream and Starlette)", ("anyio", "sniffio")),
    ("pydantic", ("pydantic", "pydantic_core", "pydantic_settings")),
    (
        "OpenTelemetry",
        # a namespace package: py-spy prints its files from below `opentelemetry/`
        (
            "opentelemetry",
            "trace",
            "sdk",
            "context",
            "propagate",
            "propagators",
            "attributes",
            "baggage",
            "semconv",
            "instrumentation",
            "exporter",
            "util",
        ),
    ),
    ("Prometheus client", ("prometheus_client",)),
    ("logging", ("logging", "pythonjsonlogger")),
    (
        "platform code",
        (
            "supplychain_kit",
            "supplychain_contracts",
            "order_intake",
            "fulfilment",
            "invoicing",
            "monitoring",
        ),
    ),
]
EVENT_LOOP = "event loop and standard library"
# a thread or the loop waiting, not working (py-spy cannot always tell from the outside)
IDLE_LEAVES = (
    "Condition.wait (threading.py",
    "EpollSelector.select (selectors.py",
    "Queue.get (queue.py",
)
# the simulated workers (fulfilment's autopilot): part of the bench's load, not of the product;
# below them, the fulfilment commands they drive (a person's request would run those too)
SIMULATION_FILES = ("fulfilment/autopilot",)
COMMAND_FILES = ("fulfilment/commands",)
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):\d+\)$")
LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def py_spy() -> str | None:
    here = Path(__file__).resolve().parent.parent
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(here / ".tools" / "bin"), os.environ.get("PATH", "")]
    )
    return shutil.which("py-spy", path=path)


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    binary = py_spy()
    if binary is None:
        return None
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def category_of(file: str) -> str | None:
    top = file.replace("\\", "/").split("/", 1)[0]
    for name, packages in CATEGORIES:
        if top in packages:
            return name
    return None


@dataclass
class Summary:
    samples: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    functions: Counter[str] = field(default_factory=Counter)  # platform code's self time
    simulation: int = 0  # samples with a frame of the simulated workers on the stack
    simulation_commands: int = 0  # of those, with a command they drive below them

    def share(self, counter: Counter[str], key: str) -> float:
        return counter[key] / self.samples if self.samples else 0.0

    @property
    def simulation_share(self) -> float:
        return self.simulation / self.samples if self.samples else 0.0

    @property
    def simulation_commands_share(self) -> float:
        return self.simulation_commands / self.samples if self.samples else 0.0


def compress(path: Path) -> Path:
    """`<name>.txt` → `<name>.txt.gz` (a tenth of the size, still readable by flame graph tools
    once unpacked); returns the new path."""
    packed = path.with_suffix(path.suffix + ".gz")
    packed.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    path.unlink()
    return packed


def summarise(path: Path) -> Summary:
    """Summary of a py-spy raw profile (`.txt`, or `.txt.gz`)."""
    summary = Summary()
    if not path.exists():
        return summary
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    for line in raw.decode("utf-8", errors="replace").splitlines():
        match = LINE.match(line.strip())
        if not match:
            continue
        count = int(match["count"])
        stack = match["stack"].split(";")
        if stack[-1].startswith(IDLE_LEAVES):
            continue
        frames = [FRAME.match(f) for f in stack]
        parsed = [(f["func"], f["file"]) for f in frames if f]
        summary.samples += count
        where = EVENT_LOOP
        for _func, file in reversed(parsed):  # innermost first
            found = category_of(file)
            if found:
                where = found
                break
        summary.categories[where] += count
        files = [file for _func, file in parsed]
        simulated = next((i for i, f in enumerate(files) if f.startswith(SIMULATION_FILES)), None)
        if simulated is not None:
            summary.simulation += count
            if any(f.startswith(COMMAND_FILES) for f in files[simulated:]):
                summary.simulation_commands += count
        if parsed and category_of(parsed[-1][1]) == "platform code":  # its own (self) time
            func, file = parsed[-1]
            summary.functions[f"{func} ({file})"] += count
    return summary
