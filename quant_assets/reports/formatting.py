"""Number formatting for the reports: one function per kind, shared by HTML and text.

Conventions: fractions in, percent out (0.0123 -> "1.23%", 0.00125 -> "12.5 bp");
money in the report currency with thousands separators; signed kinds ("pnl", "pct_chg")
show a "+" for gains so a column of PnL reads at a glance; a missing value (None, NaN)
is an em dash, never "nan"; infinities (a profit factor without losses) are "∞".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

NumKind = Literal["money", "pnl", "price", "qty", "pct", "pct_chg", "bps", "ratio", "int", "number"]
MISSING = "—"
NA = "n/a"  # a number that cannot be computed, printed with its reason beside it
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def _special(value: float | None) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return None


def _sign(value: float, signed: bool) -> str:
    if value < 0:
        return "-"
    return "+" if signed and value > 0 else ""


def money(value: float | None, currency: str = "USD", *, signed: bool = False) -> str:
    """$1,234.56 / -$1,234.56 (+$1,234.56 when signed); other codes: 1,234.56 CHF."""
    if (s := _special(value)) is not None:
        return s
    sign, body = _sign(value, signed), f"{abs(value):,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {currency}"


def pnl(value: float | None, currency: str = "USD") -> str:
    """Money with an explicit sign: +$1,234.56."""
    return money(value, currency, signed=True)


def price(value: float | None) -> str:
    """Two decimals from 1 up; below 1 enough decimals to keep four significant digits."""
    if (s := _special(value)) is not None:
        return s
    a = abs(value)
    decimals = 2 if a >= 1 or a == 0 else min(10, 3 - math.floor(math.log10(a)))
    return f"{value:,.{decimals}f}"


def qty(value: float | None) -> str:
    """Whole units without decimals; fractional (crypto) units up to 8 decimals."""
    if (s := _special(value)) is not None:
        return s
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.8f}".rstrip("0").rstrip(".")


def pct(value: float | None, decimals: int = 2, *, signed: bool = False) -> str:
    """A fraction as percent: 0.0123 -> 1.23%."""
    if (s := _special(value)) is not None:
        return s
    return f"{_sign(value, signed)}{abs(value) * 100:,.{decimals}f}%"


def pct_chg(value: float | None, decimals: int = 2) -> str:
    """A signed fractional change: +1.23% / -0.40%."""
    return pct(value, decimals, signed=True)


def bps(value: float | None, decimals: int = 1) -> str:
    """A fraction as basis points: 0.00125 -> 12.5 bp."""
    if (s := _special(value)) is not None:
        return s
    return f"{value * 1e4:,.{decimals}f} bp"


def ratio(value: float | None, decimals: int = 2) -> str:
    if (s := _special(value)) is not None:
        return s
    return f"{value:,.{decimals}f}"


def integer(value: float | None) -> str:
    if (s := _special(value)) is not None:
        return s
    return f"{value:,.0f}"


def number(value: float | None) -> str:
    """A plain figure (consensus 3.2, 180): up to 4 decimals, trailing zeros dropped."""
    if (s := _special(value)) is not None:
        return s
    text = f"{value:,.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_BY_KIND: dict[str, Callable[[float | None], str]] = {
    "price": price,
    "qty": qty,
    "pct": pct,
    "pct_chg": pct_chg,
    "bps": bps,
    "ratio": ratio,
    "int": integer,
    "number": number,
}


def fmt(value: float | None, kind: str = "number", currency: str = "USD") -> str:
    """Format `value` as `kind` (one of NumKind)."""
    if kind == "money":
        return money(value, currency)
    if kind == "pnl":
        return pnl(value, currency)
    try:
        return _BY_KIND[kind](value)
    except KeyError:
        raise ValueError(f"unknown number kind {kind!r}") from None
