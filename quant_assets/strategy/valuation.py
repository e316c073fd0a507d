"""What a strategy is worth: backtest, per-trade and risk-adjusted statistics, and their
uncertainty by Monte Carlo.

`value_strategy` turns a strategy into signals (`signals.generate_signals`), backtests
the target weights with `sim.historical.run_backtest` (next-open fills, the engine's
cost model) and reports the engine's own statistics (`sim.metrics.summary`: Sharpe,
Sortino, win rate, profit factor, expectancy = expected PnL per closed trade, ...).

One backtest is one draw of history, so the Monte Carlo part asks how different the
numbers could have been: a stationary block bootstrap (`sim.stochastic.StationaryBootstrap`,
mean block 10 days, which keeps volatility clusters) of the strategy's daily returns gives
`n_paths` alternative years, each scored with the same `sim.metrics` functions; the 5th,
50th and 95th percentiles of annual return, Sharpe and max drawdown are the intervals.

The backtest starts at the first bar with a non-zero target by default (`trim_warmup`),
so indicator warm-up does not dilute the statistics with flat days. Trades are per
symbol: a pair round trip counts as two trades, one per leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.sim import metrics
from quant_assets.sim.historical import BacktestConfig, BacktestResult, Prices, run_backtest
from quant_assets.sim.stochastic import StationaryBootstrap
from quant_assets.strategy.config import Strategy
from quant_assets.strategy.signals import as_prices, generate_signals, signals_to_weights

MC_METRICS = ("annual_return", "sharpe", "max_drawdown")
STAT_KEYS = (
    "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "max_drawdown", "calmar",
    "n_trades", "win_rate", "profit_factor", "expectancy", "exposure_time", "turnover",
)  # fmt: skip


@dataclass(frozen=True)
class Valuation:
    """Signals, backtest, headline statistics and Monte Carlo intervals of one strategy."""

    strategy: str
    signals: pd.DataFrame
    backtest: BacktestResult
    stats: pd.Series  # engine statistics + mean_trade_return
    monte_carlo: pd.DataFrame  # index MC_METRICS, columns p5, p50, p95 (+ realised)

    def summary(self) -> pd.Series:
        """One row for a comparison table of strategies."""
        row = self.stats.copy()
        for m in MC_METRICS:
            for c in self.monte_carlo.columns:
                if c != "realised":
                    row[f"mc_{m}_{c}"] = self.monte_carlo.at[m, c]
        row.name = self.strategy
        return row


def path_metrics(
    simple_returns: np.ndarray, periods_per_year: int = metrics.PERIODS_PER_YEAR
) -> pd.DataFrame:
    """Annual return (CAGR), Sharpe and max drawdown of each path (paths x days), by
    the same `sim.metrics` functions that score the backtest."""
    r = np.asarray(simple_returns, dtype=np.float64)
    return pd.DataFrame(
        {
            "annual_return": metrics.cagr(r, periods_per_year),
            "sharpe": metrics.sharpe_ratio(r, periods_per_year),
            "max_drawdown": metrics.max_drawdown(r),
        }
    )


def monte_carlo_intervals(
    returns: pd.Series,
    *,
    n_paths: int = 2_000,
    n_days: int | None = None,
    mean_block: float = 10.0,
    seed: int = 0,
    periods_per_year: int = metrics.PERIODS_PER_YEAR,
    percentiles: Sequence[float] = (5, 50, 95),
) -> pd.DataFrame:
    """Percentiles of annual return, Sharpe and max drawdown over bootstrapped paths.

    `returns` are the strategy's daily simple returns; paths of `n_days` (default one
    year) are drawn by the stationary bootstrap of their log returns. Columns p5/p50/p95
    and `realised` (the same metrics on the history itself). Sharpe is NaN on a path whose
    returns do not vary; percentiles ignore such paths.
    """
    r = pd.Series(returns, dtype=np.float64).dropna()
    if (r <= -1).any():
        raise ValueError("a return of -100% or worse cannot be bootstrapped in log space")
    days = int(n_days or periods_per_year)
    model = StationaryBootstrap(mean_block=mean_block).fit(np.log1p(r).to_frame("strategy"))
    paths = np.expm1(model.simulate(n_paths, days, seed, dtype=np.float64)[:, :, 0])
    per_path = path_metrics(paths, periods_per_year)
    out = pd.DataFrame(
        {f"p{p:g}": per_path.apply(lambda c, p=p: np.nanpercentile(c, p)) for p in percentiles}
    )
    out["realised"] = path_metrics(r.to_numpy()[None, :], periods_per_year).iloc[0]
    out.index.name = "metric"
    return out


def _trim(prices: Prices, weights: pd.DataFrame) -> tuple[Prices, pd.DataFrame]:
    w = weights.to_numpy(np.float64)
    active = np.flatnonzero(np.nan_to_num(np.abs(w)).sum(axis=1) > 0)
    if active.size == 0:
        return prices, weights
    a = int(active[0])
    sl = slice(a, None)
    p = Prices(
        prices.open[sl], prices.high[sl], prices.low[sl], prices.close[sl],
        prices.dates[sl], prices.symbols,
    )  # fmt: skip
    return p, weights.iloc[sl]


def value_strategy(
    strategy: Strategy,
    features: pd.DataFrame | None,
    prices: Prices | pd.DataFrame,
    *,
    config: BacktestConfig | None = None,
    predictions: pd.DataFrame | None = None,
    universe: Any | None = None,
    n_paths: int = 2_000,
    horizon_days: int | None = None,
    mean_block: float = 10.0,
    seed: int = 0,
    trim_warmup: bool = True,
) -> Valuation:
    """Signals -> backtest -> statistics -> Monte Carlo intervals for one strategy."""
    config = config or BacktestConfig()
    p = as_prices(prices)
    signals = generate_signals(strategy, features, p, predictions=predictions, universe=universe)
    symbols = list(dict.fromkeys(signals["symbol"]))
    cols = [p.symbols.index(s) for s in symbols]
    sub = Prices(
        p.open[:, cols], p.high[:, cols], p.low[:, cols], p.close[:, cols], p.dates, symbols
    )
    weights = signals_to_weights(signals, sub)
    if trim_warmup:
        sub, weights = _trim(sub, weights)
    result = run_backtest(sub, weights, config)
    stats = result.stats.reindex(list(STAT_KEYS)).astype(np.float64)
    closed = result.trades[~result.trades["is_open"]] if len(result.trades) else result.trades
    stats["mean_trade_return"] = float(closed["return"].mean()) if len(closed) else np.nan
    if len(result.returns) >= 30:
        mc = monte_carlo_intervals(
            result.returns,
            n_paths=n_paths,
            n_days=horizon_days,
            mean_block=mean_block,
            seed=seed,
            periods_per_year=config.periods_per_year,
        )
    else:
        mc = pd.DataFrame(np.nan, index=pd.Index(MC_METRICS, name="metric"),
                          columns=["p5", "p50", "p95", "realised"])  # fmt: skip
    return Valuation(strategy.name, signals, result, stats, mc)


def value_library(
    strategies: Mapping[str, Strategy] | Sequence[Strategy],
    features: pd.DataFrame | None,
    prices: Prices | pd.DataFrame,
    **kwargs: Any,
) -> pd.DataFrame:
    """One summary row per strategy (see `Valuation.summary`)."""
    specs = list(strategies.values()) if isinstance(strategies, Mapping) else list(strategies)
    p = as_prices(prices)
    rows = [value_strategy(s, features, p, **kwargs).summary() for s in specs]
    return pd.DataFrame(rows)
