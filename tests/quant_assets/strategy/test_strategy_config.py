"""Loading strategies: errors name the strategy and the field; the library loads."""

from __future__ import annotations

import re

import pytest

from quant_assets.strategy.config import (
    LIBRARY_DIR,
    FlyStrategy,
    PairStrategy,
    StrategyError,
    load_library,
    load_strategy,
    resolve_symbols,
)
from quant_assets.universe import load_universe


@pytest.fixture(scope="module")
def universe():
    return load_universe()


def _mr(**over) -> dict:
    base = {
        "name": "spy_mr",
        "kind": "mean_reversion",
        "symbols": ["SPY"],
        "rules": {"entry_long": "zscore_20 < -2 and tr_rsi_14 < 30", "exit_long": "zscore_20 > 0"},
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _mr(rules={"entry_long": "zscroe_20 < -2", "exit_long": "zscore_20 > 0"}),
            "strategy 'spy_mr': rules.entry_long: unknown feature 'zscroe_20' (did you mean 'zscore_20'?)",
        ),
        (
            _mr(rules={"entry_long": "zscore_20 < -2", "exit_long": "__import__('os')"}),
            "strategy 'spy_mr': rules.exit_long: names may not start with '_'",
        ),
        (
            _mr(rules={"entry_long": "zscore_20 < -2"}),
            "strategy 'spy_mr': rules.exit_long: a long entry needs an exit rule",
        ),
        (
            _mr(symbols=["SPY", "ZZZZ"]),
            "strategy 'spy_mr': symbols[1]: symbol 'ZZZZ' is not in the universe",
        ),
        (_mr(symbols=["SPYY"]), "symbol 'SPYY' is not in the universe (did you mean 'SPY'?)"),
        (
            _mr(stop={"stop_pct": 5}),
            "strategy 'spy_mr': stop.stop_pct: 5.0 is a fraction and must be < 1",
        ),
        (_mr(stop={}), "strategy 'spy_mr': stop: set at least one of"),
        (_mr(max_hold_bars=0), "strategy 'spy_mr': max_hold_bars: Input should be greater than 0"),
        (_mr(entry="x"), "strategy 'spy_mr': entry: unknown field"),
        (_mr(kind="meanrev"), "strategy 'spy_mr': kind: 'meanrev' is not one of"),
        (_mr(symbols=None), "strategy 'spy_mr': symbols/group: give exactly one"),
        (
            {"name": "xle_pair", "kind": "pair", "legs": ["XLE"]},
            "strategy 'xle_pair': legs: a pair needs exactly 2 legs, got 1",
        ),
        (
            {
                "name": "xle_pair",
                "kind": "pair",
                "legs": ["XLE", "XOP"],
                "rules": {"entry_long": "coint_pvalue < 0.05"},
            },
            "strategy 'xle_pair': coint: rules read coint_pvalue",
        ),
        (
            {
                "name": "xle_pair",
                "kind": "pair",
                "legs": ["XLE", "XOP"],
                "hedge": {"method": "lasso"},
            },
            "strategy 'xle_pair': hedge.method: Input should be 'ols' or 'kalman'",
        ),
        (
            {"name": "fly", "kind": "fly", "legs": ["IWM", "SPY", "QQQ"], "weights": [1, -2, 2]},
            "strategy 'fly': weights: [1.0, -2.0, 2.0] sum to 1, not 0",
        ),
        (
            {"name": "fly", "kind": "fly", "legs": ["IWM", "SPY", "QQQ"], "weights": [1, 2, -3]},
            "strategy 'fly': weights: [1.0, 2.0, -3.0] must give both wings the opposite sign",
        ),
        (
            {"name": "fly", "kind": "fly", "legs": ["IWM", "SPY"]},
            "strategy 'fly': legs: a fly needs exactly 3 legs",
        ),
        (
            {"name": "t", "kind": "trend", "symbols": ["BTC"], "fast": 50, "slow": 20},
            "strategy 't': fast: 50 must be shorter than slow (20)",
        ),
        (
            {"name": "m", "kind": "momentum", "group": "us_megacapz"},
            "strategy 'm': group: 'us_megacapz' is not a universe group (did you mean 'us_megacap'?)",
        ),
        (
            {"name": "m", "kind": "momentum", "group": "us_megacap", "score": "mom_126 > 0"},
            "strategy 'm': score: rule must be a number",
        ),
        (
            {
                "name": "s",
                "kind": "switch",
                "legs": ["SPY", "QQQ"],
                "rules": {"choose_first": "vol_20_frist < 0.2"},
            },
            "strategy 's': rules.choose_first: unknown feature 'vol_20_frist' (did you mean 'vol_20_first'?)",
        ),
        (
            {"name": "Bad Name", "kind": "trend", "symbols": ["BTC"]},
            "strategy 'Bad Name': name: String should match",
        ),
    ],
)
def test_invalid_definitions_name_strategy_and_field(data, message, universe) -> None:
    with pytest.raises(StrategyError, match=re.escape(message)):
        load_strategy(data, universe=universe)


def test_yaml_file_errors_name_the_file(tmp_path, universe) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nkind: trend\nsymbols: [BTC]\nfast: 10\nslow: 20\nfilter: x\n")
    with pytest.raises(
        StrategyError, match=re.escape(f"{path}: strategy 'bad': filter: unknown field")
    ):
        load_strategy(path, universe=universe)
    path.write_text("name: [unclosed\n")
    with pytest.raises(StrategyError, match="not valid YAML"):
        load_strategy(path, universe=universe)


def test_library_loads_cleanly(universe) -> None:
    lib = load_library(universe=universe)
    files = sorted(LIBRARY_DIR.glob("*.yaml"))
    assert len(lib) == len(files) >= 7
    kinds = {s.kind for s in lib.values()}
    assert kinds == {"trend", "mean_reversion", "momentum", "ml_signal", "pair", "switch", "fly"}
    for spec in lib.values():
        for sym in resolve_symbols(spec, universe):
            assert sym in universe
    assert (
        isinstance(lib["xle_xop_pair"], PairStrategy)
        and lib["xle_xop_pair"].hedge.method == "kalman"
    )
    assert isinstance(lib["iwm_spy_qqq_fly"], FlyStrategy)


def test_library_reports_every_bad_file_and_duplicates(tmp_path, universe) -> None:
    good = "name: a\nkind: trend\nsymbols: [BTC]\n"
    (tmp_path / "one.yaml").write_text(good)
    (tmp_path / "two.yaml").write_text(good)
    (tmp_path / "three.yaml").write_text("name: c\nkind: trend\nsymbols: [NOPE]\n")
    with pytest.raises(StrategyError) as err:
        load_library(tmp_path, universe=universe)
    text = str(err.value)
    assert (
        "strategy 'a' is defined twice" in text and "symbol 'NOPE' is not in the universe" in text
    )


def test_definitions_are_frozen(universe) -> None:
    spec = load_strategy(_mr(), universe=universe)
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
