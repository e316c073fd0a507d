"""Number formatting: the strings a reader sees, written out by hand."""

from __future__ import annotations

import math

import pytest

from quant_assets.reports import formatting as f


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (1234.5, "money", "$1,234.50"),
        (-1234.5, "money", "-$1,234.50"),
        (0.0, "money", "$0.00"),
        (1234.5, "pnl", "+$1,234.50"),
        (-0.004, "pnl", "-$0.00"),
        (0.0123, "pct", "1.23%"),
        (-0.0306, "pct", "-3.06%"),
        (0.0042, "pct_chg", "+0.42%"),
        (-0.000679, "pct_chg", "-0.07%"),
        (0.00125, "bps", "12.5 bp"),
        (-0.0003, "bps", "-3.0 bp"),
        (534.0, "price", "534.00"),
        (95750.75, "price", "95,750.75"),
        (0.5123, "price", "0.5123"),
        (0.00001234, "price", "0.00001234"),
        (120.0, "qty", "120"),
        (-1800.0, "qty", "-1,800"),
        (1.23456789, "qty", "1.23456789"),
        (0.35, "qty", "0.35"),
        (1.125, "ratio", "1.12"),  # round-half-even on the binary value
        (312.0, "int", "312"),
        (254.5, "number", "254.5"),
        (180.0, "number", "180"),
        (None, "money", "—"),
        (math.nan, "pct", "—"),
        (math.inf, "ratio", "∞"),
    ],
)
def test_formats(value, kind, expected):
    assert f.fmt(value, kind) == expected


def test_other_currencies():
    assert f.money(1500.0, "EUR") == "€1,500.00"
    assert f.money(-1500.0, "CHF") == "-1,500.00 CHF"
    assert f.pnl(20.0, "GBP") == "+£20.00"


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown number kind"):
        f.fmt(1.0, "furlongs")
