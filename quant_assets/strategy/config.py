"""Strategy definitions: YAML files validated into frozen pydantic models.

A strategy file is edited by hand, so loading is strict and every error names the
strategy and the field: unknown keys, rules that do not parse or read unknown features
(with a did-you-mean), leg counts and weights that do not make the structure (a pair
needs two legs, a fixed fly's weights must sum to zero), and symbols or groups that are
not in the universe. Nothing is checked against data here; `signals.generate_signals`
turns a loaded strategy into target weights.

Kinds and the extra variables their rules can read besides the features
(`features.RULE_FEATURES`):

- trend           one or more symbols, moving-average cross of the close: `ma_fast`,
                  `ma_slow`. Default `signal: crossover` goes long when the fast average
                  crosses above the slow one and exits (or reverses to short with
                  `allow_short`) when it crosses below, as backtesting.py's SmaCross;
                  `signal: state` holds long while fast > slow from the first bar both exist.
- mean_reversion  per-symbol entry/exit rules over features, e.g. zscore_20 and tr_rsi_14.
- momentum        rotation: every `rebalance_every` bars hold the `top_k` symbols of a
                  group ranked by a numeric `score` expression over features.
- ml_signal       the same rotation ranked by a model's predictions (`score`), a slot the
                  ML issue fills with a predictions frame (symbol, date, score).
- pair            two legs y, x; hedge ratio by rolling OLS or a Kalman filter on log
                  prices: `spread`, `spread_z`, `hedge_ratio`, `coint_pvalue`.
- switch          hold one of two instruments by relative momentum or the z-score of
                  their price ratio: `rel_mom`, `ratio_z`.
- fly             wing/body/wing butterfly with fixed or volatility-weighted wings:
                  `fly`, `fly_z`.

In multi-leg kinds a rule may read a leg's feature as `<feature>_<leg>`, e.g. `vol_20_x`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from quant_assets.risk.stops import StopRules
from quant_assets.strategy import rules as rl
from quant_assets.strategy.features import RULE_FEATURES, suggest

LIBRARY_DIR = Path(__file__).with_name("library")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class StrategyError(ValueError):
    """A strategy definition is invalid; the message names the strategy and the field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StopSpec(_Frozen):
    """Price exits for single-leg kinds, applied by `quant_assets.risk.stops` (fractions)."""

    stop_pct: PositiveFloat | None = None
    trail_pct: PositiveFloat | None = None
    atr_multiple: PositiveFloat | None = None
    atr_trail_multiple: PositiveFloat | None = None
    take_profit_pct: PositiveFloat | None = None
    atr_window: PositiveInt = 14

    @model_validator(mode="after")
    def _something(self) -> StopSpec:
        if all(
            getattr(self, f) is None
            for f in (
                "stop_pct",
                "trail_pct",
                "atr_multiple",
                "atr_trail_multiple",
                "take_profit_pct",
            )
        ):
            raise ValueError("set at least one of stop_pct, trail_pct, atr_multiple, "
                             "atr_trail_multiple, take_profit_pct")  # fmt: skip
        return self

    @field_validator("stop_pct", "trail_pct", "take_profit_pct")
    @classmethod
    def _fraction(cls, v: float | None) -> float | None:
        if v is not None and v >= 1.0:
            raise ValueError(f"{v} is a fraction and must be < 1 (0.05 = 5%)")
        return v

    def to_rules(self) -> StopRules:
        return StopRules(
            stop_pct=self.stop_pct,
            trail_pct=self.trail_pct,
            atr_multiple=self.atr_multiple,
            atr_trail_multiple=self.atr_trail_multiple,
            take_profit_pct=self.take_profit_pct,
            atr_window=self.atr_window,
        )


class Rules(_Frozen):
    """Entry and exit conditions of a long/short position (long spread for pairs/flies)."""

    entry_long: str | None = None
    exit_long: str | None = None
    entry_short: str | None = None
    exit_short: str | None = None


class SwitchRules(_Frozen):
    """Which of the two legs to hold; `go_flat` (optional) moves to cash and wins ties."""

    choose_first: str = "rel_mom > 0"
    choose_second: str = "rel_mom < 0"
    go_flat: str | None = None


class _Base(_Frozen):
    """Fields every strategy has."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    gross: PositiveFloat = Field(1.0, le=10.0, description="gross exposure when fully on")
    max_hold_bars: PositiveInt | None = None

    VARIABLES: ClassVar[frozenset[str]] = frozenset()
    LEGS: ClassVar[tuple[str, ...]] = ()  # leg labels of multi-leg kinds

    def symbols_used(self) -> list[str]:
        raise NotImplementedError

    def rule_fields(self) -> dict[str, tuple[str, rl.Kind]]:
        """Field path -> (rule text, expected kind) of every rule the strategy holds."""
        out: dict[str, tuple[str, rl.Kind]] = {}
        r = getattr(self, "rules", None)
        if r is not None:
            for field, text in r.model_dump().items():
                if text is not None:
                    out[f"rules.{field}"] = (text, "bool")
        return out

    def known_names(self) -> frozenset[str]:
        leg_features = {f"{f}_{leg}" for f in RULE_FEATURES for leg in self.LEGS}
        return RULE_FEATURES | self.VARIABLES | leg_features

    @model_validator(mode="after")
    def _check_rules(self) -> _Base:
        known = self.known_names()
        for path, (text, kind) in self.rule_fields().items():
            try:
                node = rl.parse(text, kind=kind)
            except rl.RuleError as e:
                raise ValueError(f"{path}: {e}") from None
            for name in sorted(rl.names(node)):
                if name not in known:
                    raise ValueError(f"{path}: unknown feature {name!r}{suggest(name, known)}")
        return self


class _SingleLeg(_Base):
    symbols: list[str] | None = Field(None, min_length=1)
    group: str | None = None
    stop: StopSpec | None = None

    @model_validator(mode="after")
    def _scope(self) -> _SingleLeg:
        if (self.symbols is None) == (self.group is None):
            raise ValueError("symbols/group: give exactly one of 'symbols' or 'group'")
        if self.symbols is not None and len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols: listed more than once")
        return self

    def symbols_used(self) -> list[str]:
        return list(self.symbols or [])


class TrendStrategy(_SingleLeg):
    kind: Literal["trend"]
    fast: PositiveInt = 20
    slow: PositiveInt = 100
    ma: Literal["sma", "ema"] = "sma"
    allow_short: bool = False
    # crossover: trade on crosses (crosses_above/crosses_below); state: hold while above.
    signal: Literal["crossover", "state"] = "crossover"
    rules: Rules | None = None  # explicit rules replace the ones `signal` builds

    VARIABLES: ClassVar[frozenset[str]] = frozenset({"ma_fast", "ma_slow"})

    @model_validator(mode="after")
    def _windows(self) -> TrendStrategy:
        if self.fast >= self.slow:
            raise ValueError(f"fast: {self.fast} must be shorter than slow ({self.slow})")
        return self

    def effective_rules(self) -> Rules:
        if self.rules is not None:
            return self.rules
        short = self.allow_short
        if self.signal == "crossover":
            up, down = "crosses_above(ma_fast, ma_slow)", "crosses_below(ma_fast, ma_slow)"
        else:
            up, down = "ma_fast > ma_slow", "ma_fast < ma_slow"
        return Rules(
            entry_long=up,
            exit_long=down,
            entry_short=down if short else None,
            exit_short=up if short else None,
        )


class MeanReversionStrategy(_SingleLeg):
    kind: Literal["mean_reversion"]
    rules: Rules

    @model_validator(mode="after")
    def _entries(self) -> MeanReversionStrategy:
        r = self.rules
        if r.entry_long is None and r.entry_short is None:
            raise ValueError("rules: give entry_long and/or entry_short")
        for side in ("long", "short"):
            entry, exit_ = getattr(r, f"entry_{side}"), getattr(r, f"exit_{side}")
            if (
                entry is not None
                and exit_ is None
                and self.max_hold_bars is None
                and self.stop is None
            ):
                raise ValueError(f"rules.exit_{side}: a {side} entry needs an exit rule, "
                                 "max_hold_bars or a stop")  # fmt: skip
        return self

    def effective_rules(self) -> Rules:
        return self.rules


class _Rotation(_SingleLeg):
    top_k: PositiveInt = 5
    rebalance_every: PositiveInt = 21
    eligible: str | None = None
    weighting: Literal["equal", "inverse_vol"] = "equal"
    vol_window: PositiveInt = 60

    def rule_fields(self) -> dict[str, tuple[str, rl.Kind]]:
        out = super().rule_fields()
        if self.eligible is not None:
            out["eligible"] = (self.eligible, "bool")
        return out

    @model_validator(mode="after")
    def _k(self) -> _Rotation:
        if self.symbols is not None and self.top_k > len(self.symbols):
            raise ValueError(f"top_k: {self.top_k} exceeds the {len(self.symbols)} symbols")
        return self


class MomentumStrategy(_Rotation):
    kind: Literal["momentum"]
    score: str = "mom_126"  # a numeric expression over features, higher = better

    def rule_fields(self) -> dict[str, tuple[str, rl.Kind]]:
        return {"score": (self.score, "num"), **super().rule_fields()}


class MlSignalStrategy(_Rotation):
    kind: Literal["ml_signal"]
    model: str = Field("", description="name of the model whose predictions feed `score`")
    min_score: float | None = None

    VARIABLES: ClassVar[frozenset[str]] = frozenset({"score"})


class HedgeSpec(_Frozen):
    method: Literal["ols", "kalman"] = "ols"
    window: PositiveInt = Field(60, ge=10, description="OLS window; Kalman warm-up (bars)")
    # Kalman noise in log-price units: state random-walk delta / (1 - delta) per bar,
    # observation variance obs_var. Small delta = a slowly moving hedge.
    delta: float = Field(1e-7, gt=0, lt=1)
    obs_var: PositiveFloat = 1e-4
    freeze: bool = True  # hold the entry hedge ratio for the life of a position


class CointSpec(_Frozen):
    window: PositiveInt = Field(252, ge=60)
    every: PositiveInt = 21


def _default_pair_rules() -> Rules:
    return Rules(
        entry_long="spread_z < -2",
        exit_long="spread_z > -0.5",
        entry_short="spread_z > 2",
        exit_short="spread_z < 0.5",
    )


def _default_fly_rules() -> Rules:
    return Rules(
        entry_long="fly_z < -2",
        exit_long="fly_z > -0.5",
        entry_short="fly_z > 2",
        exit_short="fly_z < 0.5",
    )


class _MultiLeg(_Base):
    legs: list[str]
    N_LEGS: ClassVar[int] = 2

    @model_validator(mode="after")
    def _legs(self) -> _MultiLeg:
        kind = getattr(self, "kind", "")
        if len(self.legs) != self.N_LEGS:
            raise ValueError(
                f"legs: a {kind} needs exactly {self.N_LEGS} legs, got {len(self.legs)}"
            )
        if len(set(self.legs)) != len(self.legs):
            raise ValueError(f"legs: a {kind} needs {self.N_LEGS} different symbols")
        return self

    def symbols_used(self) -> list[str]:
        return list(self.legs)


class PairStrategy(_MultiLeg):
    kind: Literal["pair"]
    hedge: HedgeSpec = Field(default_factory=HedgeSpec)
    zscore_window: PositiveInt = Field(20, ge=5)
    coint: CointSpec | None = None
    rules: Rules = Field(default_factory=_default_pair_rules)

    VARIABLES: ClassVar[frozenset[str]] = frozenset(
        {"spread", "spread_z", "hedge_ratio", "coint_pvalue"}
    )
    LEGS: ClassVar[tuple[str, ...]] = ("y", "x")

    @model_validator(mode="after")
    def _coint_used(self) -> PairStrategy:
        reads = set().union(*(rl.names(rl.parse(t)) for t, _ in self.rule_fields().values()))
        if "coint_pvalue" in reads and self.coint is None:
            raise ValueError("coint: rules read coint_pvalue; add a 'coint' section")
        return self


class SwitchStrategy(_MultiLeg):
    kind: Literal["switch"]
    lookback: PositiveInt = 63
    zscore_window: PositiveInt = Field(60, ge=5)
    rules: SwitchRules = Field(default_factory=SwitchRules)

    VARIABLES: ClassVar[frozenset[str]] = frozenset({"rel_mom", "ratio_z"})
    LEGS: ClassVar[tuple[str, ...]] = ("first", "second")

    @model_validator(mode="after")
    def _no_time_exit(self) -> SwitchStrategy:
        if self.max_hold_bars is not None:
            raise ValueError("max_hold_bars: a switch always holds one leg; use rules.go_flat")
        return self


class FlyStrategy(_MultiLeg):
    kind: Literal["fly"]
    weighting: Literal["fixed", "vol"] = "fixed"
    weights: tuple[float, float, float] = (1.0, -2.0, 1.0)
    require_zero_sum: bool = True
    vol_window: PositiveInt = Field(60, ge=5)
    zscore_window: PositiveInt = Field(60, ge=5)
    rules: Rules = Field(default_factory=_default_fly_rules)

    N_LEGS: ClassVar[int] = 3
    VARIABLES: ClassVar[frozenset[str]] = frozenset({"fly", "fly_z"})
    LEGS: ClassVar[tuple[str, ...]] = ("wing1", "body", "wing2")

    @model_validator(mode="after")
    def _weights(self) -> FlyStrategy:
        if self.weighting != "fixed":
            return self
        w1, body, w2 = self.weights
        if self.require_zero_sum and abs(w1 + body + w2) > 1e-9:
            raise ValueError(f"weights: {list(self.weights)} sum to {w1 + body + w2:g}, "
                             "not 0 (set require_zero_sum: false to allow it)")  # fmt: skip
        if not (w1 * body < 0 and w2 * body < 0):
            raise ValueError(f"weights: {list(self.weights)} must give both wings the "
                             "opposite sign of the body")  # fmt: skip
        return self


StrategySpec = Annotated[
    TrendStrategy
    | MeanReversionStrategy
    | MomentumStrategy
    | MlSignalStrategy
    | PairStrategy
    | SwitchStrategy
    | FlyStrategy,
    Field(discriminator="kind"),
]
Strategy = (
    TrendStrategy
    | MeanReversionStrategy
    | MomentumStrategy
    | MlSignalStrategy
    | PairStrategy
    | SwitchStrategy
    | FlyStrategy
)
_ADAPTER: TypeAdapter[Strategy] = TypeAdapter(StrategySpec)
KINDS = ("trend", "mean_reversion", "momentum", "ml_signal", "pair", "switch", "fly")


def _loc(loc: tuple[Any, ...], kind: object) -> str:
    parts = list(loc)
    if parts and parts[0] == kind:
        parts = parts[1:]  # discriminated union: the first element is the tag
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _format(name: str, err: ValidationError, kind: object) -> str:
    lines = []
    for e in err.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        where = _loc(tuple(e["loc"]), kind)
        if e["type"] == "union_tag_invalid":
            msg = f"kind: {kind!r} is not one of {', '.join(KINDS)}"
        elif e["type"] == "union_tag_not_found":
            msg = f"kind: missing; one of {', '.join(KINDS)}"
        elif e["type"] == "extra_forbidden":
            msg = f"{where}: unknown field"
        elif where:
            msg = f"{where}: {msg}"
        lines.append(f"strategy {name!r}: {msg}")
    return "\n".join(lines)


def parse_strategy(data: Mapping[str, Any], *, universe: Any | None = None) -> Strategy:
    """Validate one strategy mapping; with a universe, its symbols and group must exist."""
    if not isinstance(data, Mapping):
        raise StrategyError(f"a strategy is a mapping of fields, got {type(data).__name__}")
    name = str(data.get("name", "<unnamed>"))
    try:
        spec = _ADAPTER.validate_python(dict(data))
    except ValidationError as e:
        raise StrategyError(_format(name, e, data.get("kind"))) from None
    if universe is not None:
        check_universe(spec, universe)
    return spec


def check_universe(spec: Strategy, universe: Any) -> None:
    """Every symbol (and the group) of the strategy exists in the universe."""
    errors = []
    field = "legs" if isinstance(spec, _MultiLeg) else "symbols"
    known = set(universe.symbols)
    for i, sym in enumerate(spec.symbols_used()):
        if sym not in known:
            errors.append(
                f"strategy {spec.name!r}: {field}[{i}]: symbol {sym!r} is not in the universe"
                f"{suggest(sym, known)}"
            )
    group = getattr(spec, "group", None)
    if group is not None and group not in universe.groups:
        errors.append(
            f"strategy {spec.name!r}: group: {group!r} is not a universe group"
            f"{suggest(group, set(universe.groups))}"
        )
    if errors:
        raise StrategyError("\n".join(errors))


def resolve_symbols(spec: Strategy, universe: Any | None = None) -> list[str]:
    """The symbols a strategy trades: its legs/symbols, or its group's members."""
    group = getattr(spec, "group", None)
    if group is None:
        return spec.symbols_used()
    if universe is None:
        from quant_assets.universe import load_universe

        universe = load_universe()
    return [i.symbol for i in universe.by_group(group)]


def load_strategy(
    source: str | Path | Mapping[str, Any], *, universe: Any | None = None, check: bool = True
) -> Strategy:
    """Load a strategy from a YAML file, YAML text or a mapping, checked against the universe
    (`quant_assets.universe.load_universe()` unless one is given) unless `check` is False."""
    if universe is None and check:
        from quant_assets.universe import load_universe

        universe = load_universe()
    if not check:
        universe = None
    if isinstance(source, Mapping):
        return parse_strategy(source, universe=universe)
    path = Path(source) if isinstance(source, Path) or "\n" not in str(source) else None
    text = path.read_text(encoding="utf-8") if path is not None else str(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StrategyError(f"{path or 'strategy text'}: not valid YAML: {e}") from None
    try:
        return parse_strategy(data, universe=universe)
    except StrategyError as e:
        where = f"{path}: " if path is not None else ""
        raise StrategyError(f"{where}{e}") from None


class Library(dict[str, "Strategy"]):
    """Strategies by name, plus `skipped`: name -> why it cannot run on this universe."""

    def __init__(self, *args: Any, skipped: Mapping[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.skipped: dict[str, str] = dict(skipped or {})


def configured_library_dir() -> Path:
    """The user's strategies (setting QUANT_STRATEGIES) or else the packaged library."""
    from quant_assets.settings import get_settings

    return get_settings().strategies_dir or LIBRARY_DIR


def load_library(
    directory: str | Path | None = None,
    *,
    universe: Any | None = None,
    skip_outside_universe: bool | None = None,
) -> Library:
    """Every `*.yaml` strategy in a directory (default: QUANT_STRATEGIES, else the packaged
    library) by name; all errors reported together.

    A strategy whose symbols or group are not in the universe is an error in a user's own
    library (a typo must not go unnoticed) but is skipped, with its reason in
    `Library.skipped`, in the packaged library: a user's small universe cannot serve the
    packaged strategies on other symbols, and that must not stop the ones it can serve.
    """
    if universe is None:
        from quant_assets.universe import load_universe

        universe = load_universe()
    directory = Path(directory) if directory is not None else configured_library_dir()
    if skip_outside_universe is None:
        skip_outside_universe = directory.resolve() == LIBRARY_DIR.resolve()
    out = Library()
    errors: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            spec = load_strategy(path, universe=universe, check=not skip_outside_universe)
            if skip_outside_universe:
                try:
                    check_universe(spec, universe)
                except StrategyError as e:
                    out.skipped[spec.name] = _first_reason(str(e), spec.name)
                    continue
        except StrategyError as e:
            errors.append(str(e))
            continue
        if spec.name in out:
            errors.append(f"{path}: strategy {spec.name!r} is defined twice")
        out[spec.name] = spec
    if errors:
        raise StrategyError("\n".join(errors))
    return out


def _first_reason(message: str, name: str) -> str:
    """`strategy 'x': symbols[0]: symbol 'BTC' is not in the universe` -> the part after the name."""
    first = message.splitlines()[0]
    return first.removeprefix(f"strategy {name!r}: ")
