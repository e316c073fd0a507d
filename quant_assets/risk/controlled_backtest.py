"""Backtests under a drawdown limit: the exposure scale is decided bar by bar from equity.

A drawdown rule is path-dependent (the scale changes the equity that drives the scale),
so it cannot be a weights panel computed up front. This runs the engine's own kernel
(`sim._backtest_kernels.simulate`, with the engine's cost model, sizing and leverage cap)
and decides each bar's orders in its `on_bar` callback, after the bar's close:

    close of bar t -> equity_t -> DrawdownController.update -> orders filled on bar t+1

so fills on bar t+1 depend on equity up to t only (for `same_close` fills too: the target
of bar t+1 comes from the strategy, the scale from equity up to t). Orders are
pre-allocated as one NaN (= no order) per bar and symbol; the callback writes the
weights of the next bar's orders before the kernel reads them. That relies on
`simulate` reading `orders.weight` lazily per bar, which the engine does today; the
engine change that would make it a documented hook is in the risk report, and the test
`test_no_limit_equals_engine` fails if the engine stops honouring it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.risk.limits import DrawdownController, DrawdownLimits
from quant_assets.sim._backtest_kernels import Orders, build_trades, simulate
from quant_assets.sim.historical import (
    BacktestConfig,
    BacktestResult,
    Prices,
    _as_panel,
    _fills_frame,
    _gross_and_equity,
    _market,
    _stats,
    _trades_frame,
    engine_returns,
)


@dataclass(frozen=True)
class ControlledResult:
    """The backtest plus the controller's path: state after each bar's close (it applies
    to the next bar's fills) and the exposure scale in force."""

    backtest: BacktestResult
    control: pd.DataFrame  # index dates; columns drawdown, state, scale


def _held_weights(shares: np.ndarray, mark: np.ndarray, equity: float) -> np.ndarray:
    return shares * mark / equity if equity > 0 else np.zeros_like(shares)


def run_with_drawdown_control(
    prices: Prices,
    weights: pd.DataFrame | np.ndarray,
    limits: DrawdownLimits,
    config: BacktestConfig | None = None,
) -> ControlledResult:
    """`run_backtest` with targets scaled by the drawdown state, decided without look-ahead.

    Normal: targets as given. De-risk: targets x `derisk_scale` (held positions are
    re-sized when the state changes). Halt: orders may only reduce positions towards flat
    (no new names, no adds, no flips), or all go flat with `flatten_on_halt`. Drawdown
    is from the high-water mark of equity, starting at the initial cash.
    """
    config = config or BacktestConfig()
    lag = config.lag
    w = _as_panel(weights, prices).astype(np.float64)
    n_bars, n_sym = w.shape
    # Held strategy target per decision bar (NaN until its first value).
    idx = np.where(np.isfinite(w), np.arange(n_bars)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    target = np.where(idx >= 0, np.take_along_axis(w, np.clip(idx, 0, None), axis=0), np.nan)
    fresh = np.isfinite(w)  # bars where the strategy stated a target

    fill_bars = np.arange(lag, n_bars)
    orders = Orders(
        np.repeat(fill_bars, n_sym),
        np.zeros(fill_bars.size * n_sym, dtype=np.int64),
        np.tile(np.arange(n_sym), fill_bars.size),
        np.full(fill_bars.size * n_sym, np.nan),
    )
    mk = _market(prices, config)
    ctl = DrawdownController(limits, peak=config.initial_cash)
    last_sent = np.full(n_sym, np.nan)
    control = np.empty((n_bars, 2))
    states: list[str] = []
    prev_state = ["normal"]

    def decide(fill_bar: int, state: str, scale: float, held: np.ndarray) -> None:
        d = fill_bar - lag
        desired = target[d] * scale
        changed = state != prev_state[0]
        if config.rebalance == "every_bar":
            send = fresh[d] | (changed & np.isfinite(desired))
        else:
            send = np.isfinite(desired) & ((desired != last_sent) | changed)
        if state == "halt" and not limits.flatten_on_halt:
            same = np.sign(desired) == np.sign(held)
            reduce = same & (np.abs(desired) < np.abs(held))
            to_flat = ~same & (held != 0)
            desired = np.where(reduce, desired, np.where(to_flat, 0.0, np.nan))
            send &= np.isfinite(desired)
        row = slice((fill_bar - lag) * n_sym, (fill_bar - lag + 1) * n_sym)
        orders.weight[row] = np.where(send, desired, np.nan)
        last_sent[send] = desired[send]
        prev_state[0] = state

    if lag == 0 and n_bars:
        decide(0, "normal", 1.0, np.zeros(n_sym))

    def on_bar(t: int, cash: np.ndarray, shares: np.ndarray) -> None:
        equity = float(cash[0] + shares[0] @ mk.mark[t])
        state, scale, dd = ctl.update(equity)
        control[t] = (dd, scale)
        states.append(state)
        if t + 1 < n_bars:
            decide(t + 1, state, scale, _held_weights(shares[0], mk.mark[t], equity))

    slot_symbol = np.arange(n_sym)[None, :]
    out = simulate(
        mk.fill_base, mk.value_base, mk.mark, mk.spread_ps, mk.slippage_ps,
        slot_symbol, orders, config.account(), on_bar=on_bar,
    )  # fmt: skip
    gross, equity = _gross_and_equity(out, mk.mark, slot_symbol)
    trades = build_trades(out.fills, n_sym)
    stats = _stats(out, trades, equity, gross, config)
    dates, syms = prices.dates, prices.symbols
    shares = pd.DataFrame(out.shares[:, 0], index=dates, columns=syms)
    result = BacktestResult(
        equity=pd.Series(equity[:, 0], index=dates, name="equity"),
        cash=pd.Series(out.cash[:, 0], index=dates, name="cash"),
        shares=shares,
        values=shares * mk.mark,
        fills=_fills_frame(out.fills, dates, syms),
        trades=_trades_frame(trades, mk.mark, dates, syms),
        returns=engine_returns(equity[:, 0], dates),
        stats=pd.Series({k: np.asarray(v).reshape(-1)[0] for k, v in stats.items()}),
    )
    frame = pd.DataFrame(
        {"drawdown": control[:, 0], "state": states, "scale": control[:, 1]}, index=dates
    )
    return ControlledResult(result, frame)
