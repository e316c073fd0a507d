"""Valuation numbers are sim.metrics' on the backtest; Monte Carlo intervals behave;
tearsheets are written offline."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

from quant_assets.sim import metrics
from quant_assets.sim.costs import Commission, CostModel
from quant_assets.sim.historical import BacktestConfig
from quant_assets.strategy.config import load_strategy
from quant_assets.strategy.tearsheet import write_tearsheet
from quant_assets.strategy.valuation import monte_carlo_intervals, value_library, value_strategy
from quant_assets.universe import load_universe

PAIR = {"name": "xle_xop", "kind": "pair", "legs": ["XOP", "XLE"], "hedge": {"method": "kalman"}}
MR = {
    "name": "gld_mr", "kind": "mean_reversion", "symbols": ["GLD", "SPY"], "max_hold_bars": 10,
    "rules": {"entry_long": "zscore_20 < -1.5", "exit_long": "zscore_20 > 0"},
}  # fmt: skip


@pytest.fixture(scope="module")
def universe():
    return load_universe()


@pytest.fixture(scope="module")
def valuation(features, prices, universe):
    spec = load_strategy(PAIR, universe=universe)
    config = BacktestConfig(costs=CostModel(commission=Commission(bps=1.0)))
    return value_strategy(spec, features, prices, config=config, n_paths=500, seed=1)


def test_stats_are_sim_metrics_on_the_backtest(valuation) -> None:
    r = valuation.backtest.returns.to_numpy()
    s = valuation.stats
    assert s["sharpe"] == pytest.approx(metrics.sharpe_ratio(r), rel=1e-9)
    assert s["sortino"] == pytest.approx(metrics.sortino_ratio(r), rel=1e-9)
    assert s["cagr"] == pytest.approx(metrics.cagr(r), rel=1e-9)
    assert s["max_drawdown"] == pytest.approx(metrics.max_drawdown(r), rel=1e-9)
    trades = valuation.backtest.trades
    closed = trades[~trades["is_open"]]
    ref = metrics.trade_stats(closed["pnl"].to_numpy())
    assert s["n_trades"] == ref["n_trades"][0] == len(closed) > 5
    for k in ("win_rate", "profit_factor", "expectancy"):
        assert s[k] == pytest.approx(ref[k][0], rel=1e-9)
    assert s["mean_trade_return"] == pytest.approx(closed["return"].mean())
    # The backtest starts on the first decision bar with a position (warm-up trimmed).
    first = valuation.signals.loc[valuation.signals["target_weight"] != 0, "date"].min()
    assert valuation.backtest.equity.index[0] == first
    assert valuation.backtest.returns.index[0] == valuation.backtest.equity.index[1]


def test_monte_carlo_realised_column_is_the_backtest(valuation) -> None:
    mc, s = valuation.monte_carlo, valuation.stats
    assert mc.at["annual_return", "realised"] == pytest.approx(s["cagr"], rel=1e-9)
    assert mc.at["sharpe", "realised"] == pytest.approx(s["sharpe"], rel=1e-9)
    assert mc.at["max_drawdown", "realised"] == pytest.approx(s["max_drawdown"], rel=1e-9)
    assert (mc["p5"] <= mc["p50"]).all() and (mc["p50"] <= mc["p95"]).all()


def test_monte_carlo_interval_contains_the_truth_in_a_sanity_case() -> None:
    rng = np.random.default_rng(4)
    idx = pd.bdate_range("2015-01-01", periods=1000)
    r = pd.Series(rng.normal(0.0006, 0.01, 1000), index=idx)
    mc = monte_carlo_intervals(r, n_paths=1000, n_days=1000, seed=2)
    for m in ("annual_return", "sharpe", "max_drawdown"):
        assert mc.at[m, "p5"] < mc.at[m, "realised"] < mc.at[m, "p95"]
    # One-year Sharpe of iid returns has sd ~1: the 5-95 band is about +-1.645.
    one_year = monte_carlo_intervals(r, n_paths=1000, n_days=252, seed=2)
    width = one_year.at["sharpe", "p95"] - one_year.at["sharpe", "p5"]
    assert 2.6 < width < 4.0
    again = monte_carlo_intervals(r, n_paths=1000, n_days=252, seed=2)
    pd.testing.assert_frame_equal(one_year, again)


def test_value_library_gives_one_row_per_strategy(features, prices, universe) -> None:
    specs = [load_strategy(d, universe=universe) for d in (PAIR, MR)]
    table = value_library(specs, features, prices, n_paths=200)
    assert list(table.index) == ["xle_xop", "gld_mr"]
    assert {"sharpe", "sortino", "win_rate", "profit_factor", "expectancy", "mc_sharpe_p5"} <= set(
        table.columns
    )


def test_tearsheet_written_offline_with_the_sharpe(
    valuation, prices, tmp_path, monkeypatch
) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("tearsheet tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    returns = valuation.backtest.returns.rename("xle_xop")
    spy = pd.Series(prices.close[:, prices.symbols.index("SPY")], index=prices.dates)
    bench = spy.pct_change().reindex(returns.index).fillna(0.0).rename("SPY")
    out = write_tearsheet(returns, bench, tmp_path / "xle_xop.html", title="xle_xop")
    html = out.read_text(encoding="utf-8")
    sharpe = f"{metrics.sharpe_ratio(returns.to_numpy()):.2f}"
    assert (
        f"<tr><td>Sharpe</td><td>{f'{metrics.sharpe_ratio(bench.to_numpy()):.2f}'}</td><td>{sharpe}</td></tr>"
        in html
    )
    with pytest.raises(TypeError, match="download"):
        write_tearsheet(returns, "SPY", tmp_path / "x.html")  # type: ignore[arg-type]


def test_every_library_strategy_runs_end_to_end(library_market, universe) -> None:
    from quant_assets.strategy.config import load_library

    bars, features, prices = library_market
    rng = np.random.default_rng(8)
    predictions = bars[["symbol", "date"]].assign(score=rng.normal(size=len(bars)))
    lib = load_library(universe=universe)
    table = value_library(
        lib, features, prices, predictions=predictions, universe=universe, n_paths=100
    )
    assert list(table.index) == list(lib)
    assert (table["n_trades"] > 0).sum() >= len(lib) - 1  # data-driven: allow one quiet strategy
    assert table["sharpe"].notna().sum() >= len(lib) - 1
