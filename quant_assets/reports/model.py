"""The plain-data inputs of the SOD and EOD reports: what the Dagster layer fills from assets.

Every number is a `Num`: a value plus an optional `source` (the asset key it came from,
e.g. "strategies/recommendations"). A field accepts a bare float, a `(value, source)`
pair, a dict or a `Num`. A row or section may set `source` once; its numbers without a
source of their own inherit the nearest one, so the lead writes
`Recommendation(source="strategies/recommendations", entry=101.5, ...)`.

When a report is built (and again when it is rendered) every `Num` is bound to its path
in the report ("recommendations[0].stop") and its display kind (money, pct, ...,
declared by the field's type). The HTML writes both as data attributes
(`data-field`, `data-value`, `data-source`), so a test or a reader can trace each
printed number back to the input and the asset that produced it.

Frames for charts (price history, equity curve, correlation matrix, Monte Carlo fan
summary) are carried as pandas objects; they are drawn, not printed number by number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, get_args, get_origin

import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from quant_assets.reports.formatting import NumKind

Side = Literal["long", "short", "flat"]
FillSide = Literal["buy", "sell"]
DrawdownStateName = Literal["normal", "derisk", "halt"]
ChangeKind = Literal["opened", "closed", "resized", "signal_flipped"]


class Num(BaseModel):
    """One reported number and the asset it came from."""

    model_config = ConfigDict(extra="forbid")

    value: float | None = None
    source: str | None = None
    na: str | None = None  # why the value is missing: printed as "n/a", the reason kept
    _path: str = PrivateAttr("")
    _kind: str = PrivateAttr("number")

    @field_validator("value")
    @classmethod
    def _nan_is_missing(cls, value: float | None) -> float | None:
        return None if value is not None and math.isnan(value) else value

    @property
    def path(self) -> str:
        """Where the number sits in its report, e.g. "risk.var[0].cvar" (set by binding)."""
        return self._path

    @property
    def kind(self) -> str:
        """Display kind (money, pct, ...), from the field's declared type."""
        return self._kind


@dataclass(frozen=True)
class Fmt:
    """Field metadata: how a Num field is displayed; "unit" means "the row's `unit`"."""

    kind: str


def na(reason: str, source: str | None = None) -> Num:
    """A number that cannot be computed here, and why (printed "n/a")."""
    return Num(value=None, source=source, na=reason)


def _to_num(value: Any) -> Any:
    if value is None or isinstance(value, Num | dict):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return {"value": value[0], "source": value[1]}
    try:
        return {"value": float(value)}
    except (TypeError, ValueError):
        return value  # let pydantic report the type error


def _num(kind: str) -> Any:
    return Annotated[Num, BeforeValidator(_to_num), Fmt(kind)]


Money = _num("money")
Pnl = _num("pnl")
Price = _num("price")
Qty = _num("qty")
Pct = _num("pct")
PctChg = _num("pct_chg")
Bps = _num("bps")
Ratio = _num("ratio")
Int = _num("int")
Number = _num("number")
ByUnit = _num("unit")  # formatted by the row's `unit` field


class _Row(BaseModel):
    """Base of every section and row: strict fields, an inheritable `source`."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    source: str | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, source: str | None = None) -> list[Self]:
        """One row per frame row, from the columns named like fields (others ignored).

        `source` (an asset key) replaces any `source` column, which in the warehouse
        tables names the vendor, not the asset.
        """
        names = [c for c in frame.columns if c in cls.model_fields and c != "source"]
        rows = []
        for record in frame[names].to_dict("records"):
            clean = {k: (None if _is_missing(v) else v) for k, v in record.items()}
            rows.append(cls(**clean, source=source))
        return rows


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --- shared rows -------------------------------------------------------------------------


class Limit(_Row):
    """A limit and the current value it bounds; `binding` marks the one that sized a trade."""

    name: str
    unit: NumKind = "pct"
    value: ByUnit | None = None
    limit: ByUnit | None = None
    binding: bool = False


class ScenarioPnL(_Row):
    """PnL of a position or the book under a stress scenario; `pnl_pct` is the PnL over the
    scenario's base (book: equity; a recommendation: its gross notional)."""

    scenario: str
    kind: str | None = None  # historical (real crisis moves), replay, hypothetical
    pnl: Pnl
    pnl_pct: PctChg | None = None


class PositionEvent(_Row):
    """A dated event touching a position: earnings, dividend, index change, ..."""

    date: dt.date
    kind: str
    name: str
    symbol: str | None = None
    detail: str | None = None


class EconomicEvent(_Row):
    """A release of the economic calendar (columns of events.economic_events)."""

    release_date: dt.date
    event_code: str
    name: str
    country: str = "US"
    release_time: dt.datetime | None = None
    period: str | None = None
    actual: Number | None = None
    consensus: Number | None = None
    previous: Number | None = None
    unit: str | None = None
    consensus_source: str | None = None  # 'model': the expectation model's, not a survey


class VarRow(_Row):
    """VaR and CVaR (positive loss fractions) at one level, horizon and method."""

    method: str
    level: Pct
    horizon_days: Int
    var: Pct
    cvar: Pct
    var_money: Money | None = None
    cvar_money: Money | None = None


class ExposureRow(_Row):
    """Exposure of one group (universe group, sector or asset class) as fractions of equity."""

    group: str
    gross: Pct
    net: Pct
    limit: Pct | None = None


class DrawdownState(_Row):
    """Where the book stands against its drawdown limits (risk.limits.DrawdownLimits)."""

    state: DrawdownStateName = "normal"
    drawdown: Pct
    equity: Money | None = None
    peak_equity: Money | None = None
    derisk_at: Pct | None = None
    halt_at: Pct | None = None
    scale: Ratio | None = None


class RiskBudget(_Row):
    """Portfolio risk before the open (or at the close): VaR, exposure, drawdown, limits."""

    equity: Money | None = None
    gross_exposure: Pct | None = None
    net_exposure: Pct | None = None
    gross_limit: Pct | None = None
    net_limit: Pct | None = None
    var: list[VarRow] = Field(default_factory=list)
    drawdown: DrawdownState | None = None
    exposure_by_group: list[ExposureRow] = Field(default_factory=list)
    limits: list[Limit] = Field(default_factory=list)
    scenarios: list[ScenarioPnL] = Field(default_factory=list)
    correlation: pd.DataFrame | None = Field(None, exclude=True)
    mc_fan: pd.DataFrame | None = Field(None, exclude=True)
    mc_note: str | None = None


# --- SOD -----------------------------------------------------------------------------------


class Leg(_Row):
    """One instrument of a multi-leg recommendation (pairs, spreads); `trade_qty` is what to
    trade at the open (signed: + buy, - sell), `prev_qty` the signed quantity held before."""

    symbol: str
    side: Side
    leg: str | None = None
    qty: Qty | None = None
    prev_qty: Qty | None = None
    trade_qty: Qty | None = None
    order: str | None = None
    weight: Pct | None = None
    notional: Money | None = None
    price: Price | None = None


class Condition(_Row):
    """A rule that fired, with the value that fired it: "tr_rsi_14 < 30: 27.4"."""

    name: str
    unit: NumKind = "number"
    value: ByUnit | None = None
    op: str | None = None
    threshold: ByUnit | None = None
    detail: str | None = None


class StrategyStats(_Row):
    """The strategy's historical record (backtest or live), per trade and overall."""

    sharpe: Ratio | None = None
    hit_rate: Pct | None = None
    profit_factor: Ratio | None = None
    expected_value: PctChg | None = None  # mean return per trade
    max_drawdown: Pct | None = None
    n_trades: Int | None = None
    period: str | None = None


class Sizing(_Row):
    """How the size was chosen and which limits bound it."""

    rule: str
    detail: str | None = None
    limits: list[Limit] = Field(default_factory=list)


class SpreadTerms(_Row):
    """Entry, stop and target of a multi-leg package in the terms of its spread variable
    (e.g. fly_z): entry is the value that fired the position, target/stop the exit rules."""

    variable: str
    entry: Number | None = None
    target: Number | None = None
    stop: Number | None = None
    entry_rule: str | None = None
    target_rule: str | None = None
    stop_rule: str | None = None


Action = Literal["enter", "exit", "reverse", "resize", "carry"]


class Recommendation(_Row):
    """A risk-checked trade idea for today: one package (a symbol, or every leg of a
    multi-leg strategy) and the action it asks for at the open (strategy.actions)."""

    strategy: str
    symbol: str  # the instrument, or a label for a multi-leg trade ("KO/PEP")
    side: Side
    action: Action | None = None
    order: str | None = None  # "BUY 144 BRK.B"; "" when nothing trades
    legs: list[Leg] = Field(default_factory=list)
    qty: Qty | None = None
    prev_qty: Qty | None = None
    trade_qty: Qty | None = None
    weight: Pct | None = None
    notional: Money | None = None  # net notional (signed; a package: the sum over its legs)
    gross_notional: Money | None = None  # sum of |leg notional| (derived when not given)
    entry: Price | None = None
    stop: Price | None = None
    target: Price | None = None
    spread: SpreadTerms | None = None
    horizon: str | None = None
    rationale: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    stats: StrategyStats | None = None
    sizing: Sizing | None = None
    events: list[PositionEvent] = Field(default_factory=list)
    scenarios: list[ScenarioPnL] = Field(default_factory=list)
    history: pd.DataFrame | None = Field(None, exclude=True)  # price chart input

    @model_validator(mode="after")
    def _gross(self) -> Self:
        if self.gross_notional is None:
            parts = [g.notional for g in self.legs] if self.legs else [self.notional]
            values = [p.value for p in parts if p is not None and p.value is not None]
            if values:
                self.gross_notional = Num(value=sum(abs(v) for v in values))
        return self

    @property
    def symbols(self) -> list[str]:
        return [leg.symbol for leg in self.legs] or [self.symbol]


class _Report(_Row):
    as_of: dt.date
    generated_at: dt.datetime | None = None
    is_sample: bool = False
    sample_note: str = "Generated offline by the sample data generator: not market data."
    title: str | None = None
    currency: str = "USD"
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bind_numbers(self) -> Self:
        bind(self)
        return self


class SODReport(_Report):
    """Start of day: what to do at the open, today's recommendations, the calendar and the
    risk budget. `action_counts` counts recommendations (packages) per action."""

    kind: Literal["sod"] = "sod"
    recommendations: list[Recommendation] = Field(default_factory=list)
    action_counts: dict[str, int] = Field(default_factory=dict)
    action_summary: str | None = None
    action_basis: str | None = None
    events_today: list[EconomicEvent] = Field(default_factory=list)
    position_events: list[PositionEvent] = Field(default_factory=list)
    risk: RiskBudget | None = None


# --- EOD -----------------------------------------------------------------------------------


class PnLRow(_Row):
    """PnL of one strategy, group or position; `ret` is its contribution to the book return."""

    name: str
    pnl: Pnl
    ret: PctChg | None = None


class PnLAttribution(_Row):
    total: Pnl
    total_return: PctChg | None = None
    by_strategy: list[PnLRow] = Field(default_factory=list)
    by_group: list[PnLRow] = Field(default_factory=list)
    by_position: list[PnLRow] = Field(default_factory=list)


class Position(_Row):
    symbol: str
    qty: Qty
    strategy: str | None = None
    group: str | None = None
    avg_price: Price | None = None
    last_price: Price | None = None
    market_value: Money | None = None
    weight: Pct | None = None
    unrealized_pnl: Pnl | None = None
    day_pnl: Pnl | None = None


class Fill(_Row):
    time: dt.datetime
    symbol: str
    side: FillSide
    qty: Qty
    price: Price
    notional: Money | None = None
    fee: Money | None = None
    strategy: str | None = None
    order_id: str | None = None


class Change(_Row):
    """What changed since the SOD report: a position opened/closed/resized, a signal flipped."""

    kind: ChangeKind
    symbol: str
    strategy: str | None = None
    before: str | None = None
    after: str | None = None
    qty_before: Qty | None = None
    qty_after: Qty | None = None
    detail: str | None = None


class EODReport(_Report):
    """End of day: PnL and its attribution, positions, fills, drawdown, changes, tomorrow."""

    kind: Literal["eod"] = "eod"
    pnl: PnLAttribution
    # what the brokers' fills made over the session, marked to its close (execution.eod)
    fills_pnl: PnLAttribution | None = None
    positions: list[Position] = Field(default_factory=list)
    fills: list[Fill] = Field(default_factory=list)
    drawdown: DrawdownState | None = None
    changes: list[Change] = Field(default_factory=list)
    calendar_tomorrow: list[EconomicEvent] = Field(default_factory=list)
    events_tomorrow: list[PositionEvent] = Field(default_factory=list)
    risk: RiskBudget | None = None
    equity_curve: pd.Series | None = Field(None, exclude=True)


Report = SODReport | EODReport


# --- binding numbers to paths -----------------------------------------------------------


def _kind_of(info: Any) -> str | None:
    """The Fmt of a field: in its metadata (required field) or inside `X | None`."""
    for meta in info.metadata:
        if isinstance(meta, Fmt):
            return meta.kind
    for arg in get_args(info.annotation):
        if get_origin(arg) is Annotated:
            for meta in arg.__metadata__:
                if isinstance(meta, Fmt):
                    return meta.kind
    return None


def bind(model: BaseModel, path: str = "", source: str | None = None) -> None:
    """Give every Num below `model` its path, display kind and inherited source (in place).

    Nums are copied before binding, so one Num object reused in two places gets both paths.
    """
    source = getattr(model, "source", None) or source
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        here = f"{path}.{name}" if path else name
        if isinstance(value, Num):
            kind = _kind_of(info) or "number"
            if kind == "unit":
                kind = getattr(model, "unit", "number")
            bound = value.model_copy(update={"source": value.source or source})
            bound._path, bound._kind = here, kind
            model.__dict__[name] = bound
        elif isinstance(value, BaseModel):
            bind(value, here, source)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    bind(item, f"{here}[{i}]", source)


def iter_numbers(model: BaseModel) -> Iterator[Num]:
    """Every Num in the report (bound), depth first in field order."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Num):
            yield value
        elif isinstance(value, BaseModel):
            yield from iter_numbers(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    yield from iter_numbers(item)
