"""The historical scenarios' moves against real daily closes shipped inside `arch`.

No internet here, so the reference is what installed packages carry (`arch.data`):
- `sp500`: S&P 500 index daily closes (^GSPC), 1999-01-04 .. 2018-12-31 -> `equities`;
- `nasdaq`: the Nasdaq *Composite* (^IXIC; arch's docstring says so, and its 2008-08-29
  close 2,367.52 is the Composite's), not the Nasdaq-100 that `nasdaq100` carries. The
  two indices are different baskets, so no tolerance makes one a check of the other:
  `nasdaq100` is not compared;
- `vix`: CBOE VIX daily closes, 2014-01-03 .. 2019-01-03 -> `vix` (relative level change);
- `wti`: FRED DCOILWTICO (WTI spot, the source scenarios.yaml names), 1986 .. 2019-01-03
  -> `oil`.

A move is close of `start` (the last close on or before it: the file's convention for a
start on a holiday) to the close on `end` itself; an end date without a value in the
packaged series cannot be checked and is listed in UNVERIFIABLE instead.
Tolerance: 0.5 percentage point on every move (the YAML rounds index returns to 0.1 pp
and other moves to 1 pp or two significant digits of a relative change; 0.5 pp also
absorbs a vendor's revision of a close).

Every (historical scenario, factor) pair is either checked here or named in UNVERIFIED
with the reason, so a new scenario or factor cannot go unexamined.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib

import pandas as pd
import pytest

from quant_assets.sim.scenario_check import observed_move
from quant_assets.sim.scenarios import HistoricalScenario, load_scenarios

pytest.importorskip("arch.data")  # a declared dependency (pyproject: arch>=7)

TOL = 0.005  # 0.5 percentage point
# factor -> (arch dataset, column)
PACKAGED = {
    "equities": ("sp500", "Close"),
    "vix": ("vix", "vix"),
    "oil": ("wti", "DCOILWTICO"),
}
# Pairs that packaged daily data cannot check, with the reason (reported, not skipped).
NO_PACKAGED_SERIES = {
    "nasdaq100": "arch ships the Nasdaq Composite, not the Nasdaq-100",
    "small_caps": "no Russell 2000 daily series in an installed package",
    "rates": "no 10-year Treasury daily yield in an installed package",
    "gold": "no gold daily price in an installed package",
    "dollar": "no dollar index daily series in an installed package",
    "crypto": "backtesting's BTCUSD is monthly; windows are daily",
}
UNVERIFIABLE = {
    ("q4_selloff_2018", "oil"): "DCOILWTICO in arch has no value on 2018-12-24",
}


@functools.cache
def _series(factor: str) -> pd.Series:
    dataset, column = PACKAGED[factor]
    frame = importlib.import_module(f"arch.data.{dataset}").load()
    return frame[column].dropna().sort_index()


def _historical() -> dict[str, HistoricalScenario]:
    scenarios = load_scenarios().scenarios
    return {n: s for n, s in scenarios.items() if isinstance(s, HistoricalScenario)}


def _checked_pairs() -> list[tuple[str, str]]:
    pairs = []
    for name, scenario in _historical().items():
        for factor in scenario.moves:
            if factor not in PACKAGED or (name, factor) in UNVERIFIABLE:
                continue
            s = _series(factor)
            if s.index[0] <= pd.Timestamp(scenario.start) and s.index[-1] >= pd.Timestamp(
                scenario.end
            ):
                pairs.append((name, factor))
    return pairs


def _move(s: pd.Series, start: dt.date, end: dt.date) -> float:
    move = observed_move(s, "return", start, end)
    assert move is not None, f"no close on {end}: list the pair in UNVERIFIABLE"
    return move


CHECKED = _checked_pairs()


def test_the_packaged_series_cover_the_windows_they_are_meant_to() -> None:
    """Guards the parametrisation: 5 windows end by 2018 (S&P 500, WTI), 3 from 2014 (VIX)."""
    assert sorted(CHECKED) == sorted(
        [(n, "equities") for n in ("gfc_2008", "euro_debt_2011", "china_deval_2015",
                                   "volmageddon_2018", "q4_selloff_2018")]
        + [(n, "oil") for n in ("gfc_2008", "euro_debt_2011", "china_deval_2015",
                                "volmageddon_2018")]
        + [(n, "vix") for n in ("china_deval_2015", "volmageddon_2018", "q4_selloff_2018")]
    )  # fmt: skip


@pytest.mark.parametrize(("scenario", "factor"), CHECKED, ids=[f"{n}-{f}" for n, f in CHECKED])
def test_move_matches_the_packaged_closes(scenario: str, factor: str) -> None:
    sc = _historical()[scenario]
    expected = _move(_series(factor), sc.start, sc.end)
    assert sc.moves[factor] == pytest.approx(expected, abs=TOL), (
        f"{scenario}.{factor}: yaml {sc.moves[factor]:+.4f}, packaged {expected:+.4f}"
    )


def test_every_historical_factor_has_a_packaged_series_or_a_reason() -> None:
    """A pair of a PACKAGED factor is checked above unless its window lies outside the
    series' span or it is in UNVERIFIABLE; any other factor needs its reason here."""
    factors = {f for sc in _historical().values() for f in sc.moves}
    assert not factors - set(PACKAGED) - set(NO_PACKAGED_SERIES)


def test_unverifiable_pairs_really_lack_the_end_close() -> None:
    for (name, factor), _reason in UNVERIFIABLE.items():
        sc = _historical()[name]
        assert pd.Timestamp(sc.end) not in _series(factor).index, (name, factor)
