"""Stress scenarios: named crises with their real market moves, factor shocks and replays, as PnL.

Scenarios live in YAML (scenarios.yaml beside this module, extended by a user file) and are
validated strictly: a typo is a load error naming the scenario and the field.

Conventions:
- Returns are simple daily returns (dates x symbols). For covariances the panel is put on
  the market symbol's calendar (24/7 assets compound weekends into Monday).
- Historical (crisis) scenarios carry the real moves of their window as data (`moves`:
  index returns, the 10-year yield change in bp, oil, gold, dollar, bitcoin, VIX) and are
  applied like hypothetical shocks: every asset moves by E[r | moved factors = moves],
  conditioning on the moved factors that have proxy data in the estimation window (the
  others are left out and named in the result's notes). A crisis name therefore never
  replays whatever prices the warehouse happens to hold (sample data included).
- Hypothetical shocks: factor f's daily series is proxy return / scale (scale = beta for
  return factors, -duration / 10000 for yield factors in bp), unless a factor series is
  given. An asset's move is E[r | shocked factors = s] = Sigma_af Sigma_ff^-1 s (covariances
  of demeaned daily returns over the estimation window, no drift: a shock is a move, not a
  horizon). `others: free` conditions on the shocked factors only (the rest move with their
  correlation); `others: zero` also holds every unshocked factor at 0. Assets without
  enough data take their group's mean move, else the market symbol's. Moves are floored
  at -100%.
- Replay (kind `replay`): an asset's return over a window is prod(1 + r) - 1 over its
  returns dated start < date <= end (close of start to close of end); the window is given,
  or is the market symbol's worst `worst_sessions`-session window before as_of. An asset
  "has data" when its returns reach within COVERAGE_SLACK_DAYS calendar days of both ends.
  Others are proxied: beta x (equal-weight window return of the group members with data),
  beta by OLS of the asset on its group's leave-one-out equal-weight daily return over its
  history; without such a group, beta x the market symbol's window return. Too little
  history: beta = 1.
- PnL of a position = market value x return (shorts have negative value); the total is
  the sum of the position PnLs, so positions and groups add up to it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from quant_assets.sim.events import UNGROUPED, compound_onto

DEFAULT_PATH = Path(__file__).with_name("scenarios.yaml")
COVERAGE_SLACK_DAYS = 5
MIN_PROXY_OBSERVATIONS = 60


class ScenarioError(ValueError):
    """A scenario file is invalid, or a scenario cannot be computed on the given data."""


# --------------------------------------------------------------------------- the file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxySpec(_Strict):
    symbol: str
    beta: StrictFloat | None = None  # return factors: proxy return per unit factor return
    duration: StrictFloat | None = None  # yield factors: years; proxy return = -duration x bp / 1e4


class FactorSpec(_Strict):
    kind: Literal["return", "yield_bp"]
    description: str = ""
    proxies: list[ProxySpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _proxy_fields(self) -> FactorSpec:
        for n, p in enumerate(self.proxies):
            if self.kind == "yield_bp":
                if p.duration is None or not p.duration > 0:
                    raise ValueError(
                        f"proxies.{n}.duration: a yield_bp proxy needs a positive duration"
                    )
                if p.beta is not None:
                    raise ValueError(
                        f"proxies.{n}.beta: not used by yield_bp factors; give duration"
                    )
            else:
                if p.duration is not None:
                    raise ValueError(f"proxies.{n}.duration: only yield_bp factors take a duration")
                if p.beta is not None and (p.beta == 0 or not math.isfinite(p.beta)):
                    raise ValueError(f"proxies.{n}.beta: must be a finite non-zero number")
        return self

    def scale(self, proxy: ProxySpec) -> float:
        """Proxy return per unit of factor shock."""
        if self.kind == "yield_bp":
            return -float(proxy.duration) / 1e4
        return 1.0 if proxy.beta is None else float(proxy.beta)


def _check_finite(value: dict[str, float]) -> dict[str, float]:
    for name, x in value.items():
        if not math.isfinite(x):
            raise ValueError(f"move for {name!r} must be finite, got {x}")
    return value


class HistoricalScenario(_Strict):
    """A named crisis: its window and the real market moves over it (factor -> move)."""

    kind: Literal["historical"]
    description: str = ""
    start: dt.date
    end: dt.date
    moves: dict[str, StrictFloat] = Field(min_length=1)

    @field_validator("moves")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_finite(value)

    @model_validator(mode="after")
    def _ordered(self) -> HistoricalScenario:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end} is not after start {self.start}")
        return self

    @property
    def shocks(self) -> dict[str, float]:
        return dict(self.moves)


class ReplayScenario(_Strict):
    """The warehouse's own returns over a window: given, or the market's worst N sessions."""

    kind: Literal["replay"]
    description: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    worst_sessions: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _window(self) -> ReplayScenario:
        dated = self.start is not None or self.end is not None
        if dated and self.worst_sessions is not None:
            raise ValueError("worst_sessions: give either start/end or worst_sessions, not both")
        if not dated and self.worst_sessions is None:
            raise ValueError("start: a replay needs start and end, or worst_sessions")
        if dated and (self.start is None or self.end is None):
            raise ValueError("end: a dated replay needs both start and end")
        if dated and self.end <= self.start:
            raise ValueError(f"end: {self.end} is not after start {self.start}")
        return self


class HypotheticalScenario(_Strict):
    kind: Literal["hypothetical"]
    description: str = ""
    shocks: dict[str, StrictFloat] = Field(min_length=1)
    others: Literal["free", "zero"] = "free"

    @field_validator("shocks")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_finite(value)


Scenario = Annotated[
    HistoricalScenario | ReplayScenario | HypotheticalScenario, Field(discriminator="kind")
]
AnyScenario = HistoricalScenario | ReplayScenario | HypotheticalScenario


class EstimationSpec(_Strict):
    lookback_days: int = Field(default=756, ge=30)
    min_observations: int = Field(default=120, ge=10)


class _ScenarioFile(_Strict):
    version: Literal[1] = 1
    market: str | None = None
    estimation: EstimationSpec | None = None
    factors: dict[str, FactorSpec] = Field(default_factory=dict)
    scenarios: dict[str, Scenario] = Field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSet:
    """Validated scenarios with the factors they shock."""

    market: str
    estimation: EstimationSpec
    factors: dict[str, FactorSpec]
    scenarios: dict[str, AnyScenario]
    sources: list[Path] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.scenarios)

    def __getitem__(self, name: str) -> AnyScenario:
        try:
            return self.scenarios[name]
        except KeyError:
            raise KeyError(
                f"unknown scenario {name!r}; known: {', '.join(self.scenarios)}"
            ) from None


def _read(path: Path) -> _ScenarioFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping with factors and scenarios")
    try:
        return _ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_explain(path, exc)) from None


def _explain(path: Path, exc: ValidationError) -> str:
    """Name the scenario (or factor) and the field of each validation error."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] in ("scenarios", "factors"):
            where = f"{loc[0][:-1]} {loc[1]!r}"
            rest = loc[2:]
            if (
                loc[0] == "scenarios"
                and rest
                and rest[0] in ("historical", "replay", "hypothetical")
            ):
                rest = rest[1:]  # the union tag pydantic puts in the path
            fld = ".".join(rest)
            if err["type"].startswith("union_tag"):
                fld = "kind"
        else:
            where, fld = "file", ".".join(loc)
        if not fld and ": " in msg:
            fld, msg = msg.split(": ", 1)  # cross-field rules say "<field>: <reason>"
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        shown = (
            "" if err["type"] in ("missing", "extra_forbidden") else f" (got {err.get('input')!r})"
        )
        if isinstance(err.get("input"), dict | list):
            shown = ""
        problems.append(f"{where}: field {fld or '<entry>'!r}: {msg}{shown}")
    return f"{path}: " + "; ".join(problems)


def load_scenarios(*paths: str | Path, include_default: bool = True) -> ScenarioSet:
    """The packaged scenarios.yaml, then each given file; later names replace earlier ones."""
    files = ([DEFAULT_PATH] if include_default else []) + [Path(p) for p in paths]
    market, estimation = None, EstimationSpec()
    factors: dict[str, FactorSpec] = {}
    scenarios: dict[str, AnyScenario] = {}
    origin: dict[str, Path] = {}
    for path in files:
        parsed = _read(path)
        market = parsed.market or market
        estimation = parsed.estimation or estimation
        factors.update(parsed.factors)
        scenarios.update(parsed.scenarios)
        origin.update(dict.fromkeys(parsed.scenarios, path))
    problems = []
    for name, sc in scenarios.items():
        if isinstance(sc, ReplayScenario):
            continue
        what = "moves" if isinstance(sc, HistoricalScenario) else "shocks"
        for f, x in sc.shocks.items():
            if f not in factors:
                problems.append(
                    f"{origin[name]}: scenario {name!r}: field '{what}.{f}': unknown factor "
                    f"{f!r}; declared: {', '.join(factors) or 'none'}"
                )
            elif factors[f].kind == "return" and x <= -1.0:
                problems.append(
                    f"{origin[name]}: scenario {name!r}: field '{what}.{f}': a return move must "
                    f"be above -1 (-100%), got {x}"
                )
    if market is None:
        problems.append("no file names the market symbol (field 'market')")
    if problems:
        raise ScenarioError("; ".join(problems))
    return ScenarioSet(market, estimation, factors, scenarios, files)


# --------------------------------------------------------------------------- estimation


def _betas(F: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Sigma_ff^-1 Sigma_fa (k, n) from demeaned columns: one multivariate OLS per asset."""
    Fc = F - F.mean(axis=0)
    Yc = Y - Y.mean(axis=0)
    return np.linalg.lstsq(Fc.T @ Fc, Fc.T @ Yc, rcond=None)[0]


def conditional_expectation(
    assets: pd.DataFrame,
    factors: pd.DataFrame,
    shock: Mapping[str, float],
    *,
    min_observations: int = 30,
) -> pd.Series:
    """E[r_asset | factors = shock] = Sigma_af Sigma_ff^-1 shock for every asset column.

    Conditions on exactly the factors named in `shock`. Covariances use the rows where all
    those factors and the asset are present; an asset with fewer than `min_observations`
    such rows gets NaN.
    """
    names = list(shock)
    missing = [f for f in names if f not in factors.columns]
    if missing:
        raise KeyError(f"no factor column for {missing}")
    F = factors[names].astype(np.float64).dropna()
    s = np.array([float(shock[f]) for f in names])
    A = assets.astype(np.float64).reindex(F.index)
    out = pd.Series(np.nan, index=A.columns, dtype=np.float64)
    full = A.notna().all().to_numpy()
    if full.any() and len(F) >= min_observations:
        out.iloc[np.flatnonzero(full)] = s @ _betas(F.to_numpy(), A.iloc[:, full].to_numpy())
    Fv = F.to_numpy()
    for j in np.flatnonzero(~full):
        y = A.iloc[:, j].to_numpy()
        ok = ~np.isnan(y)
        if ok.sum() >= min_observations:
            out.iloc[j] = float(s @ _betas(Fv[ok], y[ok, None])[:, 0])
    return out


def _ols_beta(y: pd.Series, x: pd.Series, min_obs: int) -> float | None:
    both = pd.concat([y, x], axis=1).dropna()
    if len(both) < min_obs:
        return None
    yv, xv = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
    var = np.var(xv, ddof=1)
    if not var > 0:
        return None
    return float(np.cov(yv, xv, ddof=1)[0, 1] / var)


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class ScenarioResult:
    """PnL of one scenario: by_position (market_value, group, return, pnl, method, beta),
    by_group (pnl per group) and total (= by_position.pnl.sum())."""

    name: str
    kind: str
    by_position: pd.DataFrame
    by_group: pd.Series
    total: float
    notes: list[str] = field(default_factory=list)
    factors_used: dict[str, str] = field(default_factory=dict)


class ScenarioEngine:
    """Scenario moves and PnL on one returns panel, as of one date.

    returns: simple daily returns (DatetimeIndex x symbols); groups: symbol -> group;
    factor_series: optional daily factor series in the factor's own units (e.g. yield
    changes in bp for "rates"), used instead of the proxies.
    """

    def __init__(
        self,
        returns: pd.DataFrame,
        scenarios: ScenarioSet | None = None,
        *,
        groups: Mapping[str, str] | None = None,
        factor_series: Mapping[str, pd.Series] | None = None,
        as_of=None,
    ) -> None:
        self.scenarios = scenarios if scenarios is not None else load_scenarios()
        r = returns.astype(np.float64).copy()
        r.index = pd.DatetimeIndex(r.index).tz_localize(None).normalize()
        r.columns = [str(c) for c in r.columns]
        self.as_of = None if as_of is None else pd.Timestamp(as_of).normalize()
        if self.as_of is not None:
            r = r[r.index <= self.as_of]
        self.returns = r.sort_index()
        self.groups = {str(k): str(v) for k, v in (groups or {}).items()}
        self.factor_series = dict(factor_series or {})
        self.market = self.scenarios.market
        if self.market in self.returns:
            sessions = pd.DatetimeIndex(self.returns[self.market].dropna().index)
            self.aligned = compound_onto(self.returns, sessions) if len(sessions) else self.returns
        else:
            self.aligned = self.returns

    def group(self, symbol: str) -> str:
        return self.groups.get(symbol, UNGROUPED)

    # ---- historical replay

    def _window_returns(self, start: dt.date, end: dt.date) -> tuple[pd.Series, pd.Series]:
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        w = self.returns[(self.returns.index > lo) & (self.returns.index <= hi)]
        if w.empty:
            raise ScenarioError(f"the returns panel has no rows in {start}..{end}")
        valid = w.notna()
        total = (1.0 + w).prod(min_count=1) - 1.0
        first = valid.idxmax().where(valid.any())
        last = valid[::-1].idxmax().where(valid.any())
        slack = pd.Timedelta(days=COVERAGE_SLACK_DAYS)
        covered = (first <= lo + slack) & (last >= hi - slack)
        return total, covered.fillna(False).astype(bool)

    def replay(self, start: dt.date, end: dt.date, symbols: Sequence[str]) -> pd.DataFrame:
        """Window return per symbol: replayed where it has data, else proxied (see module doc)."""
        total, covered = self._window_returns(start, end)
        if not covered.any():
            raise ScenarioError(f"no asset has returns covering {start}..{end}")
        out = []
        have = set(covered.index[covered])
        members: dict[str, list[str]] = {}
        for s, g in self.groups.items():
            if s in have:
                members.setdefault(g, []).append(s)
        for s in symbols:
            if s in have:
                out.append((s, float(total[s]), "replay", np.nan))
                continue
            g = self.group(s)
            peers = [p for p in members.get(g, []) if p != s] if g != UNGROUPED else []
            if peers:
                factor = self._group_series(g, exclude=s)
                beta = self._history_beta(s, factor)
                out.append(
                    (s, max(-1.0, beta * float(total[peers].mean())), f"proxy_group:{g}", beta)
                )
            elif self.market in have:
                beta = self._history_beta(s, self.aligned[self.market])
                out.append(
                    (
                        s,
                        max(-1.0, beta * float(total[self.market])),
                        f"proxy_market:{self.market}",
                        beta,
                    )
                )
            else:
                raise ScenarioError(
                    f"{s}: no data over {start}..{end}, no group peer with data and no market "
                    f"({self.market}) data to proxy it"
                )
        return pd.DataFrame(out, columns=["symbol", "return", "method", "beta"]).set_index("symbol")

    def _group_series(self, group: str, *, exclude: str) -> pd.Series:
        cols = [
            s for s, g in self.groups.items() if g == group and s != exclude and s in self.aligned
        ]
        return self.aligned[cols].mean(axis=1)

    def _history_beta(self, symbol: str, factor: pd.Series) -> float:
        if symbol not in self.aligned:
            return 1.0
        beta = _ols_beta(self.aligned[symbol], factor, MIN_PROXY_OBSERVATIONS)
        return 1.0 if beta is None else beta

    # ---- hypothetical shocks

    def estimation_panel(self) -> pd.DataFrame:
        return self.aligned.iloc[-self.scenarios.estimation.lookback_days :]

    def factor_frame(self, names: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
        """Daily factor series over the estimation window, and what each was built from."""
        panel = self.estimation_panel()
        need = self.scenarios.estimation.min_observations
        cols, used = {}, {}
        for name in names:
            spec = self.scenarios.factors[name]
            if name in self.factor_series:
                series = self.factor_series[name].astype(np.float64).copy()
                series.index = pd.DatetimeIndex(series.index).tz_localize(None).normalize()
                cols[name] = series.reindex(panel.index)
                used[name] = "series"
                continue
            for proxy in spec.proxies:
                if proxy.symbol in panel and panel[proxy.symbol].count() >= need:
                    cols[name] = panel[proxy.symbol] / spec.scale(proxy)
                    used[name] = proxy.symbol
                    break
        return pd.DataFrame(cols, index=panel.index), used

    def shock_moves(
        self, scenario: HypotheticalScenario | HistoricalScenario, symbols: Sequence[str]
    ) -> pd.DataFrame:
        """Return per symbol under the scenario's factor shocks (or a crisis's real moves)."""
        return self._conditional_moves(scenario, symbols)[0]

    def _factor_names(self, scenario: HypotheticalScenario | HistoricalScenario) -> list[str]:
        if isinstance(scenario, HypotheticalScenario) and scenario.others == "zero":
            return list(self.scenarios.factors)
        return list(scenario.shocks)

    def _conditional_moves(
        self, scenario: HypotheticalScenario | HistoricalScenario, symbols: Sequence[str]
    ) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
        """Moves, the factor -> proxy used, and the factors left out for lack of data.

        A hypothetical scenario needs every shocked factor; a crisis uses the moves it has
        data for (at least one), since its moves are facts, not a choice of shocks.
        """
        names = self._factor_names(scenario)
        F, used = self.factor_frame(names)
        lacking = [f for f in scenario.shocks if f not in used]
        proxies = {f: [p.symbol for p in self.scenarios.factors[f].proxies] for f in lacking}
        if lacking and (isinstance(scenario, HypotheticalScenario) or len(lacking) == len(names)):
            raise ScenarioError(f"factor(s) without data in the estimation window: {proxies}")
        shock = {f: float(scenario.shocks.get(f, 0.0)) for f in names if f in used}
        panel = self.estimation_panel()
        universe = list(dict.fromkeys([*panel.columns, *symbols]))
        move = conditional_expectation(
            panel.reindex(columns=universe),
            F,
            shock,
            min_observations=self.scenarios.estimation.min_observations,
        )
        method = pd.Series("conditional", index=move.index, dtype=object)
        group = pd.Series([self.group(s) for s in move.index], index=move.index)
        gmean = move.groupby(group).mean().drop(UNGROUPED, errors="ignore")
        fill = group.map(gmean).where(move.isna())
        filled = fill.notna()
        move[filled] = fill[filled]
        method[filled] = "proxy_group:" + group[filled]
        still = move.isna()
        if still.any():
            if pd.isna(move.get(self.market)):
                raise ScenarioError(
                    f"no estimate for {list(move.index[still])} and none for {self.market}"
                )
            move[still] = move[self.market]
            method[still] = f"proxy_market:{self.market}"
        frame = pd.DataFrame({"return": move.clip(lower=-1.0), "method": method, "beta": np.nan})
        skipped = [f for f in names if f not in used]
        return frame.loc[list(symbols)].rename_axis("symbol"), used, skipped

    def worst_window(self, sessions: int) -> tuple[dt.date, dt.date]:
        """(start, end) of the market symbol's worst compounded `sessions`-session return."""
        if self.market not in self.aligned:
            raise ScenarioError(f"no returns of the market symbol {self.market} to find a window")
        m = self.aligned[self.market].dropna()
        if len(m) < sessions + 1:
            raise ScenarioError(
                f"{len(m)} sessions of {self.market} returns: fewer than worst_sessions + 1 "
                f"({sessions + 1})"
            )
        level = np.log1p(m.to_numpy(np.float64)).cumsum()
        change = level[sessions:] - level[:-sessions]  # close of i to close of i + sessions
        i = int(np.argmin(change))
        return m.index[i].date(), m.index[i + sessions].date()

    # ---- portfolio

    def run(self, name: str, positions: Mapping[str, float] | pd.Series) -> ScenarioResult:
        """PnL of `positions` (symbol -> signed market value) under one named scenario."""
        sc = self.scenarios[name]
        pos = pd.Series(positions, dtype=np.float64)
        pos.index = [str(s) for s in pos.index]
        symbols = list(pos.index)
        notes: list[str] = []
        used: dict[str, str] = {}
        if isinstance(sc, ReplayScenario):
            start, end = (
                (sc.start, sc.end) if sc.start is not None else self.worst_window(sc.worst_sessions)
            )
            moves = self.replay(start, end, symbols)
            notes.append(f"replayed window {start.isoformat()}..{end.isoformat()}")
        else:
            moves, used, skipped = self._conditional_moves(sc, symbols)
            if skipped and isinstance(sc, HistoricalScenario):
                notes.append(f"moves without proxy data, not applied: {', '.join(skipped)}")
            elif skipped:
                notes.append(f"unshocked factors without data left free: {', '.join(skipped)}")
        proxied = moves.index[moves["method"].str.startswith("proxy")]
        if len(proxied):
            notes.append(f"proxied: {', '.join(proxied)}")
        by_position = pd.DataFrame(
            {
                "market_value": pos,
                "group": [self.group(s) for s in symbols],
                "return": moves["return"].reindex(symbols),
                "method": moves["method"].reindex(symbols),
                "beta": moves["beta"].reindex(symbols),
            }
        ).rename_axis("symbol")
        by_position["pnl"] = by_position["market_value"] * by_position["return"]
        by_group = by_position.groupby("group")["pnl"].sum()
        total = float(by_position["pnl"].sum())
        return ScenarioResult(name, sc.kind, by_position, by_group, total, notes, used)

    def run_all(
        self, positions: Mapping[str, float] | pd.Series, names: Sequence[str] | None = None
    ) -> tuple[pd.DataFrame, dict[str, ScenarioResult]]:
        """Summary (scenario -> kind, pnl, return on gross exposure, n_proxied, error) and results.

        A scenario the data cannot serve (a window before the panel starts, a factor without
        a proxy) gets its error in the summary instead of stopping the others.
        """
        gross = float(pd.Series(positions, dtype=np.float64).abs().sum())
        results: dict[str, ScenarioResult] = {}
        rows = []
        for n in names or self.scenarios.names:
            try:
                res = self.run(n, positions)
            except ScenarioError as exc:
                rows.append((n, self.scenarios[n].kind, np.nan, np.nan, 0, str(exc)))
                continue
            results[n] = res
            n_proxied = int(res.by_position["method"].str.startswith("proxy").sum())
            ret = res.total / gross if gross else np.nan
            rows.append((n, res.kind, res.total, ret, n_proxied, None))
        columns = ["scenario", "kind", "pnl", "return_on_gross", "n_proxied", "error"]
        return pd.DataFrame(rows, columns=columns).set_index("scenario"), results


def describe(scenarios: ScenarioSet) -> pd.DataFrame:
    """One row per scenario, for listings."""
    rows: list[dict[str, Any]] = []
    for name, sc in scenarios.scenarios.items():
        row: dict[str, Any] = {"scenario": name, "kind": sc.kind, "description": sc.description}
        if isinstance(sc, HistoricalScenario):
            row.update(start=sc.start, end=sc.end, shocks=dict(sc.moves))
        elif isinstance(sc, ReplayScenario):
            row.update(start=sc.start, end=sc.end, worst_sessions=sc.worst_sessions)
        else:
            row.update(shocks=dict(sc.shocks), others=sc.others)
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")
