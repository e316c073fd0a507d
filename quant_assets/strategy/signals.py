"""Target weights per date and leg from a strategy definition, with the reason for each.

`generate_signals(strategy, features, prices)` returns one row per (date, leg):
`date, symbol, leg, target_weight, reason`. The weight on date t is decided at t's close
from features and prices up to t only; `sim.historical.run_backtest` fills it at the next
open. Reasons say what fired and with which values ("entry_long: zscore_20=-2.31 < -2;
tr_rsi_14=27.4 < 30"), or "hold" / "flat" when nothing changed.

Positions follow one state machine for every kind with entries and exits: flat -> long on
entry_long (short on entry_short); long -> flat on exit_long or after max_hold_bars; long
-> short directly when entry_short fires, even on a bar where exit_long fires too (and the
mirror for shorts). No re-entry in the same direction on the bar of an exit. Multi-leg hedges (pair hedge ratio, fly weights) are frozen at entry unless
configured otherwise, so a held position is not re-traded as the estimate moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.risk.stops import apply_stops_to_weights
from quant_assets.sim.historical import Prices
from quant_assets.strategy import legs as lg
from quant_assets.strategy import rules as rl
from quant_assets.strategy.config import (
    FlyStrategy,
    MeanReversionStrategy,
    MlSignalStrategy,
    MomentumStrategy,
    PairStrategy,
    Rules,
    Strategy,
    StrategyError,
    SwitchStrategy,
    TrendStrategy,
    resolve_symbols,
)

SIGNAL_COLUMNS = ("date", "symbol", "leg", "target_weight", "reason")
SINGLE_LEG = "main"
Frame = pd.Series | pd.DataFrame

# Events of the position state machine.
NONE, ENTER_LONG, ENTER_SHORT, EXIT_LONG, EXIT_SHORT, EXIT_TIME = range(6)


def run_positions(
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    max_hold: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Position state (+1/0/-1) and the event that set it, per bar and unit (bars x units).

    Inputs are boolean arrays of the same shape. A position entered on bar d is closed by
    the time rule on bar d + max_hold (it is then held max_hold bars after its fill).
    """
    n, m = entry_long.shape
    state = np.zeros((n, m), dtype=np.int8)
    event = np.zeros((n, m), dtype=np.int8)
    s = np.zeros(m, dtype=np.int8)
    held = np.zeros(m, dtype=np.int64)
    for t in range(n):
        ev = np.zeros(m, dtype=np.int8)
        el, xl, es, xs = entry_long[t], exit_long[t], entry_short[t], exit_short[t]
        long_, short = s == 1, s == -1
        timed = (held + 1 >= max_hold) if max_hold is not None else np.zeros(m, dtype=bool)
        # Flips of open positions win over their exits: a reversal bar goes straight from
        # long to short (and back), as an MA cross does, instead of sitting flat a bar.
        flip_s = long_ & es
        flip_l = short & el
        out_l = long_ & ~flip_s & xl
        out_s = short & ~flip_l & xs
        time_l = long_ & ~flip_s & ~out_l & timed
        time_s = short & ~flip_l & ~out_s & timed
        ev[out_l], ev[out_s] = EXIT_LONG, EXIT_SHORT
        ev[time_l | time_s] = EXIT_TIME
        ev[flip_s], ev[flip_l] = ENTER_SHORT, ENTER_LONG
        s = np.where(out_l | out_s | time_l | time_s, 0, s).astype(np.int8)
        s[flip_s], s[flip_l] = -1, 1
        # Entries from flat (not on a bar that just exited).
        flat = (s == 0) & (ev == NONE)
        go_l = flat & el
        go_s = flat & ~el & es
        s[go_l], s[go_s] = 1, -1
        ev[go_l], ev[go_s] = ENTER_LONG, ENTER_SHORT
        held = np.where((ev == ENTER_LONG) | (ev == ENTER_SHORT), 0, held + 1)
        state[t], event[t] = s, ev
    return state, event


def entry_bars(state: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Bar index where the position held on each bar was entered (-1 when flat)."""
    n = state.shape[0]
    bars = np.arange(n)[:, None]
    start = np.where((event == ENTER_LONG) | (event == ENTER_SHORT), bars, -1)
    np.maximum.accumulate(start, axis=0, out=start)
    return np.where(state != 0, start, -1)


# --- inputs --------------------------------------------------------------------------------


def as_prices(prices: Prices | pd.DataFrame) -> Prices:
    if isinstance(prices, Prices):
        return prices
    if isinstance(prices, pd.DataFrame):
        return Prices.from_long(prices)
    raise TypeError("prices must be a sim.historical.Prices or a long OHLC frame")


class _Inputs:
    """Prices and features of one strategy as wide frames (dates x symbols)."""

    def __init__(
        self,
        spec: Strategy,
        features: pd.DataFrame | None,
        prices: Prices,
        symbols: list[str],
    ):
        self.spec = spec
        self.prices = prices
        self.symbols = symbols
        missing = [s for s in symbols if s not in prices.symbols]
        if missing:
            raise StrategyError(f"strategy {spec.name!r}: prices lack symbols {missing}")
        self.cols = [prices.symbols.index(s) for s in symbols]
        self.index = pd.DatetimeIndex(pd.to_datetime(prices.dates))
        self.close = self._wide(prices.close)
        self._features: pd.DataFrame | None = None
        if features is not None and len(features):
            f = features[features["symbol"].isin(symbols)].copy()
            f["date"] = pd.to_datetime(f["date"])
            if f.duplicated(["date", "symbol"]).any():
                raise StrategyError(f"strategy {spec.name!r}: features repeat (symbol, date) rows")
            self._features = f.set_index(["date", "symbol"]).sort_index()
        self._cache: dict[str, pd.DataFrame] = {}

    def _wide(self, a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a[:, self.cols], index=self.index, columns=self.symbols)

    def subset_prices(self) -> Prices:
        p = self.prices
        c = self.cols
        return Prices(p.open[:, c], p.high[:, c], p.low[:, c], p.close[:, c], p.dates, self.symbols)

    def feature(self, name: str) -> pd.DataFrame:
        """One feature as dates x symbols on the price calendar (NaN where absent)."""
        if name not in self._cache:
            if self._features is None or name not in self._features.columns:
                raise StrategyError(
                    f"strategy {self.spec.name!r}: the features panel has no column {name!r}"
                )
            col = pd.to_numeric(self._features[name], errors="coerce").astype(np.float64)
            wide = col.unstack("symbol").reindex(index=self.index, columns=self.symbols)
            self._cache[name] = wide
        return self._cache[name]


def _evaluate(
    spec: Strategy, path: str, text: str | None, resolve: Callable[[str], Frame]
) -> rl.Evaluation | None:
    if text is None:
        return None
    node = rl.parse(text, kind="num" if path == "score" else "bool")
    env = {name: resolve(name) for name in rl.names(node)}
    return rl.Evaluation(node, env)


def _mask(ev: rl.Evaluation | None, like: pd.DataFrame) -> np.ndarray:
    if ev is None:
        return np.zeros(like.shape, dtype=bool)
    return ev.mask(like).to_numpy(dtype=bool)


# --- reasons -------------------------------------------------------------------------------


def _event_reasons(
    event: np.ndarray,
    evals: dict[str, rl.Evaluation | None],
    index: pd.Index,
    columns: list[Any],
    max_hold: int | None,
) -> np.ndarray:
    """Text for each bar with an event: the rule that fired and its values."""
    out = np.full(event.shape, None, dtype=object)
    field = {ENTER_LONG: "entry_long", ENTER_SHORT: "entry_short",
             EXIT_LONG: "exit_long", EXIT_SHORT: "exit_short"}  # fmt: skip
    for t, j in zip(*np.nonzero(event), strict=True):
        e = int(event[t, j])
        if e == EXIT_TIME:
            out[t, j] = f"max_hold_bars: held {max_hold} bars"
            continue
        ev = evals[field[e]]
        sym = columns[j] if ev is not None and isinstance(ev.result, pd.DataFrame) else None
        out[t, j] = f"{field[e]}: {ev.explain(index[t], sym)}" if ev is not None else field[e]
    return out


def _fill_reasons(reasons: np.ndarray, weights: np.ndarray) -> np.ndarray:
    prev = np.vstack([np.zeros((1, weights.shape[1])), weights[:-1]])
    changed = ~np.isclose(weights, prev, rtol=0, atol=1e-12)
    empty = pd.isna(reasons)
    out = reasons.copy()
    out[empty & changed] = "rebalance"
    out[empty & ~changed & (weights != 0)] = "hold"
    out[empty & ~changed & (weights == 0)] = "flat"
    return out


# --- kinds ---------------------------------------------------------------------------------


def _single_leg_env(inp: _Inputs, variables: dict[str, pd.DataFrame]) -> Callable[[str], Frame]:
    def resolve(name: str) -> Frame:
        return variables[name] if name in variables else inp.feature(name)

    return resolve


def _positional(
    inp: _Inputs, rules: Rules, resolve: Callable[[str], Frame], like: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, dict[str, rl.Evaluation | None]]:
    spec = inp.spec
    evals = {f: _evaluate(spec, f"rules.{f}", getattr(rules, f), resolve)
             for f in ("entry_long", "exit_long", "entry_short", "exit_short")}  # fmt: skip
    state, event = run_positions(
        *(_mask(evals[f], like) for f in ("entry_long", "exit_long", "entry_short", "exit_short")),
        max_hold=spec.max_hold_bars,
    )
    return state, event, evals


def _trend_or_mr(inp: _Inputs) -> tuple[pd.DataFrame, np.ndarray]:
    spec = inp.spec
    variables: dict[str, pd.DataFrame] = {}
    if isinstance(spec, TrendStrategy):
        c = inp.close
        if spec.ma == "sma":
            variables["ma_fast"] = c.rolling(spec.fast, min_periods=spec.fast).mean()
            variables["ma_slow"] = c.rolling(spec.slow, min_periods=spec.slow).mean()
        else:
            variables["ma_fast"] = c.ewm(span=spec.fast, adjust=False, min_periods=spec.fast).mean()
            variables["ma_slow"] = c.ewm(span=spec.slow, adjust=False, min_periods=spec.slow).mean()
    rules = spec.effective_rules()  # type: ignore[union-attr]
    state, event, evals = _positional(inp, rules, _single_leg_env(inp, variables), inp.close)
    unit = spec.gross / len(inp.symbols)
    weights = state.astype(np.float64) * unit
    reasons = _event_reasons(event, evals, inp.index, inp.symbols, spec.max_hold_bars)
    return pd.DataFrame(weights, index=inp.index, columns=inp.symbols), reasons


def _rotation(inp: _Inputs, predictions: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    spec = inp.spec
    assert isinstance(spec, MomentumStrategy | MlSignalStrategy)
    variables: dict[str, pd.DataFrame] = {}
    if isinstance(spec, MlSignalStrategy):
        variables["score"] = _prediction_scores(spec, predictions, inp)
        score = variables["score"]
        score_label = "score"
    else:
        ev = _evaluate(spec, "score", spec.score, _single_leg_env(inp, variables))
        assert ev is not None
        score = ev.result if isinstance(ev.result, pd.DataFrame) else inp.close * 0 + ev.result
        score_label = spec.score
    resolve = _single_leg_env(inp, variables)
    eligible_ev = _evaluate(spec, "eligible", spec.eligible, resolve)
    ok = np.isfinite(score.to_numpy(np.float64))
    if eligible_ev is not None:
        ok &= _mask(eligible_ev, inp.close)
    if isinstance(spec, MlSignalStrategy) and spec.min_score is not None:
        ok &= score.to_numpy(np.float64) >= spec.min_score
    if spec.top_k > len(inp.symbols):
        raise StrategyError(
            f"strategy {spec.name!r}: top_k: {spec.top_k} exceeds the {len(inp.symbols)} symbols"
        )
    vol = lg.trailing_vol(inp.close, spec.vol_window).to_numpy(np.float64)
    s = score.to_numpy(np.float64)
    n, m = s.shape
    weights = np.zeros((n, m))
    reasons = np.full((n, m), None, dtype=object)
    have = np.flatnonzero(np.isfinite(s).any(axis=1))
    current = np.zeros(m)
    rebalance = set(range(int(have[0]), n, spec.rebalance_every)) if have.size else set()
    for t in range(n):
        if t in rebalance:
            cand = np.flatnonzero(ok[t])
            order = cand[np.argsort(-s[t, cand], kind="stable")]
            chosen = order[: spec.top_k]
            new = np.zeros(m)
            if chosen.size:
                if spec.weighting == "inverse_vol":
                    inv = 1.0 / vol[t, chosen]
                    if np.all(np.isfinite(inv)):
                        new[chosen] = inv / inv.sum() * spec.gross * chosen.size / spec.top_k
                    else:
                        new[chosen] = spec.gross / spec.top_k
                else:
                    new[chosen] = spec.gross / spec.top_k
            rank = {int(j): r + 1 for r, j in enumerate(order)}
            for j in range(m):
                if new[j] != 0:
                    why = (
                        f"rank {rank[j]} of {cand.size} by {score_label}={rl.format_value(s[t, j])}"
                    )
                    if eligible_ev is not None:
                        why += f"; eligible: {eligible_ev.explain(inp.index[t], inp.symbols[j])}"
                    reasons[t, j] = why
                elif current[j] != 0:
                    reasons[t, j] = (
                        f"rotated out: rank {rank[j]} of {cand.size}" if j in rank
                        else "rotated out: not eligible"
                    )  # fmt: skip
            current = new
        weights[t] = current
    return pd.DataFrame(weights, index=inp.index, columns=inp.symbols), reasons


def _prediction_scores(
    spec: MlSignalStrategy, predictions: pd.DataFrame | None, inp: _Inputs
) -> pd.DataFrame:
    if predictions is None:
        raise StrategyError(
            f"strategy {spec.name!r}: an ml_signal strategy needs predictions "
            "(a frame with columns symbol, date, score)"
        )
    missing = {"symbol", "date", "score"} - set(predictions.columns)
    if missing:
        raise StrategyError(f"strategy {spec.name!r}: predictions lack columns {sorted(missing)}")
    p = predictions.assign(date=pd.to_datetime(predictions["date"]))
    wide = p.pivot_table(index="date", columns="symbol", values="score", aggfunc="last")
    return wide.reindex(index=inp.index, columns=inp.symbols).astype(np.float64)


def _leg_resolver(
    inp: _Inputs, labels: tuple[str, ...], variables: dict[str, pd.Series]
) -> Callable[[str], Frame]:
    def resolve(name: str) -> Frame:
        if name in variables:
            return variables[name]
        for label, sym in zip(labels, inp.symbols, strict=True):
            if name.endswith(f"_{label}"):
                return inp.feature(name[: -len(label) - 1])[sym]
        raise StrategyError(f"strategy {inp.spec.name!r}: no data for {name!r}")

    return resolve


def _multi_leg_positions(
    inp: _Inputs, rules: Rules, variables: dict[str, pd.Series], labels: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    like = pd.DataFrame(index=inp.index, columns=["spread"], dtype=float)
    resolve = _leg_resolver(inp, labels, variables)
    evals = {f: _evaluate(inp.spec, f"rules.{f}", getattr(rules, f), resolve)
             for f in ("entry_long", "exit_long", "entry_short", "exit_short")}  # fmt: skip
    masks = [
        _mask_series(evals[f], like.iloc[:, 0])
        for f in ("entry_long", "exit_long", "entry_short", "exit_short")
    ]
    state, event = run_positions(*masks, max_hold=inp.spec.max_hold_bars)
    reasons = _event_reasons(event, evals, inp.index, [None], inp.spec.max_hold_bars)
    return state[:, 0], event, reasons[:, 0]


def _mask_series(ev: rl.Evaluation | None, like: pd.Series) -> np.ndarray:
    if ev is None:
        return np.zeros((len(like), 1), dtype=bool)
    return ev.mask(like).to_numpy(dtype=bool)[:, None]


def _frozen(values: np.ndarray, state: np.ndarray, event: np.ndarray, freeze: bool) -> np.ndarray:
    """Per-bar leg ratios, held at their entry value while a position is open if `freeze`."""
    if not freeze:
        return values
    start = entry_bars(state[:, None], event)[:, 0]
    out = values[np.clip(start, 0, None)]
    out[start < 0] = 0.0
    return out


def _pair(inp: _Inputs) -> tuple[pd.DataFrame, np.ndarray]:
    spec = inp.spec
    assert isinstance(spec, PairStrategy)
    ly, lx = (np.log(inp.close[s]) for s in inp.symbols)
    if spec.hedge.method == "ols":
        fit = lg.rolling_ols(ly, lx, spec.hedge.window)
        spread = ly - fit["alpha"] - fit["beta"] * lx
        spread_z = lg.zscore(spread, spec.zscore_window)
    else:
        fit = lg.kalman_hedge(ly, lx, delta=spec.hedge.delta, obs_var=spec.hedge.obs_var)
        # The spread is the filter's one-step forecast error (no estimate uses bar t's own
        # prices); its first `window` bars are the filter's warm-up and are dropped.
        spread = fit["innovation"].copy()
        spread.iloc[: spec.hedge.window] = np.nan
        spread_z = lg.zscore(spread, spec.zscore_window)
    beta = fit["beta"]
    coint = (
        lg.rolling_coint_pvalue(ly, lx, spec.coint.window, spec.coint.every)
        if spec.coint is not None
        else pd.Series(np.nan, index=inp.index)
    )
    variables = {"spread": spread, "spread_z": spread_z, "hedge_ratio": beta, "coint_pvalue": coint}
    state, event, why = _multi_leg_positions(inp, spec.rules, variables, spec.LEGS)
    wy, wx = lg.pair_weights(beta.to_numpy(np.float64))
    ratios = np.column_stack([wy, wx])
    ratios = _frozen(np.nan_to_num(ratios), state, event, spec.hedge.freeze)
    weights = state[:, None] * spec.gross * ratios
    reasons = np.repeat(why[:, None], 2, axis=1)
    return pd.DataFrame(weights, index=inp.index, columns=inp.symbols), reasons


def _fly(inp: _Inputs) -> tuple[pd.DataFrame, np.ndarray]:
    spec = inp.spec
    assert isinstance(spec, FlyStrategy)
    logp = np.log(inp.close)
    if spec.weighting == "fixed":
        w = pd.DataFrame(
            np.broadcast_to(lg.fly_weights_fixed(spec.weights), logp.shape).copy(),
            index=inp.index,
            columns=inp.symbols,
        )
    else:
        w = lg.fly_weights_vol(lg.trailing_vol(inp.close, spec.vol_window))
    fly = (
        (logp * w).sum(axis=1, min_count=3).where(w.notna().all(axis=1) & logp.notna().all(axis=1))
    )
    fly_z = lg.zscore(fly, spec.zscore_window)
    state, event, why = _multi_leg_positions(
        inp, spec.rules, {"fly": fly, "fly_z": fly_z}, spec.LEGS
    )
    ratios = _frozen(np.nan_to_num(w.to_numpy(np.float64)), state, event, True)
    weights = state[:, None] * spec.gross * ratios
    reasons = np.repeat(why[:, None], 3, axis=1)
    return pd.DataFrame(weights, index=inp.index, columns=inp.symbols), reasons


def _switch(inp: _Inputs) -> tuple[pd.DataFrame, np.ndarray]:
    spec = inp.spec
    assert isinstance(spec, SwitchStrategy)
    a, b = (inp.close[s] for s in inp.symbols)
    variables = {
        "rel_mom": lg.relative_momentum(a, b, spec.lookback),
        "ratio_z": lg.zscore(np.log(a / b), spec.zscore_window),
    }
    resolve = _leg_resolver(inp, spec.LEGS, variables)
    like = a
    evals = {f: _evaluate(spec, f"rules.{f}", getattr(spec.rules, f), resolve)
             for f in ("choose_first", "choose_second", "go_flat")}  # fmt: skip
    first, second, flat = (
        _mask_series(evals[f], like)[:, 0] for f in ("choose_first", "choose_second", "go_flat")
    )
    n = len(like)
    held = np.zeros(n, dtype=np.int8)  # 0 cash, 1 first, 2 second
    fired: list[str | None] = [None] * n
    s = 0
    for t in range(n):
        target, field = s, None
        if flat[t]:
            target, field = 0, "go_flat"
        elif first[t]:
            target, field = 1, "choose_first"
        elif second[t]:
            target, field = 2, "choose_second"
        if target != s:
            ev = evals[field]  # type: ignore[index]
            fired[t] = f"{field}: {ev.explain(inp.index[t])}" if ev is not None else field
            s = target
        held[t] = s
    weights = np.column_stack([(held == 1) * spec.gross, (held == 2) * spec.gross]).astype(float)
    reasons = np.array([[r, r] for r in fired], dtype=object)
    return pd.DataFrame(weights, index=inp.index, columns=inp.symbols), reasons


def _apply_stops(inp: _Inputs, weights: pd.DataFrame, reasons: np.ndarray) -> pd.DataFrame:
    """Price stops via quant_assets.risk.stops: flat from the stop bar to the next signal."""
    spec = inp.spec
    stop = getattr(spec, "stop", None)
    if stop is None:
        return weights
    prices = inp.subset_prices()
    w = weights.set_axis(prices.dates, axis=0)
    adjusted, res = apply_stops_to_weights(w, prices, stop.to_rules())
    adj = adjusted.to_numpy(np.float64)
    ex = res.exits[res.exits["exit_bar"] >= 0]
    for _, row in ex.iterrows():
        j = inp.symbols.index(row["symbol"])
        reasons[int(row["exit_bar"]), j] = (
            f"stop: {row['exit_reason']} at {rl.format_value(row['exit_price'])}"
        )
    off = (adj != weights.to_numpy(np.float64)) & pd.isna(reasons)
    reasons[off] = "stopped out: flat until the next signal"
    return pd.DataFrame(adj, index=weights.index, columns=weights.columns)


def generate_signals(
    strategy: Strategy,
    features: pd.DataFrame | None,
    prices: Prices | pd.DataFrame,
    *,
    predictions: pd.DataFrame | None = None,
    universe: Any | None = None,
) -> pd.DataFrame:
    """Target weight and reason per (date, leg) of one strategy on the prices' calendar.

    `features` is long (symbol, date, feature columns...), e.g. derived.fct_features_daily
    joined with derived.technical_indicators; `prices` a `sim.historical.Prices` panel or a
    long OHLC frame (the same one the backtest runs on). `predictions` (symbol, date,
    score) feeds ml_signal strategies. Weights are fractions of equity, signed.
    """
    p = as_prices(prices)
    symbols = resolve_symbols(strategy, universe)
    inp = _Inputs(strategy, features, p, symbols)
    if isinstance(strategy, TrendStrategy | MeanReversionStrategy):
        weights, reasons = _trend_or_mr(inp)
        labels = [SINGLE_LEG] * len(symbols)
    elif isinstance(strategy, MomentumStrategy | MlSignalStrategy):
        weights, reasons = _rotation(inp, predictions)
        labels = [SINGLE_LEG] * len(symbols)
    elif isinstance(strategy, PairStrategy):
        weights, reasons = _pair(inp)
        labels = list(strategy.LEGS)
    elif isinstance(strategy, FlyStrategy):
        weights, reasons = _fly(inp)
        labels = list(strategy.LEGS)
    elif isinstance(strategy, SwitchStrategy):
        weights, reasons = _switch(inp)
        labels = list(strategy.LEGS)
    else:  # pragma: no cover
        raise TypeError(f"unknown strategy type {type(strategy).__name__}")
    weights = _apply_stops(inp, weights, reasons)
    w = weights.to_numpy(np.float64)
    reasons = _fill_reasons(reasons, w)
    n, m = w.shape
    frame = pd.DataFrame(
        {
            "date": np.repeat(p.dates.to_numpy(), m),
            "symbol": np.tile(np.asarray(symbols, dtype=object), n),
            "leg": np.tile(np.asarray(labels, dtype=object), n),
            "target_weight": w.reshape(-1),
            "reason": reasons.reshape(-1),
        }
    )
    frame.attrs["strategy"] = strategy.name
    return frame


def signals_to_weights(signals: pd.DataFrame, prices: Prices | None = None) -> pd.DataFrame:
    """Wide target weights (dates x symbols) for `sim.historical.run_backtest`."""
    wide = signals.pivot_table(
        index="date", columns="symbol", values="target_weight", aggfunc="sum", sort=False
    )
    if prices is not None:
        wide = wide.reindex(index=prices.dates, columns=prices.symbols)
    return wide
