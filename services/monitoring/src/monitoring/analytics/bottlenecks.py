"""Bottlenecks (pure): which requester → supplier pairs and which stages add the most waiting
to the end-to-end lead time of root orders.

Each root order counts along its critical path (`time_split.chain_segments`): a sub-order
that arrived before its sibling adds nothing, so parallel sub-orders are never summed.
Waiting is every category but working: queueing before work starts, blocked time no
sub-order explains, time with the requester, paused time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from supplychain_contracts import Stage

from monitoring.analytics.time_split import NOT_WORKING, Category, Segment

EXAMPLES = 3


@dataclass(frozen=True)
class Example:
    """One root order where the bottleneck added waiting (the worst first)."""

    root_order_id: UUID
    order_ids: tuple[UUID, ...]  # the orders of the chain it waited in
    trace_id: str | None
    waiting_seconds: float


@dataclass
class Bottleneck:
    key: tuple[str, ...]  # (requester, supplier) or (stage,)
    seconds: dict[Category, float] = field(default_factory=lambda: dict.fromkeys(Category, 0.0))
    roots: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def waiting_seconds(self) -> float:
        return sum(v for k, v in self.seconds.items() if k in NOT_WORKING)

    @property
    def lead_time_seconds(self) -> float:
        return sum(self.seconds.values())


@dataclass(frozen=True)
class Ranking:
    root_orders: int
    lead_time_seconds: float
    pairs: list[Bottleneck]
    stages: list[Bottleneck]


def _rank(
    chains: Sequence[Sequence[Segment]],
    key_of: Callable[[Segment], tuple[str, ...]],
    examples: int,
) -> list[Bottleneck]:
    found: dict[Hashable, Bottleneck] = {}
    for chain in chains:
        per_key: dict[tuple[str, ...], list[Segment]] = {}
        for piece in chain:
            per_key.setdefault(key_of(piece), []).append(piece)
        for key, pieces in per_key.items():
            item = found.setdefault(key, Bottleneck(key=key))
            item.roots += 1
            for piece in pieces:
                item.seconds[piece.category] += piece.seconds
            waited = sum(p.seconds for p in pieces if p.category in NOT_WORKING)
            if waited > 0:
                item.examples.append(
                    Example(
                        root_order_id=pieces[0].root_order_id,
                        order_ids=tuple(dict.fromkeys(p.order_id for p in pieces)),
                        trace_id=next((p.trace_id for p in pieces if p.trace_id), None),
                        waiting_seconds=waited,
                    )
                )
    ranked = sorted(found.values(), key=lambda b: (-b.waiting_seconds, b.key))
    for item in ranked:
        item.examples.sort(key=lambda e: (-e.waiting_seconds, str(e.root_order_id)))
        del item.examples[examples:]
    return ranked


def pair_of(piece: Segment) -> tuple[str, str]:
    return (piece.requester, piece.supplier)


def stage_of(piece: Segment) -> tuple[str]:
    return (Stage(piece.stage).value,)


def rank(chains: Iterable[Sequence[Segment]], *, examples: int = EXAMPLES) -> Ranking:
    """Rank pairs and stages by the waiting they add on the critical paths of `chains` (one
    sequence of segments per root order, placement until delivery)."""
    listed = [list(chain) for chain in chains if chain]
    return Ranking(
        root_orders=len(listed),
        lead_time_seconds=sum(p.seconds for chain in listed for p in chain),
        pairs=_rank(listed, pair_of, examples),
        stages=_rank(listed, stage_of, examples),
    )
