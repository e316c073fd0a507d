"""From the strategy library to a sized, risk-checked book and tomorrow's recommendations.

Three steps, each a plain function the Dagster assets call:

1. `run_library`: every library strategy on the warehouse panels -> signals (with the
   reason of the last firing carried onto today's row), backtest statistics with Monte
   Carlo percentiles (`strategy.valuation`), equity curves and daily returns.
2. `build_target_portfolio`: today's per-strategy target weights combined into one book.
   Capital is split across strategies (equal by default); each strategy's sleeve is
   sized by the configured rule (volatility targeting: scale = target_vol / ex-ante sleeve
   vol from the last `vol_window` bars, capped at `max_sleeve_scale`; or the strategy's
   own weights); the book's drawdown state (risk.limits, on the paper record of the
   sleeves) scales everything; exposure limits by name, group, asset class and book
   (risk.limits) scale the per-symbol book, and each contribution is scaled with its
   symbol. Stored as strategies.signals rows with strategy='portfolio' and
   leg='<strategy>:<leg>', so downstream assets read the book from the warehouse.
3. `build_recommendations`: one strategies.recommendations row per book contribution for
   the next NYSE session after as_of (side buy/sell = the target's direction, quantity =
   |weight| x equity / last close), plus a `close` row for each position the strategy
   held the bar before and no longer wants. Stops and targets follow risk.stops
   conventions: the strategy's own stop rules, else `default_stop_atr` /
   `default_target_atr` ATR(14) multiples; at entry the trailing and fixed levels
   coincide, and the tightest stop wins. Pair and fly legs exit on their spread rules,
   so they carry no price stop.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.calendars import sessions
from quant_assets.risk import sizing
from quant_assets.risk.limits import (
    DrawdownLimits,
    ExposureLimits,
    apply_exposure_limits,
    drawdown_states,
    memberships_from_universe,
)
from quant_assets.risk.stops import StopRules
from quant_assets.sim.historical import BacktestConfig
from quant_assets.strategy import rules as rl
from quant_assets.strategy.config import (
    FlyStrategy,
    MlSignalStrategy,
    PairStrategy,
    Strategy,
    StrategyError,
    resolve_symbols,
)
from quant_assets.strategy.panels import Panels
from quant_assets.strategy.valuation import value_strategy
from quant_assets.universe import Universe

PORTFOLIO = "portfolio"
STATE_CODE = {"normal": 0.0, "derisk": 1.0, "halt": 2.0}
BOOK_METRICS = (
    "equity", "gross_exposure", "net_exposure", "gross_limit", "net_limit", "drawdown",
    "peak_equity", "drawdown_scale", "drawdown_state_code", "derisk_at", "halt_at",
    "n_positions",
)  # fmt: skip
QUIET_REASONS = ("hold", "flat", "rebalance")


@dataclass(frozen=True)
class BookConfig:
    """How the library becomes one book. Fractions of equity; vols annualised."""

    capital: float = 1_000_000.0
    capital_split: Mapping[str, float] | None = None  # strategy -> share (default equal)
    sizing_rule: str = "volatility_target"  # or "strategy_weights"
    target_vol: float = 0.10
    max_sleeve_scale: float = 1.0
    vol_window: int = 63
    limits: ExposureLimits = field(
        default_factory=lambda: ExposureLimits(
            max_name=0.15,
            max_gross=1.5,
            max_net=1.0,
            group_gross=0.40,
            class_gross_by={"crypto": 0.15},
        )
    )
    drawdown: DrawdownLimits = field(default_factory=DrawdownLimits)
    drawdown_lookback: int = 252  # bars of the sleeves' paper record behind the state
    default_stop_atr: float = 2.0
    default_target_atr: float = 3.0
    events_days: int = 5


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def to_json(value: Any) -> str:
    """Strict JSON (non-finite numbers become null), keys in a stable order."""

    def clean(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, bool | str) or v is None:
            return v
        if isinstance(v, int | np.integer):
            return int(v)
        if isinstance(v, float | np.floating):
            return _finite(v)
        if isinstance(v, dt.date):
            return v.isoformat()
        return str(v)

    return json.dumps(clean(value), sort_keys=False, allow_nan=False)


# --- 1. the library ---------------------------------------------------------------------


LATEST_COLUMNS = [
    "strategy", "symbol", "leg", "date", "target_weight", "prev_weight", "reason", "fired",
    "fired_date",
]  # fmt: skip


@dataclass(frozen=True)
class LibraryRun:
    as_of: dt.date
    signals: pd.DataFrame  # strategies.signals rows of the last `signal_days`
    latest: pd.DataFrame  # strategy, symbol, leg, date, target_weight, prev_weight, reason
    stats: pd.DataFrame  # strategies.backtest_stats rows
    equity: pd.DataFrame  # strategies.equity_curves rows
    returns: dict[str, pd.Series]
    skipped: dict[str, str]


def available_universe(universe: Universe, symbols: Sequence[str]) -> Universe:
    """The universe restricted to symbols with data, so group strategies trade what exists."""
    have = set(symbols)
    return Universe(
        [i for i in universe.instruments if i.symbol in have], universe.groups, universe.as_of
    )


def _carry_reasons(sig: pd.DataFrame) -> pd.DataFrame:
    """Per (symbol, leg): the last firing reason and its date, forward-filled over quiet bars."""
    out = sig.copy()
    quiet = out["reason"].isna() | out["reason"].isin(QUIET_REASONS)
    out["fired"] = out["reason"].where(~quiet)
    out["fired_date"] = out["date"].where(~quiet)
    g = out.groupby(["symbol", "leg"], sort=False)
    out["fired"] = g["fired"].ffill()
    out["fired_date"] = g["fired_date"].ffill()
    return out


def run_library(
    specs: Mapping[str, Strategy],
    panels: Panels,
    universe: Universe,
    *,
    predictions: pd.DataFrame | None = None,
    signal_days: int = 10,
    n_paths: int = 2_000,
    seed: int = 0,
    backtest: BacktestConfig | None = None,
) -> LibraryRun:
    """Signals, backtests and statistics of every strategy; a strategy the data cannot
    serve (missing symbols, no predictions) is skipped with its reason."""
    as_of = panels.as_of
    uni = available_universe(universe, panels.symbols)
    first = pd.Timestamp(as_of - dt.timedelta(days=signal_days))
    sig_rows, latest_rows, stat_rows, eq_rows = [], [], [], []
    returns: dict[str, pd.Series] = {}
    # Strategies the library already set aside (symbols outside the universe) keep their reason.
    skipped: dict[str, str] = dict(getattr(specs, "skipped", {}))
    for name, spec in specs.items():
        preds = None
        if isinstance(spec, MlSignalStrategy):
            if predictions is None or predictions.empty:
                skipped[name] = f"no predictions of model {spec.model!r} in strategies.predictions"
                continue
            preds = predictions[predictions["model"] == spec.model]
            if preds.empty:
                skipped[name] = f"no predictions of model {spec.model!r} in strategies.predictions"
                continue
        try:
            symbols = resolve_symbols(spec, uni)
            if not symbols:
                raise StrategyError(f"strategy {name!r}: no symbol with data")
            prices = panels.prices(symbols)
            val = value_strategy(
                spec, panels.features, prices, predictions=preds, universe=uni,
                config=backtest, n_paths=n_paths, seed=seed,
            )  # fmt: skip
        except (StrategyError, KeyError, ValueError) as exc:
            # KeyError's str() quotes its message; the message itself is the reason.
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            skipped[name] = str(text).splitlines()[0]
            continue
        sig = val.signals.assign(date=pd.to_datetime(val.signals["date"]))
        sig = _carry_reasons(sig[sig["date"] <= pd.Timestamp(as_of)])
        last = sig["date"].max()
        if pd.isna(last) or last < first:
            # Its bars stop before the signal window (a symbol whose data ended): no signal
            # of today can come from it, and its rows would fall outside the stored slice.
            ended = "no bars" if pd.isna(last) else f"its last bar is {last.date()}"
            skipped[name] = f"no signal in the last {signal_days} days: {ended}"
            continue
        dates = sorted(sig["date"].unique())
        prev = dates[-2] if len(dates) > 1 else None
        today = sig[sig["date"] == last].copy()
        prev_w = (
            sig[sig["date"] == prev].set_index(["symbol", "leg"])["target_weight"]
            if prev is not None
            else pd.Series(dtype=float)
        )
        today["prev_weight"] = [
            float(prev_w.get((s, leg), 0.0))
            for s, leg in zip(today["symbol"], today["leg"], strict=False)
        ]
        quiet = today["reason"].isin(QUIET_REASONS) & today["fired"].notna()
        today.loc[quiet, "reason"] = (
            today.loc[quiet, "reason"]
            + "; last fired "
            + today.loc[quiet, "fired_date"].dt.strftime("%Y-%m-%d")
            + ": "
            + today.loc[quiet, "fired"]
        )
        today["strategy"] = name
        latest_rows.append(today)
        window = sig[sig["date"] >= first].copy()
        window = window[window["date"] != last]
        window = pd.concat([window, today[window.columns.intersection(today.columns)]])
        window["strategy"] = name
        sig_rows.append(window[["date", "strategy", "symbol", "leg", "target_weight", "reason"]])
        summary = val.summary()
        stat_rows += [(name, as_of, str(k), _finite(v)) for k, v in summary.items()]
        eq = val.backtest.equity
        eq_rows.append(
            pd.DataFrame(
                {
                    "strategy": name,
                    "date": pd.to_datetime(eq.index),
                    "equity": eq.to_numpy(float),
                    "drawdown": (eq / eq.cummax() - 1.0).to_numpy(float),
                    # none on the curve's first bar (sim.metrics convention): NULL
                    "daily_return": val.backtest.returns.reindex(eq.index).to_numpy(float),
                }
            )
        )
        returns[name] = val.backtest.returns.rename(name)
    signals = (
        pd.concat(sig_rows, ignore_index=True)
        if sig_rows
        else pd.DataFrame(columns=["date", "strategy", "symbol", "leg", "target_weight", "reason"])
    )
    latest = (
        pd.concat(latest_rows, ignore_index=True)[LATEST_COLUMNS]
        if latest_rows
        else pd.DataFrame(columns=LATEST_COLUMNS)
    )
    stats = pd.DataFrame(stat_rows, columns=["strategy", "as_of", "metric", "value"])
    equity = (
        pd.concat(eq_rows, ignore_index=True)
        if eq_rows
        else pd.DataFrame(columns=["strategy", "date", "equity", "drawdown", "daily_return"])
    )
    return LibraryRun(as_of, signals, latest, stats, equity, returns, skipped)


# --- 2. the book ------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetPortfolio:
    as_of: dt.date
    equity: float
    positions: pd.DataFrame  # strategy, symbol, leg, strategy_weight, book_weight, reason, ...
    sleeves: pd.DataFrame  # strategy, share, sleeve_vol, scale, bound, explain
    limits: pd.DataFrame  # risk.limits report (kind, key, measure, limit, before, after, bound)
    drawdown: dict[str, Any]
    config: BookConfig

    @property
    def book(self) -> pd.Series:
        """Book weight per symbol (sum of contributions)."""
        if self.positions.empty:
            return pd.Series(dtype=float)
        return self.positions.groupby("symbol")["book_weight"].sum()

    def signal_rows(self) -> pd.DataFrame:
        """strategies.signals rows: strategy='portfolio', leg='<strategy>:<leg>'."""
        p = self.positions[self.positions["book_weight"] != 0]
        return pd.DataFrame(
            {
                "date": pd.Timestamp(self.as_of),
                "strategy": PORTFOLIO,
                "symbol": p["symbol"].to_numpy(),
                "leg": (p["strategy"] + ":" + p["leg"]).to_numpy(),
                "target_weight": p["book_weight"].to_numpy(float),
                "reason": p["reason"].to_numpy(),
            }
        )

    def equity_rows(self) -> pd.DataFrame:
        """strategies.equity_curves rows of the book's paper record (strategy='portfolio')."""
        eq = self.drawdown["curve"]
        peak = np.maximum(eq.cummax().to_numpy(float), self.equity)
        return pd.DataFrame(
            {
                "strategy": PORTFOLIO,
                "date": pd.to_datetime(eq.index),
                "equity": eq.to_numpy(float),
                "drawdown": eq.to_numpy(float) / peak - 1.0,
                "daily_return": self.drawdown["returns"].to_numpy(float),
            }
        )

    def snapshot_rows(self, groups: Mapping[str, str]) -> pd.DataFrame:
        """strategies.risk_snapshot rows of the book (metrics in BOOK_METRICS)."""
        book = self.book
        lim = self.config.limits
        dd = self.drawdown
        rows = [
            ("equity", PORTFOLIO, self.equity),
            ("gross_exposure", PORTFOLIO, float(book.abs().sum())),
            ("net_exposure", PORTFOLIO, float(book.sum())),
            ("gross_limit", PORTFOLIO, lim.max_gross),
            ("net_limit", PORTFOLIO, lim.max_net),
            ("drawdown", PORTFOLIO, dd["drawdown"]),
            ("peak_equity", PORTFOLIO, dd["peak_equity"]),
            ("drawdown_scale", PORTFOLIO, dd["scale"]),
            ("drawdown_state_code", PORTFOLIO, STATE_CODE[dd["state"]]),
            ("derisk_at", PORTFOLIO, self.config.drawdown.derisk_at),
            ("halt_at", PORTFOLIO, self.config.drawdown.halt_at),
            ("n_positions", PORTFOLIO, float((book != 0).sum())),
        ]
        by_group = book.groupby(lambda s: groups.get(s, "ungrouped"))
        for g, w in by_group:
            rows.append(("gross_exposure", str(g), float(w.abs().sum())))
            rows.append(("net_exposure", str(g), float(w.sum())))
            cap = lim.group_gross_by.get(str(g), lim.group_gross)
            if cap is not None:
                rows.append(("gross_limit", str(g), float(cap)))
        frame = pd.DataFrame(rows, columns=["metric", "scope", "value"])
        frame.insert(0, "as_of", pd.Timestamp(self.as_of))
        return frame


def _sleeve_vol(panels: Panels, weights: pd.Series, window: int) -> float:
    """Ex-ante annualised vol of a sleeve: sqrt(w' S w) on its own calendar's last bars."""
    w = weights[weights != 0]
    if w.empty:
        return 0.0
    closes = panels.closes(list(w.index))
    closes = closes[closes.notna().any(axis=1)]
    r = closes.pct_change(fill_method=None).iloc[1:].tail(window).dropna(how="any")
    if len(r) < 10:
        return float("nan")
    span = (r.index[-1] - r.index[0]).days or 1
    per_year = 365.0 * len(r) / span if len(r) > 1 else 252.0
    cov = r.cov().to_numpy() * per_year
    x = w.reindex(r.columns).to_numpy(float)
    return float(np.sqrt(max(x @ cov @ x, 0.0)))


def build_target_portfolio(
    run: LibraryRun, panels: Panels, universe: Universe, config: BookConfig | None = None
) -> TargetPortfolio:
    """Combine today's strategy weights into one sized, limit-checked book (module doc)."""
    config = config or BookConfig()
    latest = run.latest
    names = list(run.returns)  # strategies that ran (skipped ones get no capital)
    if config.capital_split:
        total = sum(config.capital_split.get(n, 0.0) for n in names)
        share = {n: config.capital_split.get(n, 0.0) / total if total else 0.0 for n in names}
    else:
        share = {n: 1.0 / len(names) for n in names} if names else {}
    per_strategy = (
        latest.groupby(["strategy", "symbol"])["target_weight"].sum()
        if not latest.empty
        else pd.Series(dtype=float)
    )
    vols = pd.Series(
        {
            n: _sleeve_vol(panels, per_strategy.get(n, pd.Series(dtype=float)), config.vol_window)
            for n in names
        },
        dtype=float,
    )
    if config.sizing_rule == "volatility_target":
        sized = sizing.volatility_target(
            vols.fillna(0.0), config.target_vol, max_weight=config.max_sleeve_scale
        )
        scale = pd.Series(np.asarray(sized.size, dtype=float), index=vols.index)
        bound = pd.Series(sized.bound, index=vols.index)
        explain = {
            n: (
                f"volatility target {config.target_vol:.0%}: ex-ante sleeve vol "
                f"{vols[n]:.1%} -> scale {scale[n]:.3g}"
                + (f" (capped at {config.max_sleeve_scale:g})" if bound[n] != sizing.NO_CAP else "")
            )
            if vols[n] > 0
            else "flat sleeve"
            for n in names
        }
    elif config.sizing_rule == "strategy_weights":
        scale = pd.Series(1.0, index=vols.index)
        bound = pd.Series(sizing.NO_CAP, index=vols.index)
        explain = {n: "strategy weights as given" for n in names}
    else:
        raise ValueError(f"unknown sizing_rule {config.sizing_rule!r}")

    dd = _drawdown_state(run, share, scale, config)
    pos = (
        latest[latest["strategy"].isin(names)].copy()
        if not latest.empty
        else pd.DataFrame(columns=["strategy", "symbol", "leg", "target_weight"])
    )
    pos["share"] = pos["strategy"].map(share).astype(float)
    pos["sleeve_scale"] = pos["strategy"].map(scale).astype(float)
    pos["pre_limit"] = pos["target_weight"] * pos["share"] * pos["sleeve_scale"] * dd["scale"]
    groups, classes = memberships_from_universe(universe)
    pre = pos.groupby("symbol")["pre_limit"].sum()
    limits = pd.DataFrame()
    limit_scale = pd.Series(1.0, index=pre.index)
    if len(pre):
        after, limits = apply_exposure_limits(
            pre, config.limits, groups=groups, asset_class=classes
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            limit_scale = (after / pre).where(pre != 0, 1.0).fillna(1.0)
    pos["limit_scale"] = pos["symbol"].map(limit_scale).astype(float)
    pos["book_weight"] = pos["pre_limit"] * pos["limit_scale"]
    pos["reason"] = [_reason(r, share, explain, dd, limits) for r in pos.to_dict("records")]
    pos = pos.rename(columns={"target_weight": "strategy_weight"})
    sleeves = pd.DataFrame(
        {
            "strategy": names,
            "share": [share[n] for n in names],
            "sleeve_vol": vols.reindex(names).to_numpy(float),
            "scale": scale.reindex(names).to_numpy(float),
            "bound": bound.reindex(names).to_numpy(),
            "explain": [explain[n] for n in names],
        }
    )
    cols = ["strategy", "symbol", "leg", "strategy_weight", "share", "sleeve_scale",
            "limit_scale", "book_weight", "reason"]  # fmt: skip
    return TargetPortfolio(
        run.as_of, config.capital, pos[cols].reset_index(drop=True), sleeves, limits, dd, config
    )


def _drawdown_state(
    run: LibraryRun, share: Mapping[str, float], scale: pd.Series, config: BookConfig
) -> dict[str, Any]:
    """risk.limits drawdown state of the book's paper record: sleeve returns weighted by
    today's shares and scales, over the last `drawdown_lookback` bars."""
    if not run.returns:
        return {
            "state": "normal",
            "scale": 1.0,
            "drawdown": 0.0,
            "peak_equity": config.capital,
            "curve": pd.Series(dtype=float),
            "returns": pd.Series(dtype=float),
        }
    frame = pd.concat(run.returns, axis=1).sort_index().fillna(0.0)
    weights = pd.Series({n: share[n] * float(scale[n]) for n in frame.columns})
    book = (frame * weights).sum(axis=1).tail(config.drawdown_lookback)
    equity = config.capital * (1.0 + book).cumprod()
    states = drawdown_states(equity, config.drawdown, initial=config.capital)
    last = states.iloc[-1]
    return {
        "state": str(last["state"]),
        "scale": float(last["scale"]),
        "drawdown": float(last["drawdown"]),
        "peak_equity": float(max(equity.max(), config.capital)),
        "paper_equity": float(equity.iloc[-1]),
        "curve": equity,
        "returns": book,
    }


def _reason(
    r: Mapping[str, Any],
    share: Mapping[str, float],
    explain: Mapping[str, str],
    dd: Mapping[str, Any],
    limits: pd.DataFrame,
) -> str:
    parts = [
        f"{share[r['strategy']]:.1%} of capital to {r['strategy']}",
        explain[r["strategy"]],
        f"drawdown {dd['drawdown']:.1%} ({dd['state']}, scale {dd['scale']:g})",
    ]
    bound = bound_limits(limits, r["symbol"])
    if bound:
        parts.append(f"bound by {', '.join(bound)} (x{r['limit_scale']:.3g})")
    else:
        parts.append("no exposure limit bound")
    return "; ".join(parts)


def bound_limits(limits: pd.DataFrame, symbol: str, members: Mapping | None = None) -> list[str]:
    """Names of the exposure limits that scaled `symbol` (its name cap, its buckets)."""
    if limits is None or limits.empty:
        return []
    rep = limits.reset_index()
    hit = rep[rep["bound"].astype(bool)]
    out = []
    for row in hit.itertuples(index=False):
        if row.kind == "name" and row.key != symbol:
            continue
        out.append(f"{row.kind} {row.key} {row.measure} <= {row.limit:g}")
    return out


def library_from_tables(signals: pd.DataFrame, equity: pd.DataFrame, as_of: dt.date) -> LibraryRun:
    """A `LibraryRun` rebuilt from stored strategies.signals and strategies.equity_curves rows
    (what `build_target_portfolio` needs: today's and the previous bar's weights, returns)."""
    sig = signals[signals["strategy"] != PORTFOLIO].copy()
    sig["date"] = pd.to_datetime(sig["date"])
    sig = sig[sig["date"] <= pd.Timestamp(as_of)]
    latest = []
    for _name, g in sig.groupby("strategy", sort=True):
        dates = sorted(g["date"].unique())
        today = g[g["date"] == dates[-1]].copy()
        prev = (
            g[g["date"] == dates[-2]].set_index(["symbol", "leg"])["target_weight"]
            if len(dates) > 1
            else pd.Series(dtype=float)
        )
        today["prev_weight"] = [
            float(prev.get((s, leg), 0.0))
            for s, leg in zip(today["symbol"], today["leg"], strict=False)
        ]
        latest.append(today)
    latest_frame = (
        pd.concat(latest, ignore_index=True)
        if latest
        else pd.DataFrame(
            columns=["strategy", "symbol", "leg", "date", "target_weight", "prev_weight", "reason"]
        )
    )
    returns = {}
    for name, g in equity.groupby("strategy", sort=True):
        if name == PORTFOLIO or name not in set(latest_frame["strategy"]):
            continue
        returns[str(name)] = (
            g.set_index(pd.to_datetime(g["date"]))["daily_return"]
            .dropna()
            .sort_index()
            .rename(name)
        )
    return LibraryRun(as_of, sig, latest_frame, pd.DataFrame(), pd.DataFrame(), returns, {})


def read_book(wh: Any, as_of: dt.date) -> pd.DataFrame:
    """The stored target book of as_of: symbol, strategy, leg, book_weight, reason."""
    rows = wh.read_table(
        "strategies.signals", start=as_of, end=as_of, where={"strategy": PORTFOLIO}
    )
    split = rows["leg"].str.split(":", n=1, expand=True) if len(rows) else None
    return pd.DataFrame(
        {
            "symbol": rows["symbol"].to_numpy(),
            "strategy": split[0].to_numpy() if split is not None else [],
            "leg": split[1].to_numpy() if split is not None else [],
            "book_weight": rows["target_weight"].to_numpy(float),
            "reason": rows["reason"].to_numpy(),
        }
    )


# --- 3. recommendations -----------------------------------------------------------------

_CLAUSE = re.compile(
    r"^\s*(?P<name>[A-Za-z_]\w*)=(?P<value>\S+)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?:(?P<thr_name>[A-Za-z_]\w*)=)?(?P<thr>\S+)\s*$"
)
_FIELD = re.compile(r"^(?P<field>[A-Za-z_]\w*): (?P<rest>.*)$")


def parse_conditions(text: str | None) -> list[dict[str, Any]]:
    """'entry_long: zscore_20=-2.31 < -2; tr_rsi_14=27.4 < 30' -> one dict per clause
    (name, value, op, threshold, detail); clauses that are not comparisons keep their text."""
    if not text or (isinstance(text, float) and math.isnan(text)):
        return []
    out = []
    field_name = ""
    for clause in str(text).split("; "):
        m = _FIELD.match(clause)
        if m is not None:
            field_name, clause = m["field"], m["rest"]
        c = _CLAUSE.match(clause)
        if c is None:
            out.append({"name": field_name or "signal", "detail": clause})
            continue
        detail = field_name + (f" (vs {c['thr_name']})" if c["thr_name"] else "")
        out.append(
            {
                "name": c["name"],
                "value": _finite(c["value"]),
                "op": c["op"],
                "threshold": _finite(c["thr"]),
                "detail": detail or None,
            }
        )
    return out


def next_session(as_of: dt.date, calendar: str = "NYSE") -> dt.date:
    """The first session strictly after as_of."""
    return sessions(calendar, as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=14))[0].date()


def stop_levels(
    rules: StopRules, entry: float, side: int, atr: float | None
) -> tuple[float | None, float | None]:
    """Stop and target of a position entered at `entry` (risk.stops conventions: at entry a
    trailing level equals its fixed counterpart; the tightest stop wins)."""
    if side == 0 or not math.isfinite(entry):
        return None, None
    stops = []
    for pct in (rules.stop_pct, rules.trail_pct):
        if pct is not None:
            stops.append(entry * (1.0 - side * pct))
    a = atr if atr is not None and math.isfinite(atr) else None
    for k in (rules.atr_multiple, rules.atr_trail_multiple):
        if k is not None and a is not None:
            stops.append(entry - side * k * a)
    stop = (max(stops) if side > 0 else min(stops)) if stops else None
    targets = []
    if rules.take_profit_pct is not None:
        targets.append(entry * (1.0 + side * rules.take_profit_pct))
    if rules.take_profit_atr is not None and a is not None:
        targets.append(entry + side * rules.take_profit_atr * a)
    target = (min(targets) if side > 0 else max(targets)) if targets else None
    return stop, target


def _rules_for(spec: Strategy | None, config: BookConfig) -> StopRules:
    default = StopRules(
        atr_multiple=config.default_stop_atr, take_profit_atr=config.default_target_atr
    )
    stop = getattr(spec, "stop", None)
    if stop is None:
        return default
    own = stop.to_rules()
    if own.take_profit_pct is None and own.take_profit_atr is None:
        own = StopRules(**{**own.__dict__, "take_profit_atr": config.default_target_atr})
    return own


def _rule_values(spec: Strategy | None, panels: Panels, symbol: str) -> dict[str, float | None]:
    """Today's values of the features a single-leg strategy's rules read."""
    if spec is None or isinstance(spec, PairStrategy | FlyStrategy):
        return {}
    names: set[str] = set()
    for text, _kind in spec.rule_fields().values():
        names |= rl.names(rl.parse(text, kind=_kind))
    if hasattr(spec, "effective_rules"):
        for text in spec.effective_rules().model_dump().values():
            if text:
                names |= rl.names(rl.parse(text))
    f = panels.features
    row = f[f["symbol"] == symbol].sort_values("date").tail(1)
    return {n: _finite(row[n].iloc[0]) for n in sorted(names) if n in f.columns and len(row)}


def _stats_json(stats: pd.DataFrame, strategy: str) -> dict[str, float | None]:
    s = stats[stats["strategy"] == strategy].set_index("metric")["value"]
    return {str(k): _finite(v) for k, v in s.items()}


def _events_json(
    symbol: str, economic: pd.DataFrame, security: pd.DataFrame
) -> list[dict[str, Any]]:
    out = []
    for r in economic.to_dict("records"):
        out.append(
            {"date": pd.Timestamp(r["release_date"]).date().isoformat(), "kind": "economic",
             "code": r["event_code"], "name": r["name"],
             "consensus": _finite(r.get("consensus")), "previous": _finite(r.get("previous"))}
        )  # fmt: skip
    sec = security[security["symbol"] == symbol] if len(security) else security
    for r in sec.to_dict("records"):
        out.append(
            {"date": pd.Timestamp(r["event_date"]).date().isoformat(), "kind": r["event_type"],
             "code": r["event_type"], "name": f"{symbol} {r['event_type']}",
             "consensus": _finite(r.get("consensus")), "previous": None}
        )  # fmt: skip
    return sorted(out, key=lambda e: (e["date"], e["kind"], e["code"]))


RECOMMENDATION_COLUMNS = [
    "date", "strategy", "symbol", "leg", "side", "target_weight", "quantity", "notional",
    "entry_price", "stop_price", "target_price", "conditions", "sizing_rule", "sizing_reason",
    "stats", "events", "scenario_pnl", "is_sample",
]  # fmt: skip


def build_recommendations(
    book: pd.DataFrame,
    signals: pd.DataFrame,
    panels: Panels,
    specs: Mapping[str, Strategy],
    *,
    stats: pd.DataFrame,
    scenario_returns: pd.DataFrame | None,
    economic: pd.DataFrame,
    security: pd.DataFrame,
    config: BookConfig | None = None,
    trade_date: dt.date | None = None,
    fractional: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """strategies.recommendations rows for the next session (module doc).

    book: `read_book` of as_of; signals: the library's strategies.signals rows of the last
    bars (today's weight and reason, and the bar before for `close` rows);
    scenario_returns: strategies.scenario_results of as_of (scenario, symbol, scenario_return);
    economic / security: events of the next `events_days` days; `fractional`: symbols traded
    in fractions (crypto), the others in whole shares (quantity rounded down, notional =
    quantity x entry, target_weight the book's).
    """
    config = config or BookConfig()
    as_of = panels.as_of
    day = trade_date or next_session(as_of)
    if not len(book) and not len(signals):
        # No strategy ran today (every one skipped, with its reason in the signals
        # metadata): nothing to recommend, and no bars to price it from.
        return pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
    close = panels.last_close()
    atr = panels.atr_price()
    sample = panels.is_sample()
    equity = config.capital
    lib = signals[signals["strategy"] != PORTFOLIO].copy()
    lib["date"] = pd.to_datetime(lib["date"])
    rows = []
    keys = set()
    econ = economic.drop_duplicates(["event_code", "release_date"]) if len(economic) else economic
    sec = (
        security.drop_duplicates(["symbol", "event_date", "event_type"])
        if len(security)
        else security
    )
    for r in book.sort_values(["strategy", "symbol", "leg"]).to_dict("records"):
        s, sym, leg = r["strategy"], r["symbol"], r["leg"]
        if float(r["book_weight"]) == 0:
            continue
        keys.add((s, sym, leg))
        spec = specs.get(s)
        w = float(r["book_weight"])
        side = 1 if w > 0 else -1
        entry = float(close.get(sym, np.nan))
        qty = abs(w) * equity / entry if entry > 0 else 0.0
        if sym not in fractional:
            qty = float(math.floor(qty))  # whole shares for listed instruments
        multi = isinstance(spec, PairStrategy | FlyStrategy)
        stop, target = (
            (None, None)
            if multi
            else stop_levels(_rules_for(spec, config), entry, side, _finite(atr.get(sym)))
        )
        mine = lib[(lib["strategy"] == s) & (lib["symbol"] == sym) & (lib["leg"] == leg)]
        today = mine.sort_values("date").tail(1)
        reason = str(today["reason"].iloc[0]) if len(today) else ""
        fired = reason.split("; last fired ", 1)
        conditions = {
            "signal": reason,
            "fired": parse_conditions(fired[1].split(": ", 1)[1] if len(fired) > 1 else reason),
            "values": _rule_values(spec, panels, sym),
        }
        if multi:
            conditions["exits"] = {k: v for k, v in spec.rules.model_dump().items() if v}
        rows.append(
            {
                "strategy": s, "symbol": sym, "leg": leg,
                "side": "buy" if side > 0 else "sell",
                "target_weight": w, "quantity": qty, "notional": side * qty * entry,
                "entry_price": entry, "stop_price": stop, "target_price": target,
                "conditions": to_json(conditions),
                "sizing_rule": _sizing_rule(config),
                "sizing_reason": str(r["reason"]),
                "stats": to_json(_stats_json(stats, s)),
                "events": to_json(_events_json(sym, econ, sec)),
                "scenario_pnl": to_json(_scenario_json(scenario_returns, sym, side * qty * entry)),
            }
        )  # fmt: skip
    # positions a strategy held on its previous bar and no longer wants
    for (s, sym, leg), g in lib.groupby(["strategy", "symbol", "leg"], sort=True):
        if (s, sym, leg) in keys:
            continue
        g = g.sort_values("date")
        if len(g) < 2 or g["target_weight"].iloc[-1] != 0 or g["target_weight"].iloc[-2] == 0:
            continue
        entry = float(close.get(sym, np.nan))
        rows.append(
            {
                "strategy": s, "symbol": sym, "leg": leg, "side": "close",
                "target_weight": 0.0, "quantity": 0.0, "notional": 0.0,
                "entry_price": entry, "stop_price": None, "target_price": None,
                "conditions": to_json({"signal": str(g["reason"].iloc[-1]),
                                       "fired": parse_conditions(g["reason"].iloc[-1]),
                                       "values": _rule_values(specs.get(s), panels, sym)}),
                "sizing_rule": _sizing_rule(config),
                "sizing_reason": "exit: the strategy's target is flat",
                "stats": to_json(_stats_json(stats, s)),
                "events": to_json(_events_json(sym, econ, sec)),
                "scenario_pnl": to_json({}),
            }
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=[c for c in RECOMMENDATION_COLUMNS if c != "date"])
    frame.insert(0, "date", pd.Timestamp(day))
    frame["is_sample"] = sample
    return frame[RECOMMENDATION_COLUMNS].sort_values(
        ["strategy", "symbol", "leg"], ignore_index=True
    )


def _sizing_rule(config: BookConfig) -> str:
    split = "custom capital split" if config.capital_split else "equal capital split"
    if config.sizing_rule == "volatility_target":
        return (
            f"{split}; volatility target {config.target_vol:.0%} per strategy sleeve "
            f"(scale <= {config.max_sleeve_scale:g}); drawdown and exposure limits"
        )
    return f"{split}; strategy weights as given; drawdown and exposure limits"


def _scenario_json(
    scenario_returns: pd.DataFrame | None, symbol: str, market_value: float
) -> dict[str, float | None]:
    """Scenario -> PnL of this position (its market value x the symbol's scenario return)."""
    if scenario_returns is None or scenario_returns.empty:
        return {}
    s = scenario_returns[scenario_returns["symbol"] == symbol]
    return {
        str(r["scenario"]): _finite(market_value * float(r["scenario_return"]))
        for r in s.sort_values("scenario").to_dict("records")
    }
