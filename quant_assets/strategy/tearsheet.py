"""QuantStats HTML tearsheets of strategy returns, written offline.

quantstats downloads a benchmark from Yahoo when it is given a ticker string, so only a
returns Series (or nothing) is accepted here; with a Series the report is computed and
written locally with no network access (checked by a test that blocks sockets).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from quant_assets.sim.metrics import PERIODS_PER_YEAR


def _daily(returns: pd.Series, what: str) -> pd.Series:
    if not isinstance(returns, pd.Series):
        raise TypeError(f"{what} must be a pandas Series of daily returns")
    r = returns.astype("float64")
    r.index = pd.DatetimeIndex(pd.to_datetime(r.index))
    return r


def write_tearsheet(
    returns: pd.Series,
    benchmark: pd.Series | None,
    path: str | Path,
    *,
    title: str = "Strategy tearsheet",
    periods_per_year: int = PERIODS_PER_YEAR,
    sample_data: bool = False,
) -> Path:
    """Write a quantstats HTML report of daily simple `returns` against `benchmark`.

    `benchmark` must be a Series of daily returns (a ticker would be downloaded) or None.
    `sample_data=True` marks the title so a report on generated data says so.
    """
    if benchmark is not None and not isinstance(benchmark, pd.Series):
        raise TypeError(
            "benchmark must be a Series of daily returns or None: quantstats would download "
            f"a {type(benchmark).__name__} benchmark from the internet"
        )
    import quantstats as qs  # heavy import (matplotlib, seaborn): only when writing

    r = _daily(returns, "returns").rename(returns.name or "Strategy")
    b = (
        None
        if benchmark is None
        else _daily(benchmark, "benchmark").rename(benchmark.name or "Benchmark")
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    full_title = f"{title} (SAMPLE DATA)" if sample_data else title
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qs.reports.html(
            r,
            benchmark=b,
            output=str(out),
            title=full_title,
            periods_per_year=periods_per_year,
            rf=0.0,
            strategy_title=str(r.name),
            benchmark_title=None if b is None else str(b.name),
        )
    return out
