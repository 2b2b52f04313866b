"""`make bench`: the whole system as `make run` starts it, against bare baselines, in one run.

1. Starts the stack in this process (supplychain_devstack.stack, embedded Tansu and
   PostgreSQL, fresh data dir, free ports), autopilot delays 0, reject probability 0 (but for
   the two suppliers of the realistic mix that reject and wait), no simulated demand; raises
   the ordering departments' monthly budgets through the admin API so no order is refused for
   budget.
2. Open-loop load at rising rates through `POST /v1/orders` (ASSEMBLY orders WHEEL-28 from
   WHEELS): requests leave on a fixed schedule, never waiting for earlier answers. A raw
   aiokafka consumer reads the orders, fulfilment and invoicing topics and times every handoff
   (OrderPlaced → OrderAccepted → WorkStarted → OrderShipped → OrderDelivered → InvoiceIssued)
   by order id, from the events' `occurred_at`; placed → invoiced ends at the InvoiceIssued
   record's timestamp. Each rate drains before the next; the ramp stops once the system
   clearly cannot keep up. py-spy then profiles every service at the first rate that did not
   keep up.
3. The realistic mix (bench/mix.py): production chains, rejections, cancellations and paused
   SLA clocks beside the leaf order, at a fixed modest rate, with the operator console open.
4. `/health/live` of order intake vs a bare FastAPI route, and intake (`POST /v1/orders`, the
   other services frozen) vs a bare FastAPI + asyncpg endpoint inserting an order row and an
   outbox row (bench/bare_app.py), closed loop with the same concurrency.
5. The kit's relay and consumer vs raw aiokafka (bench/run_bench.py) on the same broker and
   database, after the services stopped.
6. Peak RSS of every service (psutil, sampled all along).

Writes report.md (tables, ratios to the baselines, targets met / missed), latency-vs-rate.png
and results.json into --out (default: bench/). It only reports: it never fails on a target.

    python bench/system_bench.py            # full run, several minutes
    python bench/system_bench.py --short --out /tmp/b   # proves the benchmark works
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiokafka import AIOKafkaConsumer
from supplychain_contracts import topics
from supplychain_contracts.company import Department
from supplychain_devstack.processes import free_port, free_port_block, wait_until
from supplychain_devstack.stack import Stack, StackConfig
from supplychain_devstack.tansu import TANSU_CLIENT_ENV, TANSU_SINGLE_PARTITION_ENV

sys.path.insert(0, str(Path(__file__).resolve().parent))
import before_after
import broker_wait
import mix
import profiles
import run_bench  # bench/ is not a package
import service_consume
from fasthttp import HttpError, Pool
from figures import ms, pct, per_second

HERE = Path(__file__).resolve().parent
CHAIN = [
    "OrderPlaced",
    "OrderAccepted",
    "WorkStarted",
    "OrderShipped",
    "OrderDelivered",
    "InvoiceIssued",
]
REQUESTER, SUPPLIER, SKU = "ASSEMBLY", "WHEELS", "WHEEL-28"
ORDER_AUTH = {"Authorization": "Bearer dev-assembly-1"}
ADMIN_AUTH = {"Authorization": "Bearer dev-admin-1"}
# topics of several partitions and consumers that wait 10 ms at the embedded broker (its
# answers come at points of a wait, not on arrival): latency over a quiet idle
BENCH_PARTITIONS = 3
CONCURRENCY = 16  # closed-loop comparisons (intake, health), both sides alike


@dataclass
class Profile:
    rates: list[int]
    seconds: float  # per rate
    drain_s: float  # longest wait for the last invoices of a rate
    compare_s: float  # each closed-loop comparison
    kit_messages: int
    kit_rounds: int
    profile_s: float = 15  # py-spy on each service under load
    mix_s: float = 60  # the realistic mix (bench/mix.py)
    mix_drain_s: float = 60  # longest wait for its last root orders to end
    mix_rate: float = 3  # root orders/s: 2 in 8 a chain of 7 orders, ~7.5 orders/s in all


# 60 s a rate: at least 300 samples behind each p99
FULL = Profile([5, 10, 20, 50, 100, 150, 200], 60, 30, 8, 5000, 3)
SHORT = Profile([5, 10], 3, 20, 1.5, 300, 1, profile_s=3, mix_s=3, mix_drain_s=20)


# --- measurement helpers -------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Peak resident memory of each named process (and its children), sampled every 0.2 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pids: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._stop_event = threading.Event()

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def sample(self) -> None:
        for name, pid in list(self.pids.items()):
            try:
                proc = psutil.Process(pid)
                rss = proc.memory_info().rss + sum(
                    c.memory_info().rss for c in proc.children(recursive=True)
                )
            except psutil.Error:
                continue
            self.peak[name] = max(self.peak.get(name, 0), rss)

    def run(self) -> None:
        while not self._stop_event.wait(0.2):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)
        self.sample()


class CpuMeter:
    """CPU seconds (user + system, children included) of each named process: what each part
    of the system spends per order, and what it burns doing nothing."""

    def __init__(self) -> None:
        self.pids: dict[str, tuple[int, bool]] = {}

    def watch(self, name: str, pid: int, *, children: bool = True) -> None:
        self.pids[name] = (pid, children)

    def snapshot(self) -> dict[str, float]:
        seconds: dict[str, float] = {}
        for name, (pid, children) in self.pids.items():
            try:
                proc = psutil.Process(pid)
                procs = [proc, *(proc.children(recursive=True) if children else ())]
                seconds[name] = sum(sum(p.cpu_times()[:2]) for p in procs)
            except psutil.Error:
                continue
        return seconds

    @staticmethod
    def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before.get(name, 0.0) for name in after}


class EventCollector:
    """Reads the order and SLA topics from the beginning: per order id, per event type, the
    event's `occurred_at` and the record's timestamp (epoch seconds, first seen)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, dict[str, tuple[float, float]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.ORDERS,
            topics.FULFILMENT,
            topics.INVOICING,
            topics.SLA,  # the realistic mix's paused clocks
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batch.values():
                for record in records:
                    value = record.value
                    if not value or not value.startswith(b"{"):
                        continue
                    try:
                        event = json.loads(value)
                        order_id, event_type = event["order_id"], event["event_type"]
                        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
                    except (ValueError, KeyError, TypeError):
                        continue
                    self.seen.setdefault(order_id, {}).setdefault(
                        event_type, (occurred, record.timestamp / 1000)
                    )

    def invoiced(self, order_id: str) -> bool:
        return "InvoiceIssued" in self.seen.get(order_id, {})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class Sent:
    at: float  # epoch seconds when the request left
    latency: float | None = None
    status: int | None = None
    order_id: str | None = None


@dataclass
class RateResult:
    offered: int
    sent: int
    offered_actual: float
    completed: int
    achieved: float
    http_ok: int
    http_errors: int
    http_p50: float | None
    http_p99: float | None
    e2e_p50: float | None
    e2e_p99: float | None
    e2e_max: float | None
    handoffs: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    keeps_up: bool = False
    e2e_all: list[float] = field(default_factory=list, repr=False)
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process, during this rate
    wall_s: float = 0.0

    @property
    def completed_fraction(self) -> float:
        return self.completed / self.sent if self.sent else 0.0


def order_body() -> dict[str, Any]:
    return {"requester": REQUESTER, "supplier": SUPPLIER, "lines": [{"sku": SKU, "quantity": 1}]}


async def place(pool: Pool) -> tuple[int, bytes]:
    status: int
    body: bytes
    status, body = await pool.request(
        "POST",
        "/v1/orders",
        json_body=order_body(),
        headers={"Idempotency-Key": f"bench-{uuid.uuid4()}", **ORDER_AUTH},
    )
    return status, body


async def place_as(pool: Pool, kind: mix.Kind) -> tuple[int, bytes]:
    """One order of the kind's requester (its own key, budget and idempotency key)."""
    status: int
    body: bytes
    status, body = await pool.request(
        "POST",
        "/v1/orders",
        json_body={
            "requester": kind.requester,
            "supplier": kind.supplier,
            "lines": [{"sku": kind.sku, "quantity": 1}],
        },
        headers={"Idempotency-Key": f"bench-{uuid.uuid4()}", **kind.auth},
    )
    return status, body


async def post_order(pool: Pool, sent: Sent) -> None:
    started = time.perf_counter()
    try:
        sent.status, body = await place(pool)
        if sent.status in (200, 201):
            sent.order_id = json.loads(body)["order_id"]
    except HttpError:
        sent.status = 0
    sent.latency = time.perf_counter() - started


async def raise_budget(
    client: httpx.AsyncClient, url: str, departments: tuple[str, ...] | None = (REQUESTER,)
) -> None:
    """No order of the run may be refused for budget (or wait for an approval): a very large
    monthly budget for each ordering department (None: every department)."""
    response = await client.get(f"{url}/v1/admin/departments", headers=ADMIN_AUTH)
    response.raise_for_status()
    for current in (d for d in response.json() if departments is None or d["code"] in departments):
        body = {k: v for k, v in current.items() if k in Department.model_fields}
        body["monthly_budget"] = "999999999999.00"
        body["approval_threshold"] = None
        answer = await client.put(
            f"{url}/v1/admin/departments/{current['code']}", json=body, headers=ADMIN_AUTH
        )
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"cannot raise the budget: {answer.status_code} {answer.text}")


async def warm_up(pool: Pool, collector: EventCollector) -> None:
    """One order through the whole chain: reference data has reached every service."""
    deadline = time.monotonic() + 90
    while True:
        sent = Sent(at=time.time())
        await post_order(pool, sent)
        if sent.order_id:
            while time.monotonic() < deadline and not collector.invoiced(sent.order_id):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            if collector.invoiced(sent.order_id):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up order did not go through: {sent}")
        await asyncio.sleep(1)


async def run_rate(
    pool: Pool,
    collector: EventCollector,
    rate: int,
    profile: Profile,
    lowest_p99: float | None,
    cpu: CpuMeter | None = None,
) -> RateResult:
    n = max(2, round(rate * profile.seconds))
    cpu_before, wall_before = (cpu.snapshot() if cpu else {}), time.perf_counter()
    sends = [Sent(at=0.0) for _ in range(n)]
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i, sent in enumerate(sends):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.at = time.time()
        tasks.append(asyncio.create_task(post_order(pool, sent)))
    offered_actual = (n - 1) / max(1e-9, sends[-1].at - sends[0].at)
    deadline = time.monotonic() + profile.drain_s
    await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
    ids = [s.order_id for s in sends if s.order_id]
    while time.monotonic() < deadline and not all(collector.invoiced(i) for i in ids):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    cpu_s = CpuMeter.delta(cpu.snapshot(), cpu_before) if cpu else {}
    wall_s = time.perf_counter() - wall_before
    ok = [s for s in sends if s.order_id]
    e2e, invoice_times = [], []
    handoff_values: dict[str, list[float]] = {
        f"{a} → {b}": [] for a, b in itertools.pairwise(CHAIN)
    }
    for s in ok:
        events = collector.seen.get(s.order_id or "", {})
        for a, b in itertools.pairwise(CHAIN):
            if a in events and b in events:
                handoff_values[f"{a} → {b}"].append(events[b][0] - events[a][0])
        if "OrderPlaced" in events and "InvoiceIssued" in events:
            invoice_times.append(events["InvoiceIssued"][1])
            e2e.append(events["InvoiceIssued"][1] - events["OrderPlaced"][0])
    completed = len(invoice_times)
    achieved = per_second(invoice_times)
    latencies = [s.latency for s in sends if s.latency is not None and s.status in (200, 201)]
    result = RateResult(
        offered=rate,
        sent=n,
        offered_actual=offered_actual,
        completed=completed,
        achieved=min(achieved, offered_actual) if completed == n else achieved,
        http_ok=len(ok),
        http_errors=n - len(ok),
        http_p50=pct(latencies, 50),
        http_p99=pct(latencies, 99),
        e2e_p50=pct(e2e, 50),
        e2e_p99=pct(e2e, 99),
        e2e_max=max(e2e) if e2e else None,
        handoffs={k: (pct(v, 50), pct(v, 99)) for k, v in handoff_values.items()},
        e2e_all=e2e,
        cpu_s=cpu_s,
        wall_s=wall_s,
    )
    p99_bound = max(1.0, 5 * (lowest_p99 or 0.0))
    result.keeps_up = (
        result.completed_fraction >= 0.99
        and result.achieved >= 0.95 * result.offered_actual
        and result.e2e_p99 is not None
        and result.e2e_p99 <= p99_bound
    )
    print(
        f"  {rate:>4}/s offered ({offered_actual:.1f} actual): {completed}/{n} invoiced, "
        f"{result.achieved:.1f}/s, HTTP p99 {ms(result.http_p99)} ms, "
        f"placed→invoiced p50 {ms(result.e2e_p50)} p99 {ms(result.e2e_p99)} ms"
        f"{'' if result.keeps_up else '  (does not keep up)'}",
        flush=True,
    )
    return result


async def closed_loop(
    seconds: float, call: Any, concurrency: int = CONCURRENCY
) -> tuple[float, int]:
    """Requests/s with `concurrency` workers each sending one request after the other."""
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            try:
                status, _ = await call()
                if status < 300:
                    done += 1
                else:
                    errors += 1
            except HttpError:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started), errors


async def compare(name: str, seconds: float, ours: Any, bare: Any) -> dict[str, float | int | str]:
    await closed_loop(min(1.0, seconds / 4), ours)  # warm both
    await closed_loop(min(1.0, seconds / 4), bare)
    ours_rate, ours_errors = await closed_loop(seconds, ours)
    bare_rate, bare_errors = await closed_loop(seconds, bare)
    print(
        f"  {name}: {ours_rate:,.0f}/s vs bare {bare_rate:,.0f}/s "
        f"({ours_rate / bare_rate:.2f}x; errors {ours_errors}/{bare_errors})",
        flush=True,
    )
    return {
        "name": name,
        "ours": ours_rate,
        "bare": bare_rate,
        "ratio": ours_rate / bare_rate if bare_rate else 0.0,
        "ours_errors": ours_errors,
        "bare_errors": bare_errors,
    }


# --- the run -------------------------------------------------------------------------------


def start_bare_app(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "bare_app.py"),
                "--port",
                str(port),
                "--database-url",
                database_url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"bare app exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=30, what="the bare baseline app", interval=0.2)
    return process, url


async def profile_phase(
    stack: Stack,
    pool: Pool,
    collector: EventCollector,
    profile: Profile,
    results: list[RateResult],
    out: Path,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    """py-spy on every service while load runs at the first rate that did not keep up (the
    machine saturated), or at the highest rate when every rate kept up; with each process's
    CPU per invoiced order at that rate (what the profiles' shares are shares of)."""
    if profiles.py_spy() is None:
        print("py-spy not found: no profiles (make install puts it in .venv)", flush=True)
        return {}
    rate = next(
        (r.offered for r in results if not r.keeps_up), results[-1].offered if results else 5
    )
    print(f"profiling every service with py-spy at {rate} orders/s", flush=True)
    spies = {}
    for name, service in stack.services.items():
        assert service.process is not None
        spy = profiles.record(service.process.pid, profile.profile_s, out / f"{name}.txt")
        if spy is not None:
            spies[name] = spy
    profiled = await run_rate(
        pool, collector, rate, replace(profile, seconds=profile.profile_s), None, cpu
    )
    for spy in spies.values():
        try:
            await asyncio.to_thread(spy.wait, timeout=profile.profile_s + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
    return {
        "rate": rate,
        "seconds": profile.profile_s,
        "cpu_ms_per_order": {
            name: 1000 * seconds / profiled.completed
            for name, seconds in profiled.cpu_s.items()
            if profiled.completed
        },
        "services": {
            name: profiles.summarise(profiles.compress(out / f"{name}.txt"))
            for name in spies
            if (out / f"{name}.txt").exists()
        },
    }


async def system_phase(
    stack: Stack,
    profile: Profile,
    rss: RssSampler,
    bare_url: str,
    cpu: CpuMeter | None = None,
    profiles_dir: Path = HERE / "profiles",
) -> dict[str, Any]:
    intake = stack.services["order-intake"].url
    collector = EventCollector(stack.bootstrap_servers)
    await collector.start()
    pool, bare = Pool(intake), Pool(bare_url)
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            await raise_budget(client, intake, mix.REQUESTERS)
        await warm_up(pool, collector)
        idle_cpu: dict[str, float] = {}
        if cpu is not None:  # what the system burns with nothing to do (polling, fetches)
            before, started = cpu.snapshot(), time.perf_counter()
            await asyncio.sleep(profile.compare_s)
            seconds = time.perf_counter() - started
            idle_cpu = {
                name: value / seconds
                for name, value in CpuMeter.delta(cpu.snapshot(), before).items()
            }
        print("open-loop ramp through POST /v1/orders", flush=True)
        results: list[RateResult] = []
        misses = 0
        for rate in profile.rates:
            lowest = results[0].e2e_p99 if results else None
            result = await run_rate(pool, collector, rate, profile, lowest, cpu)
            results.append(result)
            misses = 0 if result.keeps_up else misses + 1
            if result.completed_fraction < 0.95 or misses >= 2:
                print("  stopping the ramp: the system no longer keeps up", flush=True)
                break
        peak_after_ramp = dict(rss.peak)
        sampled = await profile_phase(stack, pool, collector, profile, results, profiles_dir, cpu)
        print(
            f"realistic mix: {profile.mix_rate:g} root orders/s for {profile.mix_s:g} s, "
            "the console open",
            flush=True,
        )
        console = Pool(stack.services["monitoring"].url)
        try:
            mixed = await mix.run_mix(
                pool,
                console,
                collector.seen,
                rate=profile.mix_rate,
                seconds=profile.mix_s,
                drain_s=profile.mix_drain_s,
                cpu=cpu,
            )
        finally:
            console.close()
        print(mix.progress(mixed), flush=True)
        print("health route vs a bare FastAPI route", flush=True)
        health = await compare(
            "GET /health/live",
            profile.compare_s,
            lambda: pool.request("GET", "/health/live"),
            lambda: bare.request("GET", "/health/live"),
        )
        print("intake vs a bare insert endpoint (other services frozen)", flush=True)
        others = [s for n, s in stack.services.items() if n != "order-intake"]
        for service in others:
            service.pause()
        try:
            intake_cmp = await compare(
                "POST /v1/orders",
                profile.compare_s,
                lambda: place(pool),
                lambda: bare.request("POST", "/v1/orders", json_body=order_body()),
            )
            # the same, the orders coming from several departments (each its own budget row)
            spread = itertools.cycle(mix.KINDS)
            intake_spread = await compare(
                f"POST /v1/orders, {len(mix.KINDS)} departments",
                profile.compare_s,
                lambda: place_as(pool, next(spread)),
                lambda: bare.request("POST", "/v1/orders", json_body=order_body()),
            )
        finally:
            for service in others:
                service.resume()
    finally:
        pool.close()
        bare.close()
        await collector.stop()
    return {
        "rates": results,
        "health": health,
        "intake": intake_cmp,
        "intake_spread": intake_spread,
        "rss_ramp": peak_after_ramp,
        "idle_cpu": idle_cpu,
        "profiles": sampled,
        "mix": mixed,
    }


def saturation(results: list[RateResult]) -> RateResult | None:
    keeping = [r for r in results if r.keeps_up]
    return max(keeping, key=lambda r: r.offered) if keeping else None


def at_rate(results: list[RateResult], rate: int) -> RateResult | None:
    return next((r for r in results if r.offered == rate), None)


# events/s each service's consume path with its real handlers is to apply (a target)
CONSUME_TARGET = 3000


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**missed**")


def targets(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    results: list[RateResult] = data["rates"]
    kit: run_bench.KitResults = data["kit"]
    sat = saturation(results)
    rows = []
    sustained = sat.achieved if sat else 0.0
    rows.append(
        (
            "sustained end-to-end throughput ≥ 150 orders/s",
            f"{sustained:.1f} orders/s (saturation at offered {sat.offered if sat else '—'}/s)",
            "—",
            verdict(sustained >= 150),
        )
    )
    for rate, bound in ((50, 1.0), (10, 0.3)):
        r = at_rate(results, rate)
        figure = f"p99 {ms(r.e2e_p99)} ms ({r.completed}/{r.sent} invoiced)" if r else "not reached"
        ok = None
        if r is not None:
            ok = r.completed == r.sent and r.e2e_p99 is not None and r.e2e_p99 <= bound
        elif results and rate > max(x.offered for x in results):
            ok = False  # the ramp stopped below this rate
        rows.append(
            (
                f"placed → invoiced p99 ≤ {bound * 1000:.0f} ms at {rate} orders/s",
                figure,
                "—",
                verdict(ok),
            )
        )
    mixed: mix.MixResult | None = data.get("mix")
    rows.append(
        (
            "a figure for production chains per second (EBIKE-CITY, 7 orders each)",
            f"{mixed.chains_per_s:.2f} chains/s invoiced at {mixed.chain_rate:.2f}/s offered "
            f"in the realistic mix (machine {100 * mix.busy(mixed):.0f} % busy)"
            if mixed
            else "not measured",
            "—",
            "a figure, no verdict",
        )
    )
    intake, health = data["intake"], data["health"]
    rows.append(
        (
            "intake ≥ 0.5x the bare insert endpoint",
            f"{intake['ours']:,.0f} req/s",
            f"{intake['bare']:,.0f} req/s → **{intake['ratio']:.2f}x**",
            verdict(intake["ratio"] >= 0.5),
        )
    )
    rows.append(
        (
            "health ≥ 0.8x a bare route",
            f"{health['ours']:,.0f} req/s",
            f"{health['bare']:,.0f} req/s → **{health['ratio']:.2f}x**",
            verdict(health["ratio"] >= 0.8),
        )
    )
    relay_ratio = kit.relay.median / kit.raw_produce_acked.median
    rows.append(
        (
            "outbox relay ≥ 0.5x raw produce with the same acks",
            f"{kit.relay.median:,.0f} msg/s",
            f"{kit.raw_produce_acked.median:,.0f} msg/s → **{relay_ratio:.2f}x**",
            verdict(relay_ratio >= 0.5),
        )
    )
    for sc in data.get("services", []):
        rows.append(
            (
                f"{sc.service}: consume path with its real handlers ≥ {CONSUME_TARGET:,} "
                "events/s (and ≥ 0.5x a raw batched loop doing the same SQL effect)",
                f"{sc.platform:,.0f} msg/s",
                f"{sc.raw:,.0f} msg/s → **{sc.ratio:.2f}x**",
                verdict(sc.platform >= CONSUME_TARGET and sc.ratio >= 0.5),
            )
        )
    consume_ratio = kit.kit_consumer.median / kit.raw_batched.median
    rows.append(
        (
            "the kit consumer alone (a one-row effect) ≥ 0.5x a raw batched baseline",
            f"{kit.kit_consumer.median:,.0f} msg/s",
            f"{kit.raw_batched.median:,.0f} msg/s → **{consume_ratio:.2f}x**",
            verdict(consume_ratio >= 0.5),
        )
    )
    peaks = data["rss"]
    services = [n for n in peaks if n != "bare baseline app"]
    worst = max(services, key=lambda n: peaks[n]) if services else None
    rows.append(
        (
            "RSS ≤ 150 MB per service at peak",
            f"highest: {worst} {peaks[worst] / 1e6:.0f} MB" if worst else "—",
            f"bare app {peaks.get('bare baseline app', 0) / 1e6:.0f} MB",
            verdict(bool(services) and all(peaks[n] <= 150e6 for n in services)),
        )
    )
    idle = idle_figures()
    rows.append(
        (
            "`make run` at its default demand ≤ 0.10 core for the whole stack",
            f"{idle['cores']:.3f} cores ({idle['cores_without_demand']:.3f} without demand), "
            f"`make bench-idle` of {idle['measured_at']}"
            if idle
            else "not measured: run `make bench-idle`",
            "—",
            verdict(idle["cores"] <= 0.10) if idle else verdict(None),
        )
    )
    return rows


def idle_figures(path: Path = HERE / "idle.json") -> dict[str, Any] | None:
    """`make bench-idle`'s last figures (a stack of its own: make run's settings, not the
    bench's), None when it was not run."""
    if not path.exists():
        return None
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found if found.get("cores") is not None else None


def services_section(measured: list[service_consume.ServiceConsume]) -> list[str]:
    if not measured:
        return []
    lines = [
        "## Each service's consume path with its real handlers",
        "",
        "After the ramp, each service's topics (the whole run's events) are consumed twice into "
        "fresh copies of its database (its migrations and seed, the reference topic applied, "
        "order intake's orders as placed): by a raw aiokafka loop (`getmany` of 100, one "
        "transaction per batch: the inbox claim and the service's own handlers, then a commit) "
        "and by the kit's consumer as the service registers it. Both run the same handler code, "
        "so the ratio is what the platform's consume path adds to the effect.",
        "",
        "| service | records | events applied | raw batched loop (msg/s) | platform (msg/s) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for sc in measured:
        lines.append(
            f"| {sc.service} | {sc.records} | {sc.applied} | {sc.raw:,.0f} | "
            f"{sc.platform:,.0f} | {sc.ratio:.2f} |"
        )
    lines.append("")
    return lines


def top_categories(summary: profiles.Summary, n: int = 3) -> str:
    return ", ".join(
        f"{name} {100 * summary.share(summary.categories, name):.0f} %"
        for name, _ in summary.categories.most_common(n)
    )


def bounds_section(data: dict[str, Any]) -> list[str]:
    """For each target missed, what bounds it, from this run's own measurements."""
    results: list[RateResult] = data["rates"]
    kit: run_bench.KitResults = data["kit"]
    sampled: dict[str, profiles.Summary] = data.get("profiles", {}).get("services", {})
    cores = os.cpu_count() or 1
    lines = ["### What bounds the targets missed", ""]
    measured = [r for r in results if r.cpu_s and r.completed]
    sat = saturation(results)
    if measured and (sat is None or sat.achieved < 150):
        busiest = max(measured, key=lambda r: r.offered)
        per_order = {n: 1000 * v / busiest.completed for n, v in busiest.cpu_s.items()}
        total = sum(per_order.values())
        ceiling = cores * 1000 / total if total else 0.0
        heavy = sorted(per_order.items(), key=lambda kv: -kv[1])[:4]
        busy = sum(busiest.cpu_s.values()) / (cores * busiest.wall_s) if busiest.wall_s else 0
        lines.append(
            f"- **Throughput is bound by CPU.** At {busiest.offered} orders/s the machine was "
            f"{100 * busy:.0f} % busy and an order cost {total:.0f} ms of CPU over all processes "
            f"({', '.join(f'{n} {v:.0f} ms' for n, v in heavy)}): {cores} cores can carry at "
            f"most ~{ceiling:.0f} orders/s at that cost, and 150 orders/s needs ≤ "
            f"{cores * 1000 / 150:.0f} ms per order, about {total / (cores * 1000 / 150):.0f}x "
            "less. Each order is six events, each written to an outbox, relayed, fetched and "
            "applied exactly once by up to four services (a transaction, an inbox claim, a "
            "span and a commit each), plus the HTTP placement and the four commands the "
            "simulated workers drive in fulfilment; the profiles below show the "
            "time spread over the driver, the Kafka client and the framework rather than one "
            "hot spot that a change could remove."
            + simulation_note(simulated_workers(data.get("profiles", {})))
        )
    wait = data.get("broker_wait", {})
    multi = wait.get("3 topics x 3 partitions", {})
    single = wait.get("1 topic x 1 partition", {})
    if multi and single:
        lines.append(
            "- **Idle polling.** Tansu does not answer a waiting fetch when a record arrives "
            "but at a point of its wait, for a consumer of one partition as for one of several "
            f"({single.get(500, 0):.0f} and {multi.get(500, 0):.0f} ms to deliver a record with "
            "a 500 ms wait): a short wait keeps handoffs short at the cost of empty fetches, "
            "which is the CPU the idle row of the CPU table shows (Tansu answering them, the "
            "Kafka client in every service's profile). A Kafka broker answers on arrival; "
            "there a longer `KAFKA_FETCH_MAX_WAIT_MS` removes most of it."
        )
    r10 = at_rate(results, 10)
    if r10 and r10.e2e_p99 is not None and r10.e2e_p99 > 0.3:
        slowest = max(r10.handoffs.items(), key=lambda kv: kv[1][1] or 0)
        busy10 = sum(r10.cpu_s.values()) / (cores * r10.wall_s) if r10.wall_s and r10.cpu_s else 0
        lines.append(
            f"- **p99 at 10 orders/s** ({1000 * r10.e2e_p99:.0f} ms): the slowest handoff's p99 "
            f"was {slowest[0]} ({1000 * (slowest[1][1] or 0):.0f} ms) with the machine "
            f"{100 * busy10:.0f} % busy; five hops each wait for a fetch, a transaction and a "
            "relay round, and the tail is queueing behind other work on two shared cores."
        )
    r50 = at_rate(results, 50)
    if sat is not None and sat.offered < 50:
        lines.append(
            f"- **p99 at 50 orders/s**: above the saturation point ({sat.offered}/s offered) "
            "orders queue, so latency grows with the backlog; it is bound by throughput."
            + (f" (measured p99 {1000 * r50.e2e_p99:.0f} ms)" if r50 and r50.e2e_p99 else "")
        )
    intake = data["intake"]
    if intake["ratio"] < 0.5:
        where = sampled.get("order-intake")
        lines.append(
            f"- **Intake {intake['ratio']:.2f}x the bare endpoint**: placing an order is two "
            "round trips (the reference read; one statement that locks the budget's running "
            "total, claims the idempotency key and writes the order, its lines, its timeline "
            "and its outbox row) against the bare endpoint's two inserts, but the statement "
            "is larger and the request is validated against the catalogue and the budget; "
            "then intake's relay publishes each OrderPlaced (a transaction per batch of rows, a "
            "produce per order) and its consumer polls the broker, where the bare endpoint "
            "only writes its rows"
            + (
                f". The orders of {len(mix.KINDS)} departments in turn (each its own budget "
                f"row) gave {spread['ratio']:.2f}x ({spread['ours']:,.0f} req/s): "
                + (
                    "serialising on one department's budget row is not what bounds it"
                    if spread["ratio"] < 1.15 * intake["ratio"]
                    else "orders of one department wait on its budget row"
                )
                if (spread := data.get("intake_spread"))
                else ""
            )
            + (f"; intake's profile: {top_categories(where)}" if where else "")
            + "."
        )
    relay = relay_bound(kit)
    if relay is not None:
        lines.append(relay)
    slow = [sc for sc in data.get("services", []) if sc.platform < CONSUME_TARGET]
    if slow:
        lines.append(
            f"- **Consume paths below {CONSUME_TARGET:,} events/s** ("
            + ", ".join(f"{sc.service} {sc.platform:,.0f}" for sc in slow)
            + "): the raw loop that does the same SQL effect in one transaction per batch, "
            "without the platform, reaches "
            + ", ".join(f"{sc.service} {sc.raw:,.0f}" for sc in slow)
            + f" msg/s here, so the bound is the effect itself (the service's own statements "
            "and PostgreSQL on the same two cores), not the consume path around it; reaching "
            f"{CONSUME_TARGET:,} needs that effect "
            + ", ".join(f"{sc.service} {CONSUME_TARGET / sc.raw:.1f}x" for sc in slow if sc.raw)
            + " cheaper (fewer statements per event: `make bench-consume` counts them) or a "
            "database on cores of its own."
        )
    for sc in data.get("services", []):
        if sc.ratio < 0.5:
            where = sampled.get(sc.service)
            lines.append(
                f"- **{sc.service}'s consume path {sc.ratio:.2f}x**: the platform adds a "
                "`process` span, metrics and FastStream's per-batch call chain per record to "
                "the same effect"
                + (f"; its profile under load: {top_categories(where)}" if where else "")
                + "."
            )
    idle = idle_figures()
    if idle and idle["cores"] > 0.10 and idle.get("cores_without_demand") is not None:
        floor = idle["cores_without_demand"]
        work = idle["cores"] - floor
        ms_each = 1000 * work * idle["seconds"] / idle["orders"] if idle["orders"] else 0.0
        lines.append(
            f"- **`make run` at its default demand: {idle['cores']:.3f} cores** (`make "
            f"bench-idle`): {floor:.3f} of them is the floor the stack burns with no order at "
            "all (each consumer's fetch waiting 1 s at the broker, heartbeats, the relays' and "
            f"the SLA scan's sweeps, metrics) and {work:.3f} the demand's "
            f"{idle['orders']:g} orders per {idle['seconds']:g} s (chains' sub-orders "
            f"included), {ms_each:.0f} ms of CPU each. ≤ 0.10 core needs "
            + (
                f"the floor below {0.10 - work:.3f} at this work, "
                if work < 0.10
                else "the work per order cut first, "
            )
            + "i.e. fewer wake-ups of idle consumers (a broker that answers a waiting fetch "
            "on arrival allows a wait of many seconds) or fewer processes."
        )
    if len(lines) == 2:
        lines.append("- every target was met in this run")
    lines.append("")
    return lines


def simulation_note(workers: SimulatedWorkers | None) -> str:
    if workers is None:
        return ""
    return (
        f" About {workers.ms_per_order:.1f} ms of an order's CPU (measured at "
        f"{workers.rate} orders/s) is fulfilment's simulated workers, the autopilot playing "
        "the departments' people: that part is the simulation, not the product (of it, "
        f"~{workers.ms_per_order - workers.own_ms_per_order:.1f} ms are the commands it "
        "drives, which people's requests would cost as well)."
    )


def relay_bound(kit: run_bench.KitResults) -> str | None:
    """What holds the relay below half of raw produce with the same acks, in this run's
    figures (None when it is not below)."""
    relay, acked = kit.relay.median, kit.raw_produce_acked.median
    streaming = kit.raw_produce.median
    if relay >= 0.5 * acked:
        return None
    if acked < streaming:
        wait = (
            f"that wait alone costs raw aiokafka {100 * (1 - acked / streaming):.0f} % of its "
            f"streaming rate ({acked:,.0f} against {streaming:,.0f} msg/s), and it is in both"
        )
    else:
        wait = (
            f"that wait costs raw aiokafka nothing measurable here ({acked:,.0f} msg/s against "
            f"{streaming:,.0f} streaming)"
        )
    return (
        f"- **Relay {relay / acked:.2f}x raw produce with the same acks** ({relay:,.0f} against "
        f"{acked:,.0f} msg/s): both send {run_bench.RELAY_BATCH} records with acks `all` and "
        f"wait until the broker confirmed them all before the next; {wait}. The gap is the "
        "relay's own work per batch: it reads the rows from PostgreSQL in a transaction that "
        "holds the relay's lock, decodes each row's stored headers and sends the record with "
        "them, and marks the batch published in that transaction before it reads the next "
        "(the guarantee: a row is marked only once the broker has it)."
    )


def profile_section(sampled: dict[str, Any]) -> list[str]:
    services: dict[str, profiles.Summary] = sampled.get("services", {})
    if not services:
        return []
    names = list(services)
    categories = sorted(
        {c for summary in services.values() for c in summary.categories},
        key=lambda c: -sum(s.share(s.categories, c) for s in services.values()),
    )
    lines = [
        f"## Profiles under load (py-spy, {sampled['rate']} orders/s for {sampled['seconds']:g} s)",
        "",
        "Share of each service's CPU samples, attributed to the innermost frame of a library or "
        "of the platform's own code (a socket write under asyncpg counts as asyncpg; threads "
        "and the loop waiting are left out). Raw profiles: `profiles/<service>.txt.gz` "
        "(py-spy raw format, for flame graphs).",
        "",
        "| where the CPU goes | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for category in categories:
        cells = [
            f"{100 * services[n].share(services[n].categories, category):.0f} %" for n in names
        ]
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    lines.append("| samples | " + " | ".join(str(services[n].samples) for n in names) + " |")
    lines += [
        "",
        "The platform's own functions with the most samples in themselves (self time: the "
        "sample's innermost frame is the platform's code):",
        "",
    ]
    for name in names:
        top = services[name].functions.most_common(4)
        listed = "; ".join(
            f"`{func.split(' (')[0]}` {100 * count / max(services[name].samples, 1):.0f} %"
            for func, count in top
        )
        lines.append(f"- {name}: {listed}")
    lines.append("")
    return lines


@dataclass(frozen=True)
class SimulatedWorkers:
    """The autopilot's part of fulfilment's CPU at the profiled rate (its profile's samples
    with the autopilot's frames on the stack, times fulfilment's CPU per order)."""

    rate: int  # orders/s while profiled
    share: float  # of fulfilment's samples
    commands_share: float  # of fulfilment's samples: the commands it drives, below it
    fulfilment_ms: float  # fulfilment's CPU per invoiced order at that rate

    @property
    def ms_per_order(self) -> float:
        return self.share * self.fulfilment_ms

    @property
    def own_ms_per_order(self) -> float:
        """Without the commands it drives (which a person's request would run too)."""
        return (self.share - self.commands_share) * self.fulfilment_ms


def simulated_workers(sampled: dict[str, Any]) -> SimulatedWorkers | None:
    summary = sampled.get("services", {}).get("fulfilment")
    per_order = sampled.get("cpu_ms_per_order", {}).get("fulfilment")
    if summary is None or not summary.samples or per_order is None:
        return None
    return SimulatedWorkers(
        sampled["rate"], summary.simulation_share, summary.simulation_commands_share, per_order
    )


def simulated_workers_lines(workers: SimulatedWorkers | None) -> list[str]:
    if workers is None:
        return []
    return [
        f"**Simulated workers.** The autopilot (`{profiles.SIMULATION_FILES[0]}`) plays the "
        "departments' people inside fulfilment, so its CPU is counted as fulfilment's above. "
        f"In fulfilment's profile at {workers.rate} orders/s, {100 * workers.share:.0f} % of "
        f"the samples have its frames on the stack: **~{workers.ms_per_order:.1f} ms per "
        f"order** of fulfilment's {workers.fulfilment_ms:.1f} ms. "
        f"{100 * workers.commands_share:.0f} of those {100 * workers.share:.0f} % are inside "
        "the fulfilment commands it drives (accept, start, ship, confirm receipt), which a "
        f"person's request would run too; the rest, ~{workers.own_ms_per_order:.1f} ms per "
        "order, is the simulation itself (finding due work, deciding). A lower bound: the "
        "event loop reads the answers to its queries outside its frames.",
        "",
    ]


def cpu_section(
    results: list[RateResult], idle: dict[str, float], workers: SimulatedWorkers | None = None
) -> list[str]:
    """Where the CPU goes: per process, CPU ms per invoiced order at each rate, and what it
    burns idle. The machine has os.cpu_count() cores for all of it: the bound on throughput."""
    measured = [r for r in results if r.cpu_s and r.completed]
    if not measured:
        return []
    names = list(measured[0].cpu_s)
    cores = os.cpu_count() or 1
    lines = [
        "## Where the CPU goes (what bounds throughput)",
        "",
        f"CPU time (user + system) of each process while each rate ran and drained, per "
        f"invoiced order; `busy` is the share of the machine's {cores} cores used. Idle: CPU "
        "seconds per second with no orders at all (consumers polling the broker, the broker "
        "answering empty fetches, background jobs).",
        "",
        "| offered (orders/s) | " + " | ".join(names) + " | total | busy |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for r in measured:
        total = sum(r.cpu_s.values())
        per_order = [f"{1000 * r.cpu_s[n] / r.completed:.1f}" for n in names]
        busy = total / (cores * r.wall_s) if r.wall_s else 0.0
        lines.append(
            f"| {r.offered} | "
            + " | ".join(per_order)
            + f" | {1000 * total / r.completed:.1f} ms | {100 * busy:.0f} % |"
        )
    if idle:
        lines.append(
            "| idle (CPU s/s) | "
            + " | ".join(f"{idle.get(n, 0.0):.2f}" for n in names)
            + f" | {sum(idle.values()):.2f} | {100 * sum(idle.values()) / cores:.0f} % |"
        )
    lines.append("")
    lines += simulated_workers_lines(workers)
    return lines


def report(data: dict[str, Any], profile: Profile, short: bool, elapsed: float) -> str:
    results: list[RateResult] = data["rates"]
    kit: run_bench.KitResults = data["kit"]
    sat = saturation(results)
    lines = [
        "# System benchmark report"
        + (" (short variant: proves it works, figures mean little)" if short else ""),
        "",
        f"- run: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {elapsed / 60:.1f} min; "
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"- **the load generator, the event reader, Tansu, PostgreSQL and the four services share "
        f"these {os.cpu_count()} cores**: every figure is the system plus its own measurement",
        "- stack as `make run` starts it (embedded Tansu and PostgreSQL, fresh data dir) but set "
        f"for latency: {BENCH_PARTITIONS} partitions per topic, consumers waiting "
        f"{TANSU_CLIENT_ENV['KAFKA_FETCH_MAX_WAIT_MS']} ms at the broker (`make run`: 1 partition, "
        f"{TANSU_SINGLE_PARTITION_ENV['KAFKA_FETCH_MAX_WAIT_MS']} ms, for a quiet idle: "
        "`make bench-idle` measures that); autopilot "
        "delays 0, reject probability 0 (but for the realistic mix's suppliers, see its "
        "section), no simulated demand; the ordering departments' budgets raised through the "
        "admin API",
        f"- open loop: {REQUESTER} orders {SKU} from {SUPPLIER} at each rate for "
        f"{profile.seconds:g} s, each rate drained (≤ {profile.drain_s:g} s) before the next; "
        "the ramp stops after two rates that do not keep up or one that leaves > 5 % unfinished",
        "- keeps up: ≥ 99 % invoiced, completion rate (InvoiceIssued/s over the span of the "
        "invoices) ≥ 95 % of the rate actually sent, placed → invoiced p99 ≤ max(1 s, 5x the "
        "lowest rate's)",
        "- handoffs from the events' `occurred_at`; placed → invoiced from OrderPlaced "
        "`occurred_at` to the InvoiceIssued record's timestamp",
        "",
        "## Targets (reported, never enforced)",
        "",
        "| target | figure | baseline in the same run → ratio | verdict |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets(data)]
    lines += ["", *bounds_section(data)]
    lines += [
        "",
        "## Latency versus rate",
        "",
        f"Saturation point: **{sat.offered if sat else '—'} orders/s offered** "
        f"({sat.achieved:.1f} invoiced/s)"
        if sat
        else "Saturation point: below the lowest rate",
        "",
        "![latency versus rate](latency-vs-rate.png)",
        "",
        "| offered (orders/s) | sent | actual send rate | invoiced | completion rate (/s) | "
        "HTTP p50 / p99 (ms) | placed → invoiced p50 / p99 / max (ms) | keeps up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.offered} | {r.sent} | {r.offered_actual:.1f} | {r.completed} | "
            f"{r.achieved:.1f} | {ms(r.http_p50)} / {ms(r.http_p99)} | "
            f"{ms(r.e2e_p50)} / {ms(r.e2e_p99)} / {ms(r.e2e_max)} | "
            f"{'yes' if r.keeps_up else 'no'} |"
        )
    handoffs = list(results[0].handoffs) if results else []
    lines += [
        "",
        "Per handoff, p50 / p99 (ms):",
        "",
        "| offered (orders/s) | " + " | ".join(handoffs) + " |",
        "|---|" + "---|" * len(handoffs),
    ]
    for r in results:
        cells = [f"{ms(r.handoffs[h][0])} / {ms(r.handoffs[h][1])}" for h in handoffs]
        lines.append(f"| {r.offered} | " + " | ".join(cells) + " |")
    lines += ["", *mix.section(data.get("mix"))]
    intake, health = data["intake"], data["health"]
    lines += [
        f"## HTTP against bare baselines (closed loop, {CONCURRENCY} connections, "
        f"{profile.compare_s:g} s each)",
        "",
        "| route | platform (req/s) | bare baseline (req/s) | ratio |",
        "|---|---|---|---|",
        f"| `GET /health/live` (order intake vs a bare FastAPI route) | {health['ours']:,.0f} | "
        f"{health['bare']:,.0f} | {health['ratio']:.2f} |",
        f"| `POST /v1/orders` (intake, other services frozen, vs bare FastAPI + asyncpg order "
        f"row + outbox row) | {intake['ours']:,.0f} | {intake['bare']:,.0f} | "
        f"{intake['ratio']:.2f} |",
        *(
            f"| the same, orders of {len(mix.KINDS)} departments in turn (each its own budget "
            f"row) | {spread['ours']:,.0f} | {spread['bare']:,.0f} | {spread['ratio']:.2f} |"
            for spread in [data.get("intake_spread")]
            if spread
        ),
        "",
        f"## Kafka paths against raw aiokafka ({kit.messages} messages of ~{kit.size:.0f} bytes "
        f"for publish, {kit.consume_messages} for consume, {kit.rounds} rounds, median)",
        "",
        "| path | raw aiokafka baseline (msg/s) | platform (msg/s) | ratio |",
        "|---|---|---|---|",
        f"| publish: outbox relay / raw produce with the same acks (`all`, "
        f"{run_bench.RELAY_BATCH} a batch, each batch's confirmations awaited) | "
        f"{kit.raw_produce_acked.median:,.0f} | {kit.relay.median:,.0f} | "
        f"{kit.relay.median / kit.raw_produce_acked.median:.2f} |",
        f"| consume, exactly-once effect: kit consumer / raw, a transaction per record | "
        f"{kit.raw_exactly_once.median:,.0f} | {kit.kit_consumer.median:,.0f} | "
        f"{kit.kit_consumer.median / kit.raw_exactly_once.median:.2f} |",
        f"| consume, exactly-once effect: kit consumer / raw, a transaction per batch | "
        f"{kit.raw_batched.median:,.0f} | {kit.kit_consumer.median:,.0f} | "
        f"{kit.kit_consumer.median / kit.raw_batched.median:.2f} |",
        f"| ceiling: raw produce, streaming (default acks, no wait) | "
        f"{kit.raw_produce.median:,.0f} | | |",
        f"| ceiling: raw consume (`getmany`) | {kit.raw_consume.median:,.0f} | | |",
        "",
        *services_section(data.get("services", [])),
        *profile_section(data.get("profiles", {})),
        *broker_wait.section(data.get("broker_wait", {})),
        *cpu_section(
            results, data.get("idle_cpu", {}), simulated_workers(data.get("profiles", {}))
        ),
        "## Peak resident memory (psutil, sampled every 0.2 s)",
        "",
        "| process | peak during the ramp (MB) | peak over the whole run (MB) |",
        "|---|---|---|",
    ]
    for name, peak in data["rss"].items():
        ramp = data["rss_ramp"].get(name)
        lines.append(f"| {name} | {ramp / 1e6 if ramp else 0:.0f} | {peak / 1e6:.0f} |")
    return "\n".join(lines) + "\n"


def plot(results: list[RateResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5))
    rates = [r.offered for r in results]

    def series(values: list[float | None]) -> list[float]:
        return [v * 1000 if v is not None else float("nan") for v in values]

    ax.plot(rates, series([r.e2e_p50 for r in results]), "o-", label="placed → invoiced p50")
    ax.plot(rates, series([r.e2e_p99 for r in results]), "s-", label="placed → invoiced p99")
    ax.plot(rates, series([r.http_p99 for r in results]), "^--", label="POST /v1/orders p99")
    ax.axhline(1000, color="grey", linestyle=":", linewidth=1, label="1 s")
    ax.axhline(300, color="grey", linestyle="-.", linewidth=1, label="300 ms")
    sat = saturation(results)
    if sat is not None:
        ax.axvline(sat.offered, color="red", linestyle=":", label=f"saturation {sat.offered}/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(rates)
    ax.set_xticklabels([str(r) for r in rates])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("offered load (orders/s, open loop)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency versus rate (whole system, 2 shared cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="2 rates x 3 s, tiny kit runs")
    parser.add_argument("--out", type=Path, default=HERE, help="where report.md and the PNG go")
    parser.add_argument("--rates", help="comma-separated orders/s to ramp through instead")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every service (an A/B run, e.g. KAFKA_FETCH_MAX_WAIT_MS=50)",
    )
    args = parser.parse_args(argv)
    profile = SHORT if args.short else FULL
    if args.rates:
        profile = replace(profile, rates=[int(r) for r in args.rates.split(",")])
    overrides = dict(item.split("=", 1) for item in args.env)
    (args.out / "profiles").mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="system-bench-"))
    base = free_port_block(4)
    config = StackConfig(
        data_dir=workdir,
        kafka_port=free_port(),
        postgres_port=free_port(),
        http_port_base=base,
        autopilot=True,
        fresh_database=True,
        partitions=BENCH_PARTITIONS,
        extra_env={
            "FULFILMENT_AUTOPILOT": "true",
            "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0",
            "FULFILMENT_AUTOPILOT_START_DELAY_S": "0",
            "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0",
            "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0",
            "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": "0",
            # the realistic mix's rejections and late cancellations, at suppliers the ramp
            # never orders from
            "FULFILMENT_AUTOPILOT_DEPARTMENTS": mix.autopilot_env(),
            "DEVSTACK_DEMAND_INTERVAL_S": "0",
            # one key places every order: the per-key rate limit would cap the ramp
            "RATE_LIMIT_PER_SECOND": "0",
            **overrides,
        },
    )
    stack = Stack(config)
    rss = RssSampler()
    bare: subprocess.Popen[bytes] | None = None
    print(f"starting the stack (data in {workdir}) ...", flush=True)
    try:
        stack.start()
        for name, service in stack.services.items():
            assert service.process is not None
            rss.watch(name, service.process.pid)
        bare, bare_url = start_bare_app(stack.database_url, workdir / "logs" / "bare_app.log")
        rss.watch("bare baseline app", bare.pid)
        rss.start()
        cpu = CpuMeter()
        for name, service in stack.services.items():
            assert service.process is not None
            cpu.watch(name, service.process.pid)
        for name, part in (("PostgreSQL", stack.postgres), ("Tansu", stack.tansu)):
            if part is not None and part.process is not None:
                cpu.watch(name, part.process.pid)
        # itself only: the stack's processes are its children
        cpu.watch("load generator + event reader", os.getpid(), children=False)
        data = asyncio.run(
            system_phase(stack, profile, rss, bare_url, cpu, profiles_dir=args.out / "profiles")
        )
        rss.stop()
        data["rss"] = dict(rss.peak)
        print("stopping the services; kit paths vs raw aiokafka on the same broker", flush=True)
        for service in reversed(list(stack.services.values())):
            service.stop()
        bare.terminate()
        bare.wait(timeout=10)
        data["kit"] = asyncio.run(
            run_bench.measure_kit(
                stack.bootstrap_servers,
                stack.database_url,
                messages=profile.kit_messages,
                rounds=profile.kit_rounds,
            )
        )
        print("does the broker answer a waiting fetch when a record arrives?", flush=True)
        data["broker_wait"] = asyncio.run(
            broker_wait.measure(
                stack.bootstrap_servers, waits=broker_wait.SHORT_WAITS_MS if args.short else None
            )
        )
        print(
            "each service's consume path with its real handlers vs a raw batched loop", flush=True
        )
        data["services"] = asyncio.run(
            service_consume.measure_services(stack.bootstrap_servers, stack.database_url)
        )
    finally:
        if rss.is_alive():
            rss.stop()
        if bare is not None and bare.poll() is None:
            bare.kill()
            bare.wait()
        stack.stop()
    workers = simulated_workers(data.get("profiles", {}))
    results = {
        "rates": [{k: v for k, v in asdict(r).items() if k != "e2e_all"} for r in data["rates"]],
        "health": data["health"],
        "intake": data["intake"],
        "intake_spread": data.get("intake_spread"),
        "rss_peak_bytes": data["rss"],
        "kit": {
            name: statistics.median(getattr(data["kit"], name).rates)
            for name in (
                "raw_produce",
                "raw_produce_acked",
                "relay",
                "raw_consume",
                "raw_exactly_once",
                "raw_batched",
                "kit_consumer",
            )
        },
        "services": [asdict(sc) for sc in data.get("services", [])],
        "mix": mix.summary(data.get("mix")),
        "simulated_workers": asdict(workers) if workers else None,
        "broker_wait_ms": data.get("broker_wait", {}),
        "profiles": {
            name: {c: summary.share(summary.categories, c) for c in summary.categories}
            for name, summary in data.get("profiles", {}).get("services", {}).items()
        },
    }
    text = report(data, profile, args.short, time.monotonic() - began)
    if not args.short:
        text += "\n" + "\n".join(before_after.section(results))
    (args.out / "report.md").write_text(text, encoding="utf-8")
    plot(data["rates"], args.out / "latency-vs-rate.png")
    (args.out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print()
    print(text)
    print(f"written to {args.out / 'report.md'} and {args.out / 'latency-vs-rate.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
