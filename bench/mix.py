"""The realistic mix of `make bench`: the leaf order beside production chains, rejections,
cancellations and paused SLA clocks, with the operator console open, at a fixed modest rate.

Root orders leave on a fixed schedule (open loop) in a repeating sequence of kinds:

- the ramp's leaf order (ASSEMBLY orders WHEEL-28 from WHEELS);
- a production chain: RETAIL_OPS orders EBIKE-CITY from ASSEMBLY, which orders frame, wheels
  and drive, the frame its tubes, dropouts and paint (7 orders on three levels); the SLA
  clocks of ASSEMBLY's and FRAMES's orders pause while they wait on their sub-orders;
- an order LOGISTICS rejects half the time (its simulated worker's `reject_probability`);
- an order its requester cancels after a random wait while FACILITIES's simulated worker takes
  a second to accept and a second to ship: early cancellations settle as cancelled, late ones
  are refused (409 from intake once shipped, or CancellationRefused from fulfilment) and the
  order goes on to its invoice.

Meanwhile a reader does what the console's page does (`console.js`): it opens `/console`,
then every 2 s after the last answer fetches the overview fragment and the selected chain's
fragment together. The suppliers with overrides are ones the ramp never orders from, so the
ramp's figures stay those of the leaf order.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fasthttp import HttpError, Pool
from figures import ms, pct, per_second

CANCEL_AFTER_S = (0.0, 3.0)  # the requester's wait before it cancels, uniform
CONSOLE_INTERVAL_S = 2.0  # console.js INTERVAL_MS


@dataclass(frozen=True)
class Kind:
    name: str
    requester: str
    supplier: str
    sku: str
    cancelled_by_requester: bool = False

    @property
    def auth(self) -> dict[str, str]:
        # the development key `make run` accepts for a department (supplychain_kit.http.auth)
        return {"Authorization": f"Bearer dev-{self.requester.lower()}-1"}


LEAF = Kind("leaf order", "ASSEMBLY", "WHEELS", "WHEEL-28")
CHAIN = Kind("production chain", "RETAIL_OPS", "ASSEMBLY", "EBIKE-CITY")
REJECTED = Kind("rejected half the time", "FACILITIES", "LOGISTICS", "PALLET-MOVE")
CANCELLED = Kind("cancelled by its requester", "MARKETING", "FACILITIES", "WORKSHOP-CLEAN", True)
KINDS = (LEAF, CHAIN, REJECTED, CANCELLED)
# the roots in the order they leave, repeated: every kind within the first eight
SEQUENCE = (LEAF, CHAIN, LEAF, REJECTED, LEAF, CHAIN, LEAF, CANCELLED)
# who orders a chain's sub-orders (the bill of materials' builders): budgets raised as well
CHAIN_BUILDERS = ("ASSEMBLY", "FRAMES")
REQUESTERS = tuple(sorted({k.requester for k in KINDS} | set(CHAIN_BUILDERS)))
# FULFILMENT_AUTOPILOT_DEPARTMENTS for the stack: suppliers the ramp never orders from
AUTOPILOT_DEPARTMENTS: dict[str, dict[str, float]] = {
    REJECTED.supplier: {"reject_probability": 0.5},
    CANCELLED.supplier: {"accept_delay_s": 1.0, "ship_delay_s": 1.0},
}
ENDINGS = {
    "InvoiceIssued": "invoiced",
    "OrderRejected": "rejected",
    "WorkCancelled": "cancelled",
    "OrderBlocked": "blocked",
}


def autopilot_env() -> str:
    return json.dumps(AUTOPILOT_DEPARTMENTS)


@dataclass
class Root:
    kind: Kind
    order_id: str | None = None
    status: int | None = None
    cancel_status: int | None = None  # intake's answer: 202 asked, 409 too late


@dataclass
class KindOutcome:
    kind: str
    route: str  # "REQUESTER → SUPPLIER (SKU)"
    sent: int
    placed: int
    endings: Counter[str]
    cancel_asked: int
    cancel_refused: int  # 409 from intake, or CancellationRefused
    e2e_p50: float | None
    e2e_p99: float | None


@dataclass
class MixResult:
    rate: float  # root orders/s offered
    seconds: float
    wall_s: float
    kinds: list[KindOutcome]
    chains_per_s: float  # chain roots invoiced per second over the span of their invoices
    chain_rate: float  # chain roots offered per second
    orders_paused: int  # orders whose SLA clock paused (SlaPaused) during the phase
    console_reads: list[float] = field(default_factory=list)  # seconds per page refresh
    console_errors: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    roots: int = 0  # root orders placed

    @property
    def console_p50(self) -> float | None:
        return pct(self.console_reads, 50)

    @property
    def console_p99(self) -> float | None:
        return pct(self.console_reads, 99)


# --- the load --------------------------------------------------------------------------------


async def place_root(pool: Pool, root: Root, rng: random.Random) -> None:
    kind = root.kind
    body = {
        "requester": kind.requester,
        "supplier": kind.supplier,
        "lines": [{"sku": kind.sku, "quantity": 1}],
    }
    try:
        root.status, answer = await pool.request(
            "POST",
            "/v1/orders",
            json_body=body,
            headers={"Idempotency-Key": f"mix-{uuid.uuid4()}", **kind.auth},
        )
    except HttpError:
        root.status = 0
        return
    if root.status not in (200, 201):
        return
    root.order_id = json.loads(answer)["order_id"]
    if kind.cancelled_by_requester:
        await asyncio.sleep(rng.uniform(*CANCEL_AFTER_S))
        try:
            root.cancel_status, _ = await pool.request(
                "POST",
                f"/v1/orders/{root.order_id}/cancel",
                json_body={"reason": "plan changed"},
                headers=kind.auth,
            )
        except HttpError:
            root.cancel_status = 0


CHAIN_ROOT = re.compile(r'data-root-order-id="([0-9a-f-]{36})"')
CHAIN_ROW = re.compile(r'<section id="chains".*?data-order-id="([0-9a-f-]{36})"', re.S)


async def read_console(pool: Pool, stop: asyncio.Event, reads: list[float]) -> int:
    """The console's page open until `stop`: the page, then every CONSOLE_INTERVAL_S after the
    last answer its overview and the selected chain fetched together (console.js); the time
    of each read goes to `reads`. Returns the reads that failed."""
    errors = 0

    async def get(path: str) -> str:
        status, body = await pool.request("GET", path)
        if status != 200:
            raise HttpError(f"{path}: {status}")
        return str(body.decode())

    selected: str | None = None
    started = time.perf_counter()
    try:
        page = await get("/console")
        found = CHAIN_ROOT.search(page)
        selected = found[1] if found else None
        reads.append(time.perf_counter() - started)
    except HttpError:
        errors += 1
    while True:
        try:
            await asyncio.wait_for(stop.wait(), CONSOLE_INTERVAL_S)
            return errors
        except TimeoutError:
            pass
        started = time.perf_counter()
        try:
            jobs = [get("/console/fragments/overview")]
            if selected:
                jobs.append(get(f"/console/fragments/chains/{selected}"))
            overview = (await asyncio.gather(*jobs))[0]
            if not selected and (row := CHAIN_ROW.search(overview)):
                selected = row[1]  # the first chain seen since the page opened empty
                await get(f"/console/fragments/chains/{selected}")
            reads.append(time.perf_counter() - started)
        except HttpError:
            errors += 1


def ended(events: dict[str, Any]) -> str | None:
    return next((ending for event, ending in ENDINGS.items() if event in events), None)


async def run_mix(
    intake: Pool,
    console: Pool,
    seen: dict[str, dict[str, tuple[float, float]]],
    *,
    rate: float,
    seconds: float,
    drain_s: float,
    cpu: Any = None,
) -> MixResult:
    """The mix at `rate` root orders/s for `seconds`, then until every root ended (at most
    `drain_s`); `seen` is the event reader's order id → event type → (occurred_at, record
    timestamp); `cpu` the bench's CpuMeter."""
    rng = random.Random(7)
    n = max(len(SEQUENCE), round(rate * seconds))
    roots = [Root(SEQUENCE[i % len(SEQUENCE)]) for i in range(n)]
    stop, reads = asyncio.Event(), list[float]()
    reader = asyncio.create_task(read_console(console, stop, reads))
    cpu_before, wall_before = (cpu.snapshot() if cpu else {}), time.perf_counter()
    began = time.time()
    tasks: list[asyncio.Task[None]] = []
    for i, root in enumerate(roots):
        delay = wall_before + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(place_root(intake, root, rng)))
    deadline = time.monotonic() + drain_s
    await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
    placed = [r for r in roots if r.order_id]
    while time.monotonic() < deadline and not all(  # noqa: ASYNC110
        ended(seen.get(r.order_id or "", {})) for r in placed
    ):
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    stop.set()
    errors = await reader
    wall_s = time.perf_counter() - wall_before
    cpu_s = cpu.delta(cpu.snapshot(), cpu_before) if cpu else {}
    chain_invoices = [
        events["InvoiceIssued"][1]
        for events in (seen.get(r.order_id or "", {}) for r in placed if r.kind is CHAIN)
        if "InvoiceIssued" in events
    ]
    chains_sent = sum(1 for r in roots if r.kind is CHAIN)
    chain_rate = rate * chains_sent / n
    chains_per_s = per_second(chain_invoices)
    if len(chain_invoices) == chains_sent:  # all done: a burst of invoices is no faster rate
        chains_per_s = min(chains_per_s, chain_rate)
    return MixResult(
        rate=rate,
        seconds=seconds,
        wall_s=wall_s,
        kinds=[outcome(kind, roots, seen) for kind in KINDS],
        chains_per_s=chains_per_s,
        chain_rate=chain_rate,
        orders_paused=sum(
            1 for events in seen.values() if events.get("SlaPaused", (0.0,))[0] >= began
        ),
        console_reads=reads,
        console_errors=errors,
        cpu_s=cpu_s,
        roots=len(placed),
    )


def outcome(kind: Kind, roots: list[Root], seen: dict[str, dict[str, Any]]) -> KindOutcome:
    mine = [r for r in roots if r.kind is kind]
    placed = [r for r in mine if r.order_id]
    endings: Counter[str] = Counter()
    e2e = []
    for root in placed:
        events = seen.get(root.order_id or "", {})
        endings[ended(events) or "unfinished"] += 1
        if "OrderPlaced" in events and "InvoiceIssued" in events:
            e2e.append(events["InvoiceIssued"][1] - events["OrderPlaced"][0])
    refused = sum(
        1
        for r in placed
        if r.cancel_status == 409 or "CancellationRefused" in seen.get(r.order_id or "", {})
    )
    return KindOutcome(
        kind=kind.name,
        route=f"{kind.requester} → {kind.supplier} ({kind.sku})",
        sent=len(mine),
        placed=len(placed),
        endings=endings,
        cancel_asked=sum(1 for r in placed if r.cancel_status is not None),
        cancel_refused=refused,
        e2e_p50=pct(e2e, 50),
        e2e_p99=pct(e2e, 99),
    )


# --- the report ------------------------------------------------------------------------------


def busy(mix: MixResult) -> float:
    """The share of the machine's cores the measured processes used during the phase."""
    cores = os.cpu_count() or 1
    return sum(mix.cpu_s.values()) / (cores * mix.wall_s) if mix.wall_s else 0.0


def progress(mix: MixResult) -> str:
    """One line for the bench's log."""
    kinds = "; ".join(
        f"{k.kind}: {k.placed} placed, "
        + ", ".join(f"{n} {e}" for e, n in sorted(k.endings.items()))
        for k in mix.kinds
    )
    return (
        f"  {kinds}; {mix.chains_per_s:.2f} chains/s; console p99 {ms(mix.console_p99)} ms; "
        f"machine {100 * busy(mix):.0f} % busy"
    )


def section(mix: MixResult | None) -> list[str]:
    if mix is None:
        return []
    cores = os.cpu_count() or 1
    lines = [
        "## Realistic mix",
        "",
        f"{mix.rate:g} root orders/s for {mix.seconds:g} s (open loop; {mix.chain_rate:.2f} "
        "production chains/s, each 7 orders), then until every root order ended, with the "
        "operator console open (its page's reads every "
        f"{CONSOLE_INTERVAL_S:g} s). Simulated workers of the mix's suppliers "
        "(`FULFILMENT_AUTOPILOT_DEPARTMENTS`): "
        + "; ".join(
            f"{code} {', '.join(f'`{k}` {v:g}' for k, v in over.items())}"
            for code, over in AUTOPILOT_DEPARTMENTS.items()
        )
        + f". Cancellations are asked {CANCEL_AFTER_S[0]:g} to {CANCEL_AFTER_S[1]:g} s after "
        "placement. Every root ends invoiced, rejected, cancelled or blocked (else it is "
        "unfinished); a refused cancellation (409 from intake once shipped, or "
        "CancellationRefused) is counted as well, and its order goes on to its invoice.",
        "",
        "| root order | requester → supplier | sent | placed | invoiced | rejected | cancelled "
        "| cancellation refused | unfinished | placed → invoiced p50 / p99 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in mix.kinds:
        unfinished = k.endings["unfinished"] + k.endings["blocked"]
        refused = f"{k.cancel_refused} of {k.cancel_asked}" if k.cancel_asked else "—"
        lines.append(
            f"| {k.kind} | {k.route} | {k.sent} | {k.placed} | {k.endings['invoiced']} | "
            f"{k.endings['rejected']} | {k.endings['cancelled']} | {refused} | {unfinished} | "
            f"{ms(k.e2e_p50)} / {ms(k.e2e_p99)} |"
        )
    total = sum(mix.cpu_s.values())
    names = list(mix.cpu_s)
    lines += [
        "",
        f"- production chains invoiced: **{mix.chains_per_s:.2f} chains/s** (over the span of "
        f"their invoices; {mix.chain_rate:.2f}/s offered); orders whose SLA clock paused on "
        f"their sub-orders: {mix.orders_paused}",
        f"- console reads (the page, then each refresh of its fragments): "
        f"{len(mix.console_reads)}, p50 {ms(mix.console_p50)} ms, p99 "
        f"{ms(mix.console_p99)} ms, {mix.console_errors} failed",
        f"- the machine was **{100 * busy(mix):.0f} % busy** ({cores} cores) over the "
        f"{mix.wall_s:.0f} s of the phase",
        "",
    ]
    if mix.roots and names:
        lines += [
            "CPU ms per root order placed (a chain's sub-orders included in its root's):",
            "",
            "| " + " | ".join(names) + " | total |",
            "|" + "---|" * (len(names) + 1),
            "| "
            + " | ".join(f"{1000 * mix.cpu_s[n] / mix.roots:.1f}" for n in names)
            + f" | {1000 * total / mix.roots:.1f} ms |",
            "",
        ]
    return lines


def summary(mix: MixResult | None) -> dict[str, Any] | None:
    """The mix's figures for results.json."""
    if mix is None:
        return None
    return {
        "rate": mix.rate,
        "seconds": mix.seconds,
        "wall_s": mix.wall_s,
        "chains_per_s": mix.chains_per_s,
        "chain_rate": mix.chain_rate,
        "orders_paused": mix.orders_paused,
        "console_p50": mix.console_p50,
        "console_p99": mix.console_p99,
        "console_reads": len(mix.console_reads),
        "console_errors": mix.console_errors,
        "roots": mix.roots,
        "cpu_s": mix.cpu_s,
        "kinds": [
            {
                "kind": k.kind,
                "route": k.route,
                "sent": k.sent,
                "placed": k.placed,
                "endings": dict(k.endings),
                "cancel_asked": k.cancel_asked,
                "cancel_refused": k.cancel_refused,
                "e2e_p50": k.e2e_p50,
                "e2e_p99": k.e2e_p99,
            }
            for k in mix.kinds
        ],
    }
