"""The live view of a chain: the tree of its orders and handoffs, refreshed until it ends.

Three reads per refresh: the root order (order intake: its status), its work item
(fulfilment: blocked, and its direct sub-orders' states) and the handoffs of the whole chain
(monitoring: every stage of every order, with SLA target and deadline). A deeper order's
state is read from its stages: a department may not read the work items below its direct
sub-orders, but it reads their handoffs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from supplychain_cli.api import Api
from supplychain_cli.output import Exit, console, emit_json, seconds, short, when

STAGES = ("acceptance", "fulfilment", "delivery", "invoicing", "end_to_end")
STYLE = {"open": "cyan", "warning": "yellow", "breached": "bold red", "met": "green"}
ENDED_WELL = frozenset({"invoiced"})
ENDED_BADLY = frozenset({"rejected", "cancelled", "blocked"})


@dataclass(frozen=True)
class Snapshot:
    order: Mapping[str, Any]
    work: Mapping[str, Any] | None = None
    handoffs: Sequence[Mapping[str, Any]] = ()

    @property
    def status(self) -> str:
        """The root order's state: fulfilment's `blocked` wins over intake's status."""
        if self.work is not None and self.work.get("status") == "blocked":
            return "blocked"
        return str(self.order["status"])

    def as_json(self) -> dict[str, Any]:
        return {
            "order": dict(self.order),
            "work": dict(self.work) if self.work else None,
            "handoffs": [dict(h) for h in self.handoffs],
            "status": self.status,
        }


@dataclass(frozen=True)
class Outcome:
    code: Exit
    message: str
    snapshot: Snapshot | None = field(default=None)


# How the supplier settled a cancellation (the order's `cancellation.status`), for people.
CANCELLATION_SAID = {
    "requested": "[yellow]cancellation requested[/], the supplier has not settled it yet",
    "cancelled": "[bold red]cancelled[/]: the supplier stopped the work (WorkCancelled)",
    "refused": "[yellow]cancellation refused[/] by the supplier (CancellationRefused): "
    "the order goes on",
}


def cancellation_line(order: Mapping[str, Any]) -> str | None:
    """The order's cancellation as one line: requested, cancelled or refused, with the reason
    and when; None when none was asked for."""
    cancellation = order.get("cancellation")
    if not cancellation:
        return None
    status = str(cancellation.get("status"))
    line = CANCELLATION_SAID.get(status, f"cancellation {status}")
    settled = cancellation.get("settled_at") or cancellation.get("requested_at")
    if settled:
        line += f" ({when(settled)})"
    if cancellation.get("reason"):
        line += f": {cancellation['reason']}"
    return line


def ending(snapshot: Snapshot) -> Outcome | None:
    """How the watch ends with this snapshot, or None while the chain is under way."""
    status = snapshot.status
    if status in ENDED_WELL:
        return Outcome(
            Exit.OK, f"order {snapshot.order['order_id']} delivered and invoiced", snapshot
        )
    if status in ENDED_BADLY:
        message = f"order {snapshot.order['order_id']} {status}"
        cancellation = snapshot.order.get("cancellation") or {}
        if status == "cancelled" and cancellation.get("reason"):
            message += f": {cancellation['reason']}"
        return Outcome(Exit.ENDED_BADLY, message, snapshot)
    return None


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def stage_line(handoff: Mapping[str, Any], now: datetime) -> Text:
    """`fulfilment  met  2.1s of 2d00h` or `acceptance  open  12s of 4h00m  deadline in 3h59m`."""
    status = str(handoff["status"])
    line = Text(f"{handoff['stage']:<11} ")
    started = _time(handoff.get("started_at"))
    if started is None:
        line.append("waiting", style="dim")
        return line
    line.append(f"{status:<8}", style=STYLE.get(status, ""))
    ended = _time(handoff.get("ended_at"))
    elapsed = handoff.get("duration_s")
    if elapsed is None:
        elapsed = ((ended or now) - started).total_seconds()
    target = handoff.get("target_seconds")
    line.append(f" {seconds(elapsed)}")
    if target:
        line.append(f" of {seconds(target)} ({100 * elapsed / target:.0f}%)", style="dim")
    deadline = _time(handoff.get("deadline"))
    if ended is None and deadline is not None:
        left = (deadline - now).total_seconds()
        if left >= 0:
            line.append(f"  deadline in {seconds(left)}")
        else:
            line.append(f"  {seconds(left)} past deadline", style="bold red")
    return line


# The state an order's stages tell, by the last of its stages that ended: accepted when
# acceptance ended, shipped when fulfilment did, and so on.
STATE_AFTER_STAGE = {
    "acceptance": "accepted",
    "fulfilment": "shipped",
    "delivery": "delivered",
    "invoicing": "invoiced",
}


def state_from_stages(handoffs: Sequence[Mapping[str, Any]]) -> str | None:
    """An order's state as its stages tell it: the outcome it ended with (rejected, cancelled,
    blocked), else what its last ended stage means, else `placed` once acceptance began;
    None when no stage began."""
    for handoff in handoffs:
        if handoff.get("outcome"):
            return str(handoff["outcome"])
    ended = [h["stage"] for h in handoffs if h.get("ended_at") and h["stage"] in STATE_AFTER_STAGE]
    if ended:
        return STATE_AFTER_STAGE[max(ended, key=STAGES.index)]
    if any(h.get("started_at") for h in handoffs):
        return "placed"
    return None


def order_states(snapshot: Snapshot) -> dict[str, str]:
    """Each order's state: the root's (order intake), its direct sub-orders' (fulfilment),
    and every deeper order's as its stages tell it."""
    by_order: dict[str, list[Mapping[str, Any]]] = {}
    for handoff in snapshot.handoffs:
        by_order.setdefault(str(handoff["order_id"]), []).append(handoff)
    states = {
        oid: state for oid, stages in by_order.items() if (state := state_from_stages(stages))
    }
    for sub in (snapshot.work or {}).get("sub_orders") or ():
        states[str(sub["order_id"])] = str(sub["status"])
    states[str(snapshot.order["order_id"])] = snapshot.status
    return states


def chain_tree(snapshot: Snapshot, now: datetime | None = None) -> Tree:
    """The chain as a tree: orders under the order they supply, stages under each order."""
    now = now or datetime.now(UTC)
    order = snapshot.order
    root_id = str(order["order_id"])
    states = order_states(snapshot)
    by_order: dict[str, list[Mapping[str, Any]]] = {}
    parents: dict[str, str | None] = {}
    parties: dict[str, tuple[str, str]] = {root_id: (order["requester"], order["supplier"])}
    for handoff in snapshot.handoffs:
        oid = str(handoff["order_id"])
        by_order.setdefault(oid, []).append(handoff)
        parent = handoff.get("parent_order_id")
        parents[oid] = str(parent) if parent else None
        parties.setdefault(oid, (handoff["requester"], handoff["supplier"]))

    def label(oid: str) -> Text:
        requester, supplier = parties[oid]
        text = Text()
        text.append(f"{short(oid) if oid != root_id else oid}", style="bold")
        text.append(f"  {requester} -> {supplier}")
        state = states.get(oid)
        if state:
            style = "green" if state in ("delivered", "invoiced") else ""
            style = "bold red" if state in ENDED_BADLY else style
            text.append(f"  [{state}]", style=style)
        return text

    tree = Tree(label(root_id))
    nodes = {root_id: tree}
    cancellation = cancellation_line(order)
    if cancellation:
        tree.add(Text.from_markup(cancellation))

    def add(oid: str, node: Tree) -> None:
        stages = sorted(
            by_order.get(oid, ()),
            key=lambda h: STAGES.index(h["stage"]) if h["stage"] in STAGES else len(STAGES),
        )
        for handoff in stages:
            node.add(stage_line(handoff, now))
        for child in sorted(o for o, p in parents.items() if p == oid):
            nodes[child] = node.add(label(child))
            add(child, nodes[child])

    add(root_id, tree)
    if not snapshot.handoffs:
        tree.add(Text("no handoffs recorded yet", style="dim"))
    return tree


def snapshot_of(api: Api, order_id: str) -> Snapshot:
    order = api.get("order-intake", f"/v1/orders/{order_id}")
    work = api.get_or_none("fulfilment", f"/v1/fulfilments/{order_id}")
    handoffs = api.get_or_none("monitoring", f"/v1/orders/{order_id}/handoffs") or []
    return Snapshot(order=order, work=work, handoffs=handoffs)


def watch_chain(
    api: Api,
    order_id: str,
    *,
    timeout_s: float,
    interval_s: float,
    as_json: bool,
    quiet: bool = False,
) -> Outcome:
    """Refresh the tree until the chain ends or `timeout_s` passes (JSON: the last snapshot
    is printed, unless `quiet`: the caller prints its own)."""
    deadline = time.monotonic() + timeout_s
    snapshot = snapshot_of(api, order_id)
    outcome = None
    if as_json:
        while (outcome := ending(snapshot)) is None and time.monotonic() < deadline:
            time.sleep(interval_s)
            snapshot = snapshot_of(api, order_id)
    elif not console.is_terminal:  # a pipe or a log: the tree once, as it ends
        while (outcome := ending(snapshot)) is None and time.monotonic() < deadline:
            time.sleep(interval_s)
            snapshot = snapshot_of(api, order_id)
        console.print(chain_tree(snapshot))
    else:
        with Live(chain_tree(snapshot), console=console, auto_refresh=False) as view:
            while (outcome := ending(snapshot)) is None and time.monotonic() < deadline:
                time.sleep(interval_s)
                snapshot = snapshot_of(api, order_id)
                view.update(chain_tree(snapshot), refresh=True)
            view.update(chain_tree(snapshot), refresh=True)
    if outcome is None:
        outcome = Outcome(
            Exit.TIMEOUT, f"order {order_id} still {snapshot.status} after {timeout_s:g}s", snapshot
        )
    if as_json and not quiet:
        emit_json(
            {"outcome": outcome.message, "exit_code": int(outcome.code), **snapshot.as_json()}
        )
    return outcome
