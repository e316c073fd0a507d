"""The library on a user's small universe: strategies it cannot serve are skipped with a
reason, and a run where nothing ran still has the shape every consumer reads."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.strategy import recommend as rc
from quant_assets.strategy.config import Library, StrategyError, load_library
from quant_assets.strategy.panels import Panels
from quant_assets.universe import load_universe

STARTER = Path(__file__).resolve().parents[3] / "quant_assets" / "starter"
AS_OF = dt.date(2024, 6, 28)


def _panels(symbol: str, last: dt.date, n: int = 300) -> Panels:
    dates = pd.date_range(end=last, periods=n, freq="D")
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, n)))
    bars = pd.DataFrame({"symbol": symbol, "date": dates, "open": close, "high": close * 1.01,
                         "low": close * 0.99, "close": close, "volume": 1e6, "tr_index": close})  # fmt: skip
    features = bars[["symbol", "date", "close", "tr_index"]].assign(tr_atr_14=1.0, is_sample=False)
    return Panels(AS_OF, features, bars)


def test_packaged_strategies_outside_a_small_universe_are_skipped_with_the_reason() -> None:
    universe = load_universe(STARTER / "universe.yaml")  # SPY, QQQ, GOOG, BTC
    library = load_library(universe=universe)
    assert {"btc_trend", "spy_qqq_switch"} <= set(library)
    assert (
        library.skipped["gld_mean_reversion"] == "symbols[0]: symbol 'GLD' is not in the universe"
    )
    assert library.skipped["megacap_momentum"] == "group: 'us_megacap' is not a universe group"


def test_a_users_own_strategies_outside_the_universe_are_an_error(tmp_path) -> None:
    (tmp_path / "gld.yaml").write_text(
        (Path(rc.__file__).parent / "library" / "gld_mean_reversion.yaml").read_text()
    )
    with pytest.raises(StrategyError, match="symbol 'GLD' is not in the universe"):
        load_library(tmp_path, universe=load_universe(STARTER / "universe.yaml"))


def test_a_run_where_every_strategy_is_skipped_keeps_its_columns() -> None:
    universe = load_universe(STARTER / "universe.yaml")
    specs = Library(
        skipped={"gld_mean_reversion": "symbols[0]: symbol 'GLD' is not in the universe"}
    )
    run = rc.run_library(specs, _panels("SPY", AS_OF), universe, n_paths=10)
    assert list(run.latest.columns) == rc.LATEST_COLUMNS and run.latest.empty
    assert run.latest[run.latest["target_weight"] != 0].empty  # what the signals asset reads
    assert run.skipped == dict(specs.skipped)


def test_a_strategy_whose_bars_ended_long_ago_is_skipped_not_stored_out_of_slice() -> None:
    universe = load_universe(STARTER / "universe.yaml")
    library = load_library(STARTER / "strategies", universe=universe)
    stale = _panels("BTC", AS_OF - dt.timedelta(days=60))
    run = rc.run_library({"btc_trend": library["btc_trend"]}, stale, universe, n_paths=10)
    assert run.skipped == {"btc_trend": "no signal in the last 10 days: its last bar is 2024-04-29"}
    assert run.signals.empty
