"""Historical simulator: hand-computed fills, backtesting.py on GOOG, accounting and no look-ahead."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.sim._backtest_kernels import build_trades, moving_averages
from quant_assets.sim.costs import (
    AtrSlippage,
    Commission,
    CostModel,
    FixedSlippage,
    FixedSpread,
)
from quant_assets.sim.historical import (
    BacktestConfig,
    Prices,
    crossover_orders,
    ma_crossover_sweep,
    run_backtest,
    run_sweep,
)

NAN = np.nan


def _prices(open_, close, high=None, low=None) -> Prices:
    return Prices.from_arrays(np.asarray(close, float), np.asarray(open_, float), high, low)


# --- hand-computed cases -----------------------------------------------------------------


def test_long_round_trip_whole_shares_next_open_with_bps_commission() -> None:
    prices = _prices([10, 11, 12, 13], [10.5, 11.5, 12.5, 13.5])
    cfg = BacktestConfig(
        initial_cash=1000,
        whole_shares=True,
        costs=CostModel(commission=Commission(bps=10)),
    )
    res = run_backtest(prices, [1.0, NAN, 0.0, NAN], cfg)
    # Bar 1 open 11: shares = floor(1000 / (11 x 1.001)) = 90; fee 0.99; cash 9.01.
    # Bar 3 open 13: sell 90 -> +1170, fee 1.17.
    np.testing.assert_allclose(res.shares.iloc[:, 0], [0, 90, 90, 0])
    np.testing.assert_allclose(res.cash, [1000, 9.01, 9.01, 1177.84], atol=1e-9)
    np.testing.assert_allclose(res.equity, [1000, 1044.01, 1134.01, 1177.84], atol=1e-9)
    (trade,) = res.trades.itertuples()
    assert (trade.side, trade.qty, trade.entry_price, trade.exit_price) == ("long", 90, 11, 13)
    assert trade.pnl == pytest.approx(90 * 2 - 0.99 - 1.17, abs=1e-9)
    assert trade.commission == pytest.approx(2.16, abs=1e-12)
    assert trade.duration_bars == 2
    assert res.stats["n_trades"] == 1 and res.stats["win_rate"] == 1.0


def test_per_share_commission_with_minimum() -> None:
    prices = _prices([10, 11, 12], [10, 11, 12])
    cfg = BacktestConfig(
        initial_cash=1000,
        whole_shares=True,
        costs=CostModel(commission=Commission(per_share=0.005, minimum=1.0)),
    )
    res = run_backtest(prices, [1.0, NAN, NAN], cfg)
    # Sized on the proportional part: floor(1000 / 11.005) = 90; fee max(1, 0.45) = 1.
    assert res.shares.iloc[1, 0] == 90
    assert res.cash.iloc[1] == pytest.approx(1000 - 990 - 1.0, abs=1e-12)


def test_short_with_daily_borrow_cost() -> None:
    prices = _prices([100, 100, 95, 90], [100, 100, 90, 90])
    cfg = BacktestConfig(initial_cash=10_000, borrow_bps=252)  # 1 bp of short value per bar
    res = run_backtest(prices, [-0.5, NAN, 0.0, NAN], cfg)
    # Bar 1: short 50 at 100 -> cash 15000; borrow 0.0001 x 5000 = 0.5 at the close.
    # Bar 2: borrow 0.0001 x 50 x 90 = 0.45. Bar 3: cover 50 at 90, flat (no borrow).
    np.testing.assert_allclose(res.shares.iloc[:, 0], [0, -50, -50, 0])
    np.testing.assert_allclose(res.cash, [10_000, 14_999.5, 14_999.05, 10_499.05], atol=1e-9)
    np.testing.assert_allclose(res.equity, [10_000, 9_999.5, 10_499.05, 10_499.05], atol=1e-9)
    (trade,) = res.trades.itertuples()
    assert trade.side == "short" and trade.pnl == pytest.approx(500.0, abs=1e-9)


def test_cash_interest_and_same_close_fill() -> None:
    prices = _prices([10, 10, 10], [10, 12, 12])
    cfg = BacktestConfig(initial_cash=1000, fill="same_close", cash_rate_bps=252)
    res = run_backtest(prices, [0.5, NAN, NAN], cfg)
    # Bar 0 close 10: buy 50 sh, cash 500 earns 1 bp per bar: 500.05, then 500.100005.
    np.testing.assert_allclose(res.shares.iloc[:, 0], [50, 50, 50])
    np.testing.assert_allclose(res.cash, [500.05, 500.100005, 500.1500150005], rtol=1e-12)
    np.testing.assert_allclose(
        res.equity, res.cash.to_numpy() + np.array([500, 600, 600]), rtol=1e-12
    )


def test_spread_and_slippage_move_the_fill_price() -> None:
    prices = _prices([100, 100, 110], [100, 100, 110])
    costs = CostModel(spread=FixedSpread(10), slippage=FixedSlippage(5))
    res = run_backtest(prices, [0.5, 0.0, NAN], BacktestConfig(initial_cash=10_000, costs=costs))
    buy, sell = res.fills.itertuples()
    assert buy.price == pytest.approx(100 * 1.0015) and sell.price == pytest.approx(110 * 0.9985)
    # Target 50% of post-cost equity: q x 100 = 0.5 x (10000 - q x 0.15).
    q = 5000 / (100 + 0.5 * 0.15)
    assert buy.qty == pytest.approx(q, rel=1e-12)
    assert buy.spread_cost == pytest.approx(q * 0.10) and buy.slippage_cost == pytest.approx(
        q * 0.05
    )
    assert res.equity.iloc[-1] == pytest.approx(10_000 + q * (110 * 0.9985 - 100.15), rel=1e-12)


def test_gross_leverage_cap_scales_orders() -> None:
    prices = Prices.from_arrays(np.full((3, 2), 10.0))
    res = run_backtest(prices, [[0.8, 0.8], [NAN, NAN], [NAN, NAN]], BacktestConfig(1000))
    np.testing.assert_allclose(res.shares.iloc[1], [50, 50])  # scaled to 0.5 each
    lev = run_backtest(
        prices, [[0.8, -0.8], [NAN, NAN], [NAN, NAN]], BacktestConfig(1000, max_leverage=2)
    )
    np.testing.assert_allclose(lev.shares.iloc[1], [80, -80])


def test_exit_mask_flattens_until_the_target_changes() -> None:
    prices = _prices(np.full(6, 10.0), np.full(6, 10.0))
    w = np.array([1.0, 1.0, 1.0, 1.0, -1.0, NAN])
    exit_mask = np.array([False, True, False, False, False, False])
    res = run_backtest(prices, w, BacktestConfig(1000), exit_mask=exit_mask)
    np.testing.assert_allclose(res.shares.iloc[:, 0], [0, 100, 0, 0, 0, -100])


def test_partial_closes_split_trades_fifo() -> None:
    prices = _prices([10, 10, 12, 14, 16], [10, 10, 12, 14, 16])
    # Buy 100 at 10; add 50 at 12 (equity 1200, 150 shares = 1.5x); at 14 (equity
    # -600 + 150 x 14 = 1500) keep 30 shares: the sale of 120 closes lot 1 and 20 of lot 2.
    w = [1.0, NAN, 1.5, 30 * 14 / 1500, NAN]
    res = run_backtest(prices, w, BacktestConfig(1000, fill="same_close", max_leverage=2))
    t = res.trades
    np.testing.assert_allclose(t.qty, [100, 20, 30], rtol=1e-9)
    np.testing.assert_allclose(t.entry_price, [10, 12, 12])
    np.testing.assert_allclose(t.exit_price, [14, 14, 16])  # last one open, marked at 16
    np.testing.assert_allclose(t.pnl, [400, 40, 120], rtol=1e-9)
    assert list(t.is_open) == [False, False, True]


# --- against backtesting.py -------------------------------------------------------------


def test_sma_crossover_matches_backtesting_py_on_goog() -> None:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

    class SmaCross(Strategy):
        n1, n2 = 10, 20

        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self):
            if crossover(self.sma1, self.sma2):
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.sell()

    bt = Backtest(
        GOOG, SmaCross, cash=10_000, commission=0.002, exclusive_orders=True, trade_on_close=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "trades remain open" and the progress bar
        ref = bt.run()

    prices = Prices.from_ohlc(GOOG, "GOOG")
    ma = moving_averages(prices.close, np.array([10, 20]))
    orders = crossover_orders(ma, np.array([0]), np.array([1]), lag=0)
    w = np.full(prices.shape, NAN)
    w[orders.bar, 0] = orders.weight  # decision-bar weights; the engine adds the next-open lag
    cfg = BacktestConfig(
        initial_cash=10_000, whole_shares=True, costs=CostModel(commission=Commission(bps=20))
    )
    res = run_backtest(prices, w, cfg)

    assert res.equity.iloc[-1] == pytest.approx(ref["Equity Final [$]"], rel=1e-9)
    closed = res.trades[~res.trades.is_open]
    assert len(closed) == ref["# Trades"]
    np.testing.assert_allclose(res.equity, ref._equity_curve["Equity"], rtol=1e-9)
    rt = ref._trades
    np.testing.assert_array_equal(closed.qty * np.where(closed.side == "long", 1, -1), rt.Size)
    np.testing.assert_array_equal(closed.entry_date.to_numpy(), rt.EntryTime.to_numpy())
    np.testing.assert_allclose(closed.pnl, rt.PnL, rtol=1e-9, atol=1e-9)
    assert res.stats["win_rate"] == pytest.approx(ref["Win Rate [%]"] / 100, rel=1e-12)


# --- sweeps equal single backtests --------------------------------------------------------


def _gbm(n_bars: int, n_sym: int, seed: int) -> Prices:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n_bars, n_sym)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    dates = pd.bdate_range("2020-01-01", periods=n_bars)
    return Prices.from_arrays(close, open_, high, low, dates, [f"S{i}" for i in range(n_sym)])


def test_ma_sweep_equals_single_backtests() -> None:
    prices = _gbm(400, 3, seed=1)
    cfg = BacktestConfig(
        initial_cash=10_000,
        whole_shares=True,
        borrow_bps=100,
        costs=CostModel(commission=Commission(bps=5, minimum=1.0), spread=FixedSpread(2)),
    )
    fast, slow = np.array([5, 10, 5]), np.array([20, 30, 50])
    sweep = ma_crossover_sweep(prices, fast, slow, cfg, chunk_size=2)
    assert len(sweep) == 3 * 3
    ma = moving_averages(prices.close, np.array([5, 10, 20, 30, 50]))
    idx = {5: 0, 10: 1, 20: 2, 30: 3, 50: 4}
    for row in sweep.itertuples():
        s = prices.symbols.index(row.symbol)
        o = crossover_orders(
            ma[:, :, [s]], np.array([idx[row.fast]]), np.array([idx[row.slow]]), lag=0
        )
        w = np.full((400, 1), NAN)
        w[o.bar, 0] = o.weight
        single = run_backtest(
            Prices.from_arrays(prices.close[:, s], prices.open[:, s], dates=prices.dates), w, cfg
        )
        for name in (
            "final_equity",
            "sharpe",
            "max_drawdown",
            "n_trades",
            "profit_factor",
            "turnover",
        ):
            assert getattr(row, name) == pytest.approx(single.stats[name], rel=1e-9, nan_ok=True)


def test_portfolio_sweep_equals_run_backtest() -> None:
    prices = _gbm(200, 4, seed=2)
    rng = np.random.default_rng(5)
    w = rng.choice([-0.3, 0.0, 0.25, NAN], size=(3, 200, 4), p=[0.03, 0.03, 0.04, 0.9])
    cfg = BacktestConfig(
        initial_cash=1e6, borrow_bps=50, costs=CostModel(commission=Commission(bps=3))
    )
    sweep = run_sweep(prices, w, cfg, mode="portfolio", chunk_size=2)
    for p in range(3):
        single = run_backtest(prices, w[p], cfg)
        assert sweep.final_equity[p] == pytest.approx(single.stats["final_equity"], rel=1e-12)
        assert sweep.sortino[p] == pytest.approx(single.stats["sortino"], rel=1e-9)


def _crossovers_by_hand(ma, fast_idx, slow_idx, lag, long_only, per_symbol):
    """(bar, book, slot, weight) rows of crossover orders, one (pair, symbol, bar) at a time."""
    n_bars, n_sym = ma.shape[1:]
    rows = []
    for i, (f, s) in enumerate(zip(fast_idx, slow_idx, strict=True)):
        for sym in range(n_sym):
            for t in range(1, n_bars - lag):
                a, b = ma[f, t - 1, sym], ma[s, t - 1, sym]
                x, y = ma[f, t, sym], ma[s, t, sym]
                if a < b and x > y:
                    w = 1.0
                elif a > b and x < y:
                    w = 0.0 if long_only else -1.0
                else:
                    continue
                if per_symbol:
                    rows.append((t + lag, i * n_sym + sym, 0, w))
                else:
                    rows.append((t + lag, i, sym, w / n_sym))
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


@pytest.mark.parametrize("lag", [0, 1])
@pytest.mark.parametrize("long_only", [False, True])
@pytest.mark.parametrize("per_symbol", [True, False])
def test_crossover_orders_equal_the_bar_by_bar_rule(lag, long_only, per_symbol) -> None:
    """Strict crosses only (below then above on consecutive bars): ties, touching and the
    NaN warm-up give no order; orders come sorted by bar, then pair and symbol."""
    prices = _gbm(120, 3, seed=21)
    close = np.round(prices.close, 0)  # coarse prices: the averages often tie
    close[30:34, 1] = NAN  # a gap: NaN averages on both sides of it
    ma = moving_averages(close, np.array([2, 3, 5, 8]))
    ma[1, 60:63, 2] = ma[2, 60:63, 2]  # fast touches slow for three bars
    fast_idx, slow_idx = np.array([0, 1, 0, 2, 1]), np.array([2, 3, 3, 3, 2])
    o = crossover_orders(
        ma, fast_idx, slow_idx, lag=lag, long_only=long_only, per_symbol=per_symbol
    )
    cols = (o.bar.tolist(), o.book.tolist(), o.slot.tolist(), o.weight.tolist())
    got = list(zip(*cols, strict=True))
    want = _crossovers_by_hand(ma, fast_idx, slow_idx, lag, long_only, per_symbol)
    assert len(want) > 40
    assert got == want
    assert np.all(np.diff(o.bar) >= 0)


def test_ma_sweep_by_symbol_groups_equals_all_symbols_at_once(monkeypatch) -> None:
    """The sweep holds the averages of a few symbols at a time: any group size gives the
    frame of all symbols at once, in both modes."""
    import quant_assets.sim.historical as hist

    prices = _gappy(_gbm(300, 5, seed=31), seed=32)
    fast, slow = np.array([3, 5, 4]), np.array([12, 20, 9])
    cfg = BacktestConfig(initial_cash=10_000, costs=CostModel(commission=Commission(rate=0.002)))
    for mode in ("per_symbol", "portfolio"):
        whole = ma_crossover_sweep(prices, fast, slow, cfg, mode=mode)
        monkeypatch.setattr(hist, "_MA_GROUP_CELLS", 2 * 6 * 300)  # 2 symbols per group
        grouped = ma_crossover_sweep(prices, fast, slow, cfg, mode=mode)
        monkeypatch.undo()
        assert whole["n_trades"].min() > 3
        pd.testing.assert_frame_equal(grouped, whole, check_exact=True)


def test_vectorised_round_trips_equal_fifo() -> None:
    prices = _gbm(300, 2, seed=3)
    ma = moving_averages(prices.close, np.array([5, 15]))
    o = crossover_orders(ma, np.array([0]), np.array([1]), lag=0, per_symbol=False)
    w = np.full(prices.shape, NAN)
    w[o.bar, o.slot] = o.weight
    res = run_backtest(prices, w, BacktestConfig(costs=CostModel(commission=Commission(bps=10))))
    from quant_assets.sim._backtest_kernels import Fills

    fills = Fills(
        np.zeros(len(res.fills), dtype=np.int64),
        np.array([prices.symbols.index(s) for s in res.fills.symbol]),
        np.array([prices.dates.get_loc(d) for d in res.fills.date]),
        *(res.fills[c].to_numpy() for c in
          ("qty", "price", "price", "commission", "spread_cost", "slippage_cost", "position")),
    )  # fmt: skip
    fast, slow = build_trades(fills, 2), build_trades(fills, 2, method="fifo")
    assert len(fast.pnl) > 10
    for name in ("entry_bar", "exit_bar", "qty", "pnl", "commission"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-12)


# --- properties -------------------------------------------------------------------------

_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _scenario(draw):
    n_bars = draw(st.integers(5, 40))
    n_sym = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    prices = _gbm(n_bars, n_sym, seed)
    w = rng.uniform(-1, 1, (n_bars, n_sym))
    w[rng.random((n_bars, n_sym)) < 0.6] = NAN
    cfg = BacktestConfig(
        initial_cash=float(draw(st.sampled_from([1e4, 1e6]))),
        fill=draw(st.sampled_from(["next_open", "same_close"])),
        whole_shares=draw(st.booleans()),
        max_leverage=draw(st.sampled_from([1.0, 2.0])),
        borrow_bps=draw(st.sampled_from([0.0, 300.0])),
        cash_rate_bps=draw(st.sampled_from([0.0, 200.0])),
        debit_rate_bps=draw(st.sampled_from([0.0, 500.0])),
        rebalance=draw(st.sampled_from(["on_change", "every_bar"])),
        costs=CostModel(
            commission=Commission(
                per_share=0.002, bps=5, minimum=draw(st.sampled_from([0.0, 1.0]))
            ),
            spread=FixedSpread(3),
            slippage=draw(st.sampled_from([FixedSlippage(2), AtrSlippage(0.05, 5)])),
        ),
    )
    return prices, w, cfg


@_settings
@given(_scenario())
def test_accounting_identity_and_pnl_flow(scenario) -> None:
    prices, w, cfg = scenario
    res = run_backtest(prices, w, cfg)
    # Identity at every bar.
    np.testing.assert_allclose(res.cash + res.values.sum(axis=1), res.equity, rtol=1e-12, atol=1e-6)
    # Flow: equity change = price moves on held shares + fills marked to close - fees
    #       - borrow on shorts at the close + interest on cash after the bar's other flows.
    close, shares, cash = prices.close, res.shares.to_numpy(), res.cash.to_numpy()
    f = res.fills
    bar = np.array([prices.dates.get_loc(d) for d in f.date], dtype=int)
    sym = np.array([prices.symbols.index(s) for s in f.symbol], dtype=int)
    fill_effect = np.bincount(bar, f.qty * (close[bar, sym] - f.price) - f.commission, len(close))
    fill_cash = np.bincount(bar, -f.qty * f.price - f.commission, len(close))
    prev_shares = np.vstack([np.zeros((1, shares.shape[1])), shares[:-1]])
    prev_close = np.vstack([close[:1], close[:-1]])
    borrow = cfg.borrow_bps * 1e-4 / 252 * (np.maximum(-shares, 0) * close).sum(axis=1)
    prev_cash = np.concatenate([[cfg.initial_cash], cash[:-1]])
    pre_interest = prev_cash + fill_cash - borrow
    rate = np.where(pre_interest > 0, cfg.cash_rate_bps, cfg.debit_rate_bps) * 1e-4 / 252
    interest = rate * pre_interest
    prev_equity = np.concatenate([[cfg.initial_cash], res.equity.to_numpy()[:-1]])
    expected = (prev_shares * (close - prev_close)).sum(axis=1) + fill_effect - borrow + interest
    np.testing.assert_allclose(
        res.equity.to_numpy() - prev_equity, expected, atol=1e-6 * cfg.initial_cash / 1e4
    )
    # Trades (closed, plus open ones marked at the last close) add up to the whole PnL
    # except financing, which belongs to the account, not to a trade.
    trading_pnl = res.equity.iloc[-1] - cfg.initial_cash - (interest - borrow).sum()
    assert res.trades.pnl.sum() == pytest.approx(
        trading_pnl, rel=1e-9, abs=1e-6 * cfg.initial_cash / 1e4
    )


@_settings
@given(_scenario(), st.data())
def test_no_look_ahead(scenario, data) -> None:
    prices, w, cfg = scenario
    n_bars = prices.shape[0]
    t = data.draw(st.integers(0, n_bars - 2))
    base = run_backtest(prices, w, cfg).equity.to_numpy()
    rng = np.random.default_rng(t)
    bump = np.exp(rng.normal(0, 0.3, (n_bars - t - 1, prices.shape[1])))

    def perturbed(field: str) -> np.ndarray:
        a = getattr(prices, field).copy()
        a[t + 1 :] *= bump
        return a

    later = Prices.from_arrays(
        perturbed("close"), perturbed("open"), perturbed("high"), perturbed("low"),
        prices.dates, prices.symbols,
    )  # fmt: skip
    moved = run_backtest(later, w, cfg).equity.to_numpy()
    np.testing.assert_allclose(moved[: t + 1], base[: t + 1], rtol=1e-12)


def test_no_look_ahead_of_the_crossover_sweep() -> None:
    prices = _gbm(300, 2, seed=11)
    cfg = BacktestConfig(whole_shares=True, costs=CostModel(slippage=AtrSlippage(0.1, 10)))
    t = 150
    ma = moving_averages(prices.close, np.array([5, 20]))
    o = crossover_orders(ma, np.array([0]), np.array([1]), lag=0, per_symbol=False)
    w = np.full(prices.shape, NAN)
    w[o.bar, o.slot] = o.weight
    base = run_backtest(prices, w, cfg).equity.to_numpy()
    close = prices.close.copy()
    close[t + 1 :] *= 1.5
    later = Prices.from_arrays(close, prices.open, prices.high, prices.low, prices.dates)
    ma2 = moving_averages(later.close, np.array([5, 20]))
    o2 = crossover_orders(ma2, np.array([0]), np.array([1]), lag=0, per_symbol=False)
    w2 = np.full(prices.shape, NAN)
    w2[o2.bar, o2.slot] = o2.weight
    moved = run_backtest(later, w2, cfg).equity.to_numpy()
    np.testing.assert_allclose(moved[: t + 1], base[: t + 1], rtol=1e-12)
    assert not np.allclose(moved[t + 1 :], base[t + 1 :])


def test_one_slot_fast_path_equals_general_fill() -> None:
    from quant_assets.sim._backtest_kernels import Account, simulate

    prices = _gbm(250, 3, seed=4)
    ma = moving_averages(prices.close, np.array([3, 12, 7, 30]))
    orders = crossover_orders(ma, np.array([0, 2]), np.array([1, 3]), lag=1)
    slot_symbol = np.tile(np.arange(3), 2)[:, None]
    close = prices.close
    acc = Account(
        1e4, commission_bps=7, commission_per_share=0.01, whole_shares=True, borrow_rate=1e-4
    )
    spread = close * 2e-4
    runs = [
        simulate(
            prices.open, prices.open, close, spread, spread, slot_symbol, orders, acc, fast_path=fp
        )
        for fp in (True, False)
    ]
    assert runs[0].fills.qty.size > 20
    np.testing.assert_array_equal(runs[0].cash, runs[1].cash)
    np.testing.assert_array_equal(runs[0].shares, runs[1].shares)


def test_target_shares_are_filled_as_given() -> None:
    prices = _prices([20, 21, 22, 23], [20, 21, 22, 23])
    cfg = BacktestConfig(
        initial_cash=1000, targets="shares", costs=CostModel(commission=Commission(per_share=0.01))
    )
    res = run_backtest(prices, [30.0, NAN, -10.0, NAN], cfg)
    np.testing.assert_allclose(res.shares.iloc[:, 0], [0, 30, 30, -10])
    # Buy 30 at 21 (fee 0.30); sell 40 at 23 (fee 0.40).
    np.testing.assert_allclose(res.cash, [1000, 369.7, 369.7, 1289.3], atol=1e-9)


# --- the order-rank path of per-symbol sweeps ------------------------------------------------


def _sweep_without_rank_path(monkeypatch, fn, *args, **kwargs):
    import quant_assets.sim.historical as hist

    with monkeypatch.context() as m:
        m.setattr(hist, "one_slot_by_order_rank", lambda *a, **k: None)
        return fn(*args, **kwargs)


def _gappy(prices: Prices, seed: int) -> Prices:
    """Some opens missing (not tradable that bar) to exercise skipped orders."""
    rng = np.random.default_rng(seed)
    open_ = prices.open.copy()
    open_[rng.random(open_.shape) < 0.03] = NAN
    return Prices(open_, prices.high, prices.low, prices.close, prices.dates, prices.symbols)


@pytest.mark.parametrize(
    "cfg",
    [
        BacktestConfig(initial_cash=10_000, costs=CostModel(commission=Commission(rate=0.002))),
        BacktestConfig(
            initial_cash=5_000,
            whole_shares=True,
            max_leverage=0.8,
            costs=CostModel(
                commission=Commission(per_share=0.01, bps=3, minimum=1.0),
                spread=FixedSpread(2),
                slippage=AtrSlippage(0.1, 10),
            ),
        ),
    ],
)
@pytest.mark.parametrize("gaps", [True, False])
def test_rank_path_sweep_equals_the_bar_loop_and_single_backtests(monkeypatch, cfg, gaps) -> None:
    """Without financing, per-symbol books are filled order rank by order rank: same
    statistics as the per-bar loop (to rounding) and as one run_backtest per book. Without
    gaps every fill opens, closes or reverses (trades paired during the fills); a skipped
    fill makes the next one resize a position (fills recorded and paired FIFO)."""
    import quant_assets.sim.historical as hist

    prices = _gbm(500, 3, seed=8)
    prices = _gappy(prices, seed=9) if gaps else prices
    fast, slow = np.array([3, 5, 10, 8]), np.array([20, 13, 40, 9])
    calls = []
    original = hist.simulate_one_slot

    def counted(*args, **kwargs):
        run = original(*args, **kwargs)
        calls.append(run.closed is None)
        return run

    monkeypatch.setattr(hist, "simulate_one_slot", counted)
    sweep = ma_crossover_sweep(prices, fast, slow, cfg, chunk_size=3)
    assert len(calls) == 2  # both chunks took the rank path
    assert all(calls) if gaps else not any(calls)
    loop = _sweep_without_rank_path(monkeypatch, ma_crossover_sweep, prices, fast, slow, cfg)
    assert len(calls) == 2
    assert sweep["n_trades"].min() > 3
    pd.testing.assert_frame_equal(sweep, loop, rtol=1e-11, check_dtype=False)
    ma = moving_averages(prices.close, np.unique(np.r_[fast, slow]))
    windows = list(np.unique(np.r_[fast, slow]))
    for row in sweep.itertuples():
        s = prices.symbols.index(row.symbol)
        o = crossover_orders(
            ma[:, :, [s]], np.array([windows.index(row.fast)]),
            np.array([windows.index(row.slow)]), lag=0,
        )  # fmt: skip
        w = np.full((500, 1), NAN)
        w[o.bar, 0] = o.weight
        one = Prices.from_arrays(
            prices.close[:, s], prices.open[:, s], prices.high[:, s], prices.low[:, s],
            dates=prices.dates,
        )  # fmt: skip
        single = run_backtest(one, w, cfg).stats
        for name in single.index:
            assert getattr(row, name) == pytest.approx(single[name], rel=1e-9, nan_ok=True), name


@pytest.mark.parametrize("gaps", [True, False])
def test_rank_path_replays_by_block_and_bar_by_bar_alike(monkeypatch, gaps) -> None:
    """Few books replay their fills a block of bars at a time, many books bar by bar: the
    same statistics either way (forced here on one small sweep)."""
    import quant_assets.sim.historical as hist

    prices = _gbm(400, 4, seed=41)
    prices = _gappy(prices, seed=42) if gaps else prices
    fast, slow = np.array([3, 5, 10, 8, 4]), np.array([20, 13, 40, 9, 30])
    cfg = BacktestConfig(initial_cash=10_000, costs=CostModel(commission=Commission(rate=0.002)))
    by_block = ma_crossover_sweep(prices, fast, slow, cfg)
    monkeypatch.setattr(hist, "_BLOCK_CELLS", 7 * 20)  # 7 bars per block: blocks meet
    monkeypatch.setattr(hist, "_ROW_BLOCK_CELLS", 7 * 20)
    small_blocks = ma_crossover_sweep(prices, fast, slow, cfg)
    monkeypatch.setattr(hist, "_ROW_REPLAY_BOOKS", 1)
    by_bar = ma_crossover_sweep(prices, fast, slow, cfg)
    assert by_block["n_trades"].min() > 3
    pd.testing.assert_frame_equal(small_blocks, by_block, rtol=1e-13)
    pd.testing.assert_frame_equal(by_bar, small_blocks, check_exact=True)


def test_rank_path_with_resizing_weights_pairs_trades_fifo(monkeypatch) -> None:
    """Target weights that resize positions (not only open/close/reverse) fall back to FIFO
    pairing of the fills; statistics still equal the per-bar loop."""
    prices = _gbm(300, 2, seed=12)
    rng = np.random.default_rng(3)
    w = rng.choice([0.3, 0.8, -0.5, 0.0, NAN], size=(3, 300, 2), p=[0.04, 0.04, 0.04, 0.03, 0.85])
    cfg = BacktestConfig(initial_cash=1e4, costs=CostModel(commission=Commission(bps=5)))
    fast = run_sweep(prices, w, cfg)
    loop = _sweep_without_rank_path(monkeypatch, run_sweep, prices, w, cfg)
    assert fast["n_trades"].sum() > 20
    pd.testing.assert_frame_equal(fast, loop, rtol=1e-11, check_dtype=False)
