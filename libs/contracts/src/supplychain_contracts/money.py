"""Money (contract): one rounding rule, half-up to the currency's minor unit, everywhere.

Amounts travel as decimal strings (pydantic serialises `Decimal` as a string in JSON). Every
computed amount (a price after a markup or a discount, a credit, a translation into another
currency) is rounded by `round_money` and by nothing else.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Final

# ISO 4217 currencies whose minor unit is not a hundredth; any other has two decimals.
_MINOR_UNITS: Final[dict[str, int]] = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
}
# Amounts in events and tables keep at most two decimals: three-decimal currencies are
# rounded to a hundredth (see `minor_unit`).
_MAX_DECIMALS: Final = 2
# Products are computed exactly, then rounded once: the default context keeps 28 digits and
# would round (half-even) an amount of 18 digits times a rate of 20 before `round_money` does.
_EXACT: Final = Context(prec=100)


def minor_unit(currency: str) -> int:
    """Decimals of the currency's minor unit as amounts carry them (0 for JPY, else 2)."""
    return min(_MINOR_UNITS.get(currency.upper(), 2), _MAX_DECIMALS)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: Decimal('0.01') for EUR, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str = "EUR") -> Decimal:
    """`amount` rounded half-up to the currency's minor unit (the one rounding rule)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=_EXACT)


def percent_of(amount: Decimal, pct: Decimal, currency: str = "EUR") -> Decimal:
    """`pct` % of `amount`, rounded (a discount, a service credit)."""
    return round_money(_EXACT.divide(_EXACT.multiply(amount, pct), Decimal(100)), currency)


def translate(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    """`amount` of one currency in another at `rate` (1 of the first = rate of `currency`),
    rounded to `currency`'s minor unit."""
    return round_money(_EXACT.multiply(amount, rate), currency)
