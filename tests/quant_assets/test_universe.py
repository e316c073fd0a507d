"""The universe: the packaged scope is what the project promises, and bad YAML is caught."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas_market_calendars as mcal
import pytest
import yaml

from quant_assets.schemas.tables import INSTRUMENT_GROUPS, INSTRUMENTS
from quant_assets.universe import DEFAULT_PATH, UniverseError, load_universe

GROUPS = [
    "etf_core",
    "etf_quantum",
    "etf_reit_datacenter",
    "etf_reit_industrial",
    "etf_fusion_nuclear",
    "etf_energy",
    "us_megacap",
    "growth_quantum",
    "growth_defense",
    "growth_consumer",
    "growth_ai_infra",
    "crypto_top10",
]
SECTORS = [
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


@pytest.fixture(scope="module")
def universe():
    return load_universe()


def test_groups_are_the_agreed_ones_and_sized_as_promised(universe) -> None:
    assert list(universe.groups) == GROUPS
    assert len(universe.by_group("etf_core")) == 30
    assert len(universe.by_group("us_megacap")) == 30
    assert len(universe.by_group("crypto_top10")) == 10
    for group in GROUPS:
        assert universe.by_group(group), group


def test_named_members_are_present(universe) -> None:
    named = {
        "etf_core": "SPY IVV VOO VTI QQQ VEA VUG IEFA VTV BND AGG IWF IEMG VXUS IJH VGT VWO IJR "
        "GLD VIG IWM SCHD IWD XLK VO ITOT BNDX EFA RSP VB",
        "etf_quantum": "QTUM",
        "etf_fusion_nuclear": "NLR URA URNM NUKZ",
        "etf_energy": "XLE VDE XOP ICLN TAN",
        "us_megacap": "NVDA AAPL MSFT GOOGL AMZN META AVGO TSLA BRK.B",
        "growth_quantum": "IONQ RGTI QBTS QUBT",
        "growth_defense": "LMT RTX NOC GD LHX PLTR KTOS AVAV",
        "growth_consumer": "ELF CELH ONON DECK",
        "growth_ai_infra": "VRT SMCI ANET CRWV NBIS",
        "crypto_top10": "BTC ETH XRP BNB SOL DOGE TRX ADA LINK",
    }
    for group, symbols in named.items():
        members = {i.symbol for i in universe.by_group(group)}
        assert set(symbols.split()) <= members, group


def test_a_symbol_in_two_groups_appears_once(universe) -> None:
    assert len(universe.symbols) == len(set(universe.symbols))
    assert universe.get("PLTR").groups == ["us_megacap", "growth_defense"]
    assert set(universe.get("VNQ").groups) == {"etf_reit_datacenter", "etf_reit_industrial"}


def test_asset_class_decides_calendar_and_vendor_symbols(universe) -> None:
    for inst in universe.instruments:
        assert inst.sector in SECTORS
        vs = inst.vendor_symbols
        if inst.asset_class == "crypto":
            assert inst.calendar == "24/7" and inst.sector == "crypto"
            assert vs.polygon == f"X:{inst.symbol}USD" and vs.binance == f"{inst.symbol}USDT"
            assert vs.coingecko and vs.coingecko == vs.coingecko.lower()
        else:
            assert inst.calendar == "NYSE"
            assert vs.polygon == inst.symbol and vs.coingecko is None and vs.binance is None
    assert universe.get("BTC").vendor_symbols.coingecko == "bitcoin"
    assert universe.get("BRK.B").vendor_symbols.alphavantage == "BRK-B"


def test_calendar_names_resolve_in_pandas_market_calendars(universe) -> None:
    for name in {i.calendar for i in universe.instruments}:
        assert mcal.get_calendar(name).name in (name, "24/7")


def test_to_frames_match_the_tables(universe) -> None:
    frames = universe.to_frames()
    inst = frames[INSTRUMENTS.fqn]
    groups = frames[INSTRUMENT_GROUPS.fqn]
    assert list(inst.columns) == INSTRUMENTS.column_names
    assert list(groups.columns) == INSTRUMENT_GROUPS.column_names
    assert inst["symbol"].is_unique and len(inst) == len(universe.instruments)
    assert not groups.duplicated().any()
    assert len(groups) == sum(len(i.groups) for i in universe.instruments)
    pltr = inst.set_index("symbol").loc["PLTR"]
    assert pltr["groups"] == "us_megacap,growth_defense"
    assert set(groups.loc[groups.symbol == "PLTR", "group_name"]) == {
        "us_megacap",
        "growth_defense",
    }
    required = [c.name for c in INSTRUMENTS.columns if not c.nullable]
    assert not inst[required].isna().any().any()


def test_lookups_fail_loudly_for_unknown_names(universe) -> None:
    assert "AAPL" in universe and "NOPE" not in universe
    with pytest.raises(KeyError, match="NOPE"):
        universe.get("NOPE")
    with pytest.raises(KeyError, match="etf_unknown"):
        universe.by_group("etf_unknown")


# --- load errors -------------------------------------------------------------------


def _raw() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_PATH.read_text())


def _load(tmp_path: Path, raw: dict[str, Any]):
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_universe(path)


def _entry(raw: dict[str, Any], symbol: str) -> tuple[int, dict[str, Any]]:
    for n, entry in enumerate(raw["instruments"]):
        if entry["symbol"] == symbol:
            return n, entry
    raise AssertionError(symbol)


def test_round_trip_of_packaged_file_loads(tmp_path: Path) -> None:
    assert _load(tmp_path, _raw()).symbols == load_universe().symbols


@pytest.mark.parametrize(
    ("symbol", "change", "expected"),
    [
        ("AAPL", {"sectr": "technology"}, "(symbol 'AAPL'): field 'sectr': unknown field"),
        ("AAPL", {"sector": "tech"}, "(symbol 'AAPL'): field 'sector'"),
        ("AAPL", {"asset_class": "bond"}, "(symbol 'AAPL'): field 'asset_class'"),
        (
            "AAPL",
            {"groups": ["us_megacap", "memes"]},
            "(symbol 'AAPL'): field 'groups': unknown group 'memes'",
        ),
        ("AAPL", {"calendar": "24/7"}, "(symbol 'AAPL'): field 'calendar'"),
        ("BTC", {"calendar": "NYSE"}, "(symbol 'BTC'): field 'calendar'"),
        ("ETH", {"vendor_symbols": {"polygon": "ETHUSD"}}, "field 'vendor_symbols.polygon'"),
        (
            "AAPL",
            {"vendor_symbols": {"polygon": "AAPL", "bloomberg": "AAPL US"}},
            "field 'vendor_symbols.bloomberg': unknown field",
        ),
        ("AAPL", {"groups": []}, "(symbol 'AAPL'): field 'groups'"),
    ],
)
def test_bad_entry_is_an_error_naming_entry_and_field(
    tmp_path: Path, symbol: str, change: dict[str, Any], expected: str
) -> None:
    raw = _raw()
    n, entry = _entry(raw, symbol)
    entry.update(change)
    with pytest.raises(UniverseError) as info:
        _load(tmp_path, raw)
    assert f"instruments[{n}]" in str(info.value)
    assert expected in str(info.value)


def test_missing_field_is_an_error(tmp_path: Path) -> None:
    raw = _raw()
    n, entry = _entry(raw, "MSFT")
    del entry["exchange"]
    with pytest.raises(
        UniverseError, match=rf"instruments\[{n}\] \(symbol 'MSFT'\): field 'exchange'"
    ):
        _load(tmp_path, raw)


def test_duplicate_symbol_is_an_error(tmp_path: Path) -> None:
    raw = _raw()
    n, entry = _entry(raw, "NVDA")
    dup = copy.deepcopy(entry)
    dup["groups"] = ["growth_ai_infra"]
    raw["instruments"].append(dup)
    last = len(raw["instruments"]) - 1
    with pytest.raises(UniverseError) as info:
        _load(tmp_path, raw)
    assert (
        f"instruments[{last}] (symbol 'NVDA'): field 'symbol': duplicate of instruments[{n}]"
        in str(info.value)
    )


def test_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    raw = _raw()
    raw["benchmarks"] = ["SPY"]
    with pytest.raises(UniverseError, match="field 'benchmarks': unknown field"):
        _load(tmp_path, raw)


def test_a_user_universe_file_can_be_small(tmp_path: Path) -> None:
    raw = {
        "version": 1,
        "as_of": "2025-11-28",
        "sectors": ["technology", "crypto"],
        "groups": {"mine": "my picks"},
        "instruments": [
            {
                "symbol": "AAPL",
                "name": "Apple",
                "asset_class": "stock",
                "sector": "technology",
                "groups": ["mine"],
                "tags": [],
                "exchange": "NASDAQ",
                "calendar": "NYSE",
                "vendor_symbols": {"polygon": "AAPL"},
            }
        ],
    }
    u = _load(tmp_path, raw)
    assert u.symbols == ["AAPL"] and u.by_group("mine")[0].name == "Apple"
    assert u.to_frames()[INSTRUMENTS.fqn]["tags"].tolist() == [None]
