"""Check the historical scenarios' moves against daily series a user can fetch.

scenarios.yaml states each crisis's real moves (close of `start`, or the last close before
it, to the close on `end`). Some are checked in the suite against real closes shipped in
installed packages; the rest are as sourced in the file. `quant scenarios verify` fetches
the FRED series below with the user's FRED key and prints every stated move beside the
observed one, so anyone can check the figures a stress test rests on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from quant_assets.sim.scenarios import HistoricalScenario, ScenarioSet

# factor -> FRED series id (daily, close-like, in the unit the factor's move is stated in)
FRED_SERIES: dict[str, str] = {
    "equities": "SP500",  # S&P 500; FRED keeps about the last 10 years
    "nasdaq100": "NASDAQ100",
    "rates": "DGS10",  # 10-year constant-maturity Treasury yield, percent
    "oil": "DCOILWTICO",  # WTI spot
    "vix": "VIXCLS",
    "crypto": "CBBTCUSD",  # Coinbase bitcoin, from December 2014
}
# factors whose stated source has no FRED series, with why
NOT_ON_FRED: dict[str, str] = {
    "small_caps": "the Russell 2000 index is not on FRED",
    "gold": "FRED no longer carries the London gold fix",
    "dollar": "the ICE dollar index (DXY) is not on FRED; its broad index is another basket",
}
RETURN_TOLERANCE = 0.005  # 0.5 percentage point: moves are stated to 0.1-1 pp
BP_TOLERANCE = 5.0  # basis points, for yield moves stated to 1 bp


def observed_move(series: pd.Series, kind: str, start: dt.date, end: dt.date) -> float | None:
    """The factor's move from the last value on or before `start` to the value on `end`:
    a relative change, or for `yield_bp` factors (series in percent) a change in bp.
    None when the series has no value on `end` or none before `start`."""
    s = series.dropna().sort_index()
    s.index = pd.DatetimeIndex(s.index)
    before = s[s.index <= pd.Timestamp(start)]
    on_end = s[s.index == pd.Timestamp(end)]
    if before.empty or on_end.empty:
        return None
    first, last = float(before.iloc[-1]), float(on_end.iloc[-1])
    return (last - first) * 100.0 if kind == "yield_bp" else last / first - 1.0


def check_moves(
    scenarios: ScenarioSet,
    series: Mapping[str, pd.Series],
    return_tolerance: float = RETURN_TOLERANCE,
    bp_tolerance: float = BP_TOLERANCE,
) -> pd.DataFrame:
    """One row per (historical scenario, factor move): stated, observed, difference and
    whether it is within tolerance (None when no series covers it, with the reason)."""
    rows = []
    for name, scenario in scenarios.scenarios.items():
        if not isinstance(scenario, HistoricalScenario):
            continue
        for factor, stated in scenario.moves.items():
            kind = scenarios.factors[factor].kind if factor in scenarios.factors else "return"
            observed, note = None, ""
            if factor not in series:
                note = NOT_ON_FRED.get(factor, "no series given for this factor")
            else:
                observed = observed_move(series[factor], kind, scenario.start, scenario.end)
                if observed is None:
                    note = f"no value on {scenario.end} or before {scenario.start}"
            tolerance = bp_tolerance if kind == "yield_bp" else return_tolerance
            diff = None if observed is None else stated - observed
            rows.append(
                {
                    "scenario": name,
                    "factor": factor,
                    "unit": "bp" if kind == "yield_bp" else "return",
                    "stated": stated,
                    "observed": observed,
                    "difference": diff,
                    "within_tolerance": None if diff is None else abs(diff) <= tolerance,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def render(report: pd.DataFrame) -> str:
    """The check as a plain-text table, worst differences flagged."""
    lines = [f"{'scenario':<18} {'factor':<10} {'stated':>9} {'observed':>9}  result"]
    for r in report.itertuples():
        fmt = "{:+.0f}" if r.unit == "bp" else "{:+.3f}"
        seen = "-" if r.observed is None or pd.isna(r.observed) else fmt.format(r.observed)
        if r.within_tolerance is None or pd.isna(r.within_tolerance):
            result = f"not checked: {r.note}"
        else:
            result = "ok" if r.within_tolerance else f"OFF by {fmt.format(r.difference)}"
        lines.append(
            f"{r.scenario:<18} {r.factor:<10} {fmt.format(r.stated):>9} {seen:>9}  {result}"
        )
    return "\n".join(lines)
