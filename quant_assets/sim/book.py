"""The day's book under simulation: Monte Carlo fan and risk numbers, scenarios, event
study; warehouse frames in, rows of the strategies.* simulation tables out.

The simulation assets only wire these. Conventions:
- Returns come from derived.fct_returns_daily (point-in-time total returns). A book that
  holds listed symbols is simulated on NYSE sessions: crypto returns of weekends and
  holidays are compounded into the next session (`sim.events.compound_onto`), so every
  row of the panel is one trading day for every symbol.
- Monte Carlo: each model is fitted on the last `lookback_days` calendar days of the
  book's symbols' log returns and simulated (`n_paths` x `n_days`, float32, fixed seed);
  the book is rebalanced daily to its weights (`sim.stochastic.simulate_portfolio`). Fan
  rows are percentiles of cumulative simple return per day ahead (day 0 = 0).
- Risk snapshot metric names: `mc_<model>_<stat>` (VaR/CVaR over the whole horizon,
  drawdown distribution, P(max drawdown >= limit)) plus one-day `hist_*` / `normal_*`
  VaR/CVaR of the book on the same history (`risk.var.portfolio_var`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quant_assets.risk.var import portfolio_var
from quant_assets.sim import risk_measures as rm
from quant_assets.sim.events import classify_events, compound_onto, event_study
from quant_assets.sim.scenarios import ScenarioEngine, ScenarioSet, load_scenarios
from quant_assets.sim.stochastic import (
    CorrelatedGBM,
    GARCHModel,
    MarkovRegimeModel,
    StationaryBootstrap,
    StochasticModel,
    simulate_portfolio,
)
from quant_assets.universe import Universe
from quant_assets.warehouse import Warehouse

if TYPE_CHECKING:
    from quant_assets.compute import Executor
from quant_assets.warehouse.strategy_reads import daily_returns

MODELS = ("gbm", "bootstrap", "regime", "garch")
LEVELS = (0.95, 0.99)
PERCENTILES = (5, 25, 50, 75, 95)
MC_STATS = (
    "horizon_days", "n_paths", "var_95", "cvar_95", "var_99", "cvar_99", "median_return",
    "prob_loss", "median_max_drawdown", "p95_max_drawdown", "prob_max_drawdown_ge_limit",
    "drawdown_limit",
)  # fmt: skip
HIST_METRICS = tuple(
    f"{method}_{stat}_{round(level * 100)}_1d"
    for method in ("hist", "normal")
    for level in LEVELS
    for stat in ("var", "cvar")
)
# Every risk_snapshot metric the monte_carlo asset may write (its slice of the table).
MC_METRICS = (*(f"mc_{m}_{s}" for m in MODELS for s in MC_STATS), *HIST_METRICS)
HISTORY_START = dt.date(1900, 1, 1)
LISTED_CALENDAR_MARKET = "SPY"


def make_model(name: str) -> StochasticModel:
    if name == "gbm":
        return CorrelatedGBM()
    if name == "bootstrap":
        return StationaryBootstrap(mean_block=10.0)
    if name == "regime":
        return MarkovRegimeModel(n_regimes=2)
    if name == "garch":
        return GARCHModel()
    raise ValueError(f"unknown model {name!r}; one of {MODELS}")


def fit_model(name: str, log_returns: pd.DataFrame, seed: int) -> StochasticModel:
    """Fit a model reproducibly: statsmodels' regime search draws its random starting values
    from numpy's global generator, so it runs under a fixed seed (the state is restored)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return make_model(name).fit(log_returns)
    finally:
        np.random.set_state(state)


def primary_groups(universe: Universe) -> dict[str, str]:
    """symbol -> its first group in universe.yaml (the dbt `primary_group`)."""
    return {i.symbol: i.groups[0] for i in universe.instruments}


def wide_returns(long: pd.DataFrame, column: str = "ret_simple") -> pd.DataFrame:
    wide = long.pivot_table(index="date", columns="symbol", values=column, aggfunc="last")
    wide.index = pd.DatetimeIndex(wide.index)
    return wide.sort_index()


def on_trading_days(simple: pd.DataFrame, crypto: set[str]) -> pd.DataFrame:
    """Simple returns on the sessions of the listed symbols (all days if only crypto)."""
    listed = [c for c in simple.columns if c not in crypto]
    if not listed:
        return simple
    sessions = pd.DatetimeIndex(simple[listed].dropna(how="all").index)
    return compound_onto(simple, sessions)


@dataclass(frozen=True)
class MonteCarloOutput:
    fan: pd.DataFrame  # strategies.monte_carlo rows
    snapshot: pd.DataFrame  # strategies.risk_snapshot rows (metrics in MC_METRICS)
    fitted: dict[str, StochasticModel]
    panel: pd.DataFrame  # the log-return panel the models were fitted on


def monte_carlo(
    wh: Warehouse,
    as_of: dt.date,
    book: pd.Series,
    *,
    crypto: set[str],
    models: Sequence[str] = ("gbm", "bootstrap"),
    n_paths: int = 2_000,
    n_days: int = 63,
    seed: int = 0,
    lookback_days: int = 3 * 365,
    drawdown_limit: float = 0.10,
    executor: Executor | None = None,
) -> MonteCarloOutput:
    """Fan chart rows and risk numbers of the book under each model (module doc); with an
    `executor`, each model's path blocks are its tasks (same numbers on every engine)."""
    book = book[book != 0]
    empty = MonteCarloOutput(_fan_frame([]), _snapshot_frame([]), {}, pd.DataFrame())
    if book.empty:
        return empty
    symbols = sorted(book.index)
    long = daily_returns(wh, symbols, as_of - dt.timedelta(days=lookback_days), as_of)
    simple = on_trading_days(wide_returns(long).reindex(columns=symbols), crypto)
    simple = simple.dropna(how="any")
    logs = np.log1p(simple)
    weights = book.reindex(symbols).astype(float)
    fan_rows, snap = [], []
    fitted: dict[str, StochasticModel] = {}
    for name in models:
        model = fit_model(name, logs, seed)
        fitted[name] = model
        paths = simulate_portfolio(
            model, weights, n_paths, n_days, seed, dtype=np.float32, executor=executor
        )
        fan = rm.fan_chart(paths, PERCENTILES)
        fan_rows.append(("portfolio", name, as_of, 0, *([0.0] * len(PERCENTILES))))
        for day, row in fan.iterrows():
            fan_rows.append(
                ("portfolio", name, as_of, int(day), *(float(row[f"p{p}"]) for p in PERCENTILES))
            )
        s = rm.risk_summary(paths, levels=LEVELS, drawdown_limit=drawdown_limit)
        values = {
            "horizon_days": float(n_days),
            "n_paths": float(n_paths),
            "var_95": s["var_95"],
            "cvar_95": s["cvar_95"],
            "var_99": s["var_99"],
            "cvar_99": s["cvar_99"],
            "median_return": s["median_return"],
            "prob_loss": s["prob_loss"],
            "median_max_drawdown": s["median_max_drawdown"],
            "p95_max_drawdown": s["p95_max_drawdown"],
            "prob_max_drawdown_ge_limit": s[f"prob_drawdown_ge_{drawdown_limit:g}"],
            "drawdown_limit": drawdown_limit,
        }
        snap += [(as_of, f"mc_{name}_{k}", "portfolio", float(v)) for k, v in values.items()]
    hist = portfolio_var(weights, simple, LEVELS, horizon=1)
    for level, row in hist.iterrows():
        method = "hist" if row["method"] == "historical" else "normal"
        for stat in ("var", "cvar"):
            snap.append(
                (as_of, f"{method}_{stat}_{round(level * 100)}_1d", "portfolio", float(row[stat]))
            )
    return MonteCarloOutput(_fan_frame(fan_rows), _snapshot_frame(snap), fitted, logs)


def _fan_frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["subject", "model", "as_of", "day", *(f"p{p:02d}" for p in PERCENTILES)]
    frame = pd.DataFrame(rows, columns=cols)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    return frame


def _snapshot_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["as_of", "metric", "scope", "value"])
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    return frame


# --- scenarios ---------------------------------------------------------------------------

METHODS = {"replay": "replay", "conditional": "factor"}


def scenario_symbols(
    book: Sequence[str], scenarios: ScenarioSet, groups: Mapping[str, str]
) -> list[str]:
    """The returns a scenario run needs: the book, the factor proxies, the market, and the
    group peers used to proxy a symbol without data over a historical window."""
    proxies = {p.symbol for f in scenarios.factors.values() for p in f.proxies}
    mine = {groups.get(s) for s in book}
    peers = {s for s, g in groups.items() if g in mine}
    return sorted({*book, *proxies, scenarios.market, *peers})


def scenario_results(
    wh: Warehouse,
    as_of: dt.date,
    market_values: pd.Series,
    groups: Mapping[str, str],
    scenarios: ScenarioSet | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """strategies.scenario_results rows (one per scenario x position) and the run summary
    (scenario, kind, pnl, return_on_gross, n_proxied, error)."""
    scenarios = scenarios or load_scenarios()
    mv = market_values[market_values != 0].astype(float)
    cols = ["as_of", "scenario", "symbol", "group_name", "market_value", "scenario_return",
            "pnl", "method"]  # fmt: skip
    if mv.empty:
        return pd.DataFrame(columns=cols), pd.DataFrame()
    symbols = scenario_symbols(list(mv.index), scenarios, groups)
    long = daily_returns(wh, symbols, HISTORY_START, as_of)
    engine = ScenarioEngine(
        wide_returns(long), scenarios, groups={s: groups.get(s, "ungrouped") for s in symbols},
        as_of=as_of,
    )  # fmt: skip
    summary, results = engine.run_all(mv)
    rows = []
    for name, res in results.items():
        p = res.by_position.reset_index()
        method = p["method"].map(lambda m: METHODS.get(m, "proxied"))
        rows.append(
            pd.DataFrame(
                {
                    "as_of": pd.Timestamp(as_of),
                    "scenario": name,
                    "symbol": p["symbol"].to_numpy(),
                    "group_name": p["group"].to_numpy(),
                    "market_value": p["market_value"].to_numpy(float),
                    "scenario_return": p["return"].to_numpy(float),
                    "pnl": p["pnl"].to_numpy(float),
                    "method": method.to_numpy(),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
    return frame[cols], summary


# --- event study ---------------------------------------------------------------------------


def event_study_rows(
    wh: Warehouse, as_of: dt.date, groups: Mapping[str, str], market: str = "SPY"
) -> tuple[pd.DataFrame, int]:
    """strategies.event_study rows: per (event class, bucket) the group aggregates
    (symbol 'all') and the per-symbol ones; and the number of events studied."""
    long = daily_returns(wh, None, HISTORY_START, as_of)
    returns = wide_returns(long)
    cols = ["as_of", "event_class", "bucket", "group_name", "symbol", "n_events", "mean_car",
            "std_car", "t_stat"]  # fmt: skip
    if market not in returns:
        return pd.DataFrame(columns=cols), 0
    events = classify_events(
        wh.read_table("events.economic_events", end=as_of),
        wh.read_table("events.security_events", end=as_of),
        wh.read_table("events.geopolitical_events", end=as_of),
        as_of=as_of,
    )
    frames = []
    n_events = 0
    for by in ("group", "symbol"):
        study = event_study(returns, returns[market], events, groups=groups, by=by, as_of=as_of)
        n_events = max(n_events, len(study.events))
        s = study.summary.reset_index()
        if by == "group":
            s["group_name"], s["symbol"] = s["key"], "all"
        else:
            s["group_name"] = s["key"].map(lambda k: groups.get(k, "ungrouped"))
            s["symbol"] = s["key"]
        frames.append(s)
    out = pd.concat(frames, ignore_index=True)
    out["as_of"] = pd.Timestamp(as_of)
    out = out.replace({np.inf: np.nan, -np.inf: np.nan})
    return out[cols].reset_index(drop=True), n_events
