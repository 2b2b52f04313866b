"""Exchange rates (contract, pure): which rate is valid on a day, the inverse derived.

Rates are reference data owned by order intake (`FxRateDefined`): `1 base = rate quote`,
valid from a day until the next rate of the same pair. A pair with no rate valid on the day
has no rate: callers refuse what needs one, they never guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from supplychain_contracts.company import FxRate

# Decimals an exchange rate keeps (derived inverses are rounded to this).
RATE_DECIMALS = 10
_RATE_QUANTUM = Decimal(1).scaleb(-RATE_DECIMALS)


def _latest(rates: Iterable[FxRate], base: str, quote: str, day: date) -> FxRate | None:
    valid = [r for r in rates if r.base == base and r.quote == quote and r.valid_from <= day]
    return max(valid, key=lambda r: r.valid_from, default=None)


def rate_on(rates: Iterable[FxRate], base: str, quote: str, day: date) -> Decimal | None:
    """How much `quote` one `base` buys on `day`: 1 for the same currency, the pair's rate
    valid then, else the inverse of the reverse pair's (the later-defined of the two wins),
    else None."""
    if base == quote:
        return Decimal(1)
    rates = tuple(rates)
    direct = _latest(rates, base, quote, day)
    reverse = _latest(rates, quote, base, day)
    if direct is not None and (reverse is None or direct.valid_from >= reverse.valid_from):
        return direct.rate
    if reverse is not None:
        return (Decimal(1) / reverse.rate).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)
    return None
