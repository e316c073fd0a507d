"""The investable scope, loaded from universe.yaml into validated, immutable records.

The YAML is edited by hand, so the loader is strict: an unknown field, a duplicate symbol,
an undeclared group, an unknown sector or asset class, or a calendar that does not fit the
asset class is a load error that names the entry and the field, never a silent default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quant_assets.schemas.tables import INSTRUMENT_GROUPS, INSTRUMENTS

DEFAULT_PATH = Path(__file__).with_name("universe.yaml")

AssetClass = Literal["etf", "stock", "crypto"]
Calendar = Literal["NYSE", "24/7"]
Sector = Literal[
    "broad_market",
    "technology",
    "communication",
    "consumer_discretionary",
    "consumer_staples",
    "health_care",
    "financials",
    "industrials",
    "energy",
    "utilities",
    "real_estate",
    "materials",
    "fixed_income",
    "commodities",
    "crypto",
]


class UniverseError(ValueError):
    """universe.yaml is malformed; the message names the file, the entry and the field."""


class VendorSymbols(BaseModel):
    """How each vendor spells the instrument; None where the vendor does not serve it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    polygon: str | None = None
    alphavantage: str | None = None
    coingecko: str | None = None
    binance: str | None = None


class Instrument(BaseModel):
    """One tradable instrument of the universe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(min_length=1, pattern=r"^[A-Z0-9][A-Z0-9.\-]*$")
    name: str = Field(min_length=1)
    asset_class: AssetClass
    sector: Sector
    groups: list[str] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    exchange: str = Field(min_length=1)
    calendar: Calendar
    vendor_symbols: VendorSymbols

    @field_validator("groups", "tags")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        crypto = self.asset_class == "crypto"
        if crypto and self.calendar != "24/7":
            raise ValueError("calendar: crypto trades on the 24/7 calendar")
        if not crypto and self.calendar != "NYSE":
            raise ValueError(f"calendar: a listed {self.asset_class} trades on the NYSE calendar")
        if crypto != (self.sector == "crypto"):
            raise ValueError("sector: 'crypto' is the sector of crypto assets and only of them")
        vs = self.vendor_symbols
        if crypto and vs.polygon and not vs.polygon.startswith("X:"):
            raise ValueError("vendor_symbols.polygon: Polygon crypto tickers look like 'X:BTCUSD'")
        if not crypto and (vs.coingecko or vs.binance):
            raise ValueError("vendor_symbols: coingecko/binance apply to crypto assets only")
        return self

    @property
    def is_crypto(self) -> bool:
        return self.asset_class == "crypto"


class _UniverseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    as_of: dt.date
    sectors: list[Sector]
    groups: dict[str, str] = Field(min_length=1)
    instruments: list[Instrument] = Field(min_length=1)


@dataclass(frozen=True)
class Universe:
    """The loaded universe: instruments in file order plus the declared groups."""

    instruments: list[Instrument]
    groups: dict[str, str]
    as_of: dt.date
    path: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {i.symbol: i for i in self.instruments})

    @property
    def symbols(self) -> list[str]:
        return [i.symbol for i in self.instruments]

    def get(self, symbol: str) -> Instrument:
        """The instrument for `symbol`; KeyError (naming the symbol) if not in the universe."""
        try:
            return self._index[symbol]  # type: ignore[attr-defined]
        except KeyError:
            raise KeyError(f"symbol {symbol!r} is not in the universe") from None

    def by_group(self, name: str) -> list[Instrument]:
        """Members of a group, in file order; KeyError for an undeclared group."""
        if name not in self.groups:
            raise KeyError(f"unknown group {name!r}; known: {', '.join(self.groups)}")
        return [i for i in self.instruments if name in i.groups]

    def by_asset_class(self, asset_class: AssetClass) -> list[Instrument]:
        return [i for i in self.instruments if i.asset_class == asset_class]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __len__(self) -> int:
        return len(self.instruments)

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Rows for market_data.instruments and market_data.instrument_groups, keyed by table."""
        inst = pd.DataFrame(
            [
                {
                    "symbol": i.symbol,
                    "name": i.name,
                    "asset_class": i.asset_class,
                    "sector": i.sector,
                    "groups": ",".join(i.groups),
                    "tags": ",".join(i.tags) or None,
                    "exchange": i.exchange,
                    "calendar": i.calendar,
                }
                for i in self.instruments
            ],
            columns=INSTRUMENTS.column_names,
        )
        groups = pd.DataFrame(
            [(i.symbol, g) for i in self.instruments for g in i.groups],
            columns=INSTRUMENT_GROUPS.column_names,
        )
        return {INSTRUMENTS.fqn: inst, INSTRUMENT_GROUPS.fqn: groups}


def configured_universe_path() -> Path:
    """The user's universe (setting QUANT_UNIVERSE) or else the packaged universe.yaml."""
    from quant_assets.settings import get_settings

    return get_settings().universe_path or DEFAULT_PATH


def load_universe(path: str | Path | None = None) -> Universe:
    """Load and validate a universe file: `path`, else QUANT_UNIVERSE, else the packaged one."""
    path = Path(path) if path is not None else configured_universe_path()
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise UniverseError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict):
        raise UniverseError(f"{path}: expected a mapping with version, groups, instruments")
    try:
        parsed = _UniverseFile.model_validate(raw)
    except ValidationError as exc:
        raise UniverseError(_explain(path, raw, exc)) from None

    problems: list[str] = []
    seen: dict[str, int] = {}
    for n, inst in enumerate(parsed.instruments):
        where = f"instruments[{n}] (symbol {inst.symbol!r})"
        if inst.symbol in seen:
            problems.append(
                f"{where}: field 'symbol': duplicate of instruments[{seen[inst.symbol]}]; "
                "list the symbol once with all its groups"
            )
        seen.setdefault(inst.symbol, n)
        unknown = [g for g in inst.groups if g not in parsed.groups]
        if unknown:
            problems.append(
                f"{where}: field 'groups': unknown group {', '.join(map(repr, unknown))}; "
                f"declared: {', '.join(parsed.groups)}"
            )
        if inst.sector not in parsed.sectors:
            problems.append(f"{where}: field 'sector': {inst.sector!r} is not listed under sectors")
    empty = [g for g in parsed.groups if not any(g in i.groups for i in parsed.instruments)]
    if empty:
        problems.append(f"groups: declared but without members: {', '.join(empty)}")
    if problems:
        raise UniverseError(f"{path}: " + "; ".join(problems))
    return Universe(list(parsed.instruments), dict(parsed.groups), parsed.as_of, path)


def _explain(path: Path, raw: dict[str, Any], exc: ValidationError) -> str:
    """Name the entry (index and symbol) and the field of each validation error."""
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "instruments" and isinstance(loc[1], int):
            entries = raw.get("instruments") or []
            entry = entries[loc[1]] if loc[1] < len(entries) else None
            symbol = entry.get("symbol") if isinstance(entry, dict) else None
            where = f"instruments[{loc[1]}] (symbol {symbol!r})"
            field = ".".join(str(p) for p in loc[2:]) or "<entry>"
        else:
            where, field = "file", ".".join(str(p) for p in loc) or "<root>"
        msg = err["msg"].removeprefix("Value error, ")
        if field == "<entry>" and ": " in msg:
            # Cross-field rules phrase their message as "<field>: <reason>".
            field, msg = msg.split(": ", 1)
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        shown = "" if err["type"] == "missing" else f" (got {err.get('input')!r})"
        if isinstance(err.get("input"), dict | list):
            shown = ""
        problems.append(f"{where}: field {field!r}: {msg}{shown}")
    return f"{path}: " + "; ".join(problems)
