"""One price scale per column name: `tr_` columns are on the total-return scale, others not.

Data: this package's synthetic raw warehouse built by dbt (`duckdb_build`), where AAA has
a 4-for-1 split on 2020-08-31 and a cash dividend on 2020-11-06, so the three scales
differ: the bars as traded (a 75% fall at the split), the split-adjusted bars a chart
draws (continuous at the split, not at the dividend) and the total-return bars (both
continuous). `derived.technical_indicators` is filled by the same `load_indicators` the
Dagster asset runs.

Each indicator column is recomputed with TA-Lib from the split-adjusted bars (the price
scale of charts) and from the total-return bars (`rescale_to_total_return`). A value
"matches" a recomputation when |a - b| <= 1e-9 * max(1, |b|) on every row and the nulls
agree (TA-Lib is deterministic; only the float64 rescaling differs); "differs" when some
row is off by more than 1e-6 relative. Every column must match one scale and differ from
the other (the split multiplies earlier volumes by 4, the dividend moves the
total-return bars, so the data separates the two), and it starts with `tr_` exactly when
it matches the total-return scale.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from quant_assets.ingest import load_indicators
from quant_assets.schemas.tables import TOTAL_RETURN_PREFIX, get_table
from quant_assets.strategy.indicators import (
    indicator_arrays,
    price_scale_indicators,
    rescale_to_total_return,
    split_adjust,
)
from quant_assets.warehouse import connect
from quant_assets.warehouse.derived_reads import total_return_bars

SYMBOL = "AAA"
MATCH, DIFFER = 1e-9, 1e-6


@pytest.fixture(scope="module")
def scales(duckdb_build, kit, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """AAA's stored indicators, its bars on three scales, and its mart row of features."""
    path = tmp_path_factory.mktemp("indicator_scales") / "warehouse.duckdb"
    shutil.copy(duckdb_build, path)  # the shared build stays untouched
    wh = connect(f"duckdb:///{path}")
    try:
        wh.migrate()  # adds the tables dbt does not build (technical_indicators, ...)
        load_indicators(wh, kit.START, kit.END)
        stored = wh.query(
            "select * from derived.technical_indicators where symbol = ? order by date", [SYMBOL]
        )
        bars = total_return_bars(wh, kit.START, kit.END)
        mart = wh.query(
            "select * from derived.fct_features_daily where symbol = ? order by date", [SYMBOL]
        )
    finally:
        wh.close()
    bars = bars[bars["symbol"] == SYMBOL].sort_values("date").reset_index(drop=True)
    split_date, ratio = kit.SPLIT[1], kit.SPLIT[2]
    splits = pd.DataFrame({"date": [pd.Timestamp(split_date)], "ratio": [ratio]})
    assert len(stored) == len(bars) == len(mart) > 300
    return {"stored": stored, "bars": bars, "splits": splits, "mart": mart}


def _recompute(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    return indicator_arrays(*(bars[c].to_numpy(float) for c in ("high", "low", "close", "volume")))


def _scaled_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    both = ~np.isnan(a) & ~np.isnan(b)
    if not both.any() or not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    return float(np.max(np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))))


def test_every_total_return_column_has_the_prefix_and_no_other_does(scales) -> None:
    bars = scales["bars"]
    price = _recompute(split_adjust(bars, scales["splits"]))  # what charts draw
    total_return = _recompute(rescale_to_total_return(bars))
    table = get_table("derived.technical_indicators")
    columns = [c for c in table.column_names if c not in ("symbol", "date")]
    assert columns
    for column in columns:
        name = column.removeprefix(TOTAL_RETURN_PREFIX)
        stored = scales["stored"][column].to_numpy(dtype=float, na_value=np.nan)
        on_tr, on_price = (
            _scaled_error(stored, total_return[name]),
            _scaled_error(stored, price[name]),
        )
        # decisive: it matches exactly one scale and the data separates the two
        assert min(on_tr, on_price) <= MATCH < DIFFER < max(on_tr, on_price), (
            column,
            on_tr,
            on_price,
        )
        assert column.startswith(TOTAL_RETURN_PREFIX) == (on_tr <= MATCH), (column, on_tr, on_price)


def test_chart_indicators_are_the_price_scale_under_plain_names(scales) -> None:
    adjusted = split_adjust(scales["bars"], scales["splits"])
    chart = price_scale_indicators(adjusted)
    tr = _recompute(rescale_to_total_return(scales["bars"]))
    names = [c for c in chart.columns if c != "date"]
    assert names and not [c for c in names if c.startswith(TOTAL_RETURN_PREFIX)]
    for name in names:  # computed on the displayed bars, and not the total-return values
        assert _scaled_error(chart[name], _recompute(adjusted)[name]) <= MATCH, name
        assert _scaled_error(chart[name], tr[name]) > DIFFER, name


def test_the_marts_smas_are_in_price_units_of_their_date(scales) -> None:
    """fct_features_daily.sma_n = SMA of tr_index x close / tr_index (the price scale):
    unprefixed, and not equal to the stored tr_sma_n."""
    mart, stored = scales["mart"], scales["stored"]
    tr = mart["tr_index"].to_numpy(float)
    close = mart["close"].to_numpy(float)
    for n in (20, 50):
        sma_tr = pd.Series(tr).rolling(n, min_periods=n).mean().to_numpy()
        price_units = sma_tr * close / tr
        got = mart[f"sma_{n}"].to_numpy(dtype=float, na_value=np.nan)
        assert _scaled_error(got, price_units) <= 1e-9, n
        stored_tr = stored[f"tr_sma_{n}"].to_numpy(dtype=float, na_value=np.nan)
        assert _scaled_error(got, stored_tr) > DIFFER, n
    assert not [c for c in mart.columns if c.startswith(TOTAL_RETURN_PREFIX) and c != "tr_index"]
