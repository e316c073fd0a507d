"""`quant scenarios verify`: the historical moves against FRED series, end to end.

FRED is served from payloads in its documented `series/observations` JSON format. Their
values are real: `arch` ships FRED's own DCOILWTICO (WTI spot), the S&P 500 index closes
and CBOE VIX closes; series no installed package carries (DGS10, NASDAQ100, CBBTCUSD) are
answered empty, so their rows must come back "not checked", never "ok".
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_assets.settings import get_settings
from quant_assets.sim.scenario_check import check_moves, observed_move
from quant_assets.sim.scenarios import load_scenarios

pytest.importorskip("arch.data")  # a declared dependency (pyproject: arch>=7)
pytestmark = pytest.mark.usefixtures("socket_disabled")

# FRED series id -> (arch dataset, column); the real values the fake FRED answers with
REAL = {"DCOILWTICO": ("wti", "DCOILWTICO"), "SP500": ("sp500", "Close"), "VIXCLS": ("vix", "vix")}


@functools.cache
def _real(series_id: str) -> pd.Series:
    dataset, column = REAL[series_id]
    return importlib.import_module(f"arch.data.{dataset}").load()[column].sort_index()


def fred_answers(request: httpx.Request) -> httpx.Response:
    """FRED's series/observations, one page, the latest vintage ('.' for a missing value)."""
    params = request.url.params
    assert request.url.path.endswith("/series/observations")
    series_id = params["series_id"]
    start, end = params["observation_start"], params["observation_end"]
    values = _real(series_id).loc[start:end] if series_id in REAL else pd.Series(dtype=float)
    obs = [
        {"realtime_start": "2026-12-07", "realtime_end": "2026-12-07",
         "date": d.strftime("%Y-%m-%d"), "value": "." if pd.isna(v) else f"{v:.4f}"}
        for d, v in values.items()
    ]  # fmt: skip
    return httpx.Response(200, json={"count": len(obs), "offset": 0, "limit": 100000,
                                     "observations": obs})  # fmt: skip


def test_a_move_starts_at_the_last_close_on_or_before_start_and_yields_move_in_bp() -> None:
    s = pd.Series([4.0, 4.5, 3.0], index=pd.to_datetime(["2008-08-29", "2008-09-02", "2009-03-09"]))
    # 2008-09-01 (Labor Day) starts from the 08-29 close
    assert observed_move(s, "return", dt.date(2008, 9, 1), dt.date(2009, 3, 9)) == -0.25
    assert observed_move(s, "yield_bp", dt.date(2008, 9, 1), dt.date(2009, 3, 9)) == -100.0
    assert observed_move(s, "return", dt.date(2008, 9, 1), dt.date(2009, 3, 10)) is None
    assert observed_move(s, "return", dt.date(2008, 8, 1), dt.date(2009, 3, 9)) is None


def test_check_flags_a_wrong_move_and_passes_the_real_ones(tmp_path: Path) -> None:
    """gfc_2008's S&P 500 move is -47.3% (1,282.83 -> 676.53 in arch's closes); a file
    stating -30% is off by 17.3 pp, and the rest of the scenario is untouched."""
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "version: 1\nscenarios:\n  gfc_2008:\n    kind: historical\n"
        "    description: wrong on purpose\n    start: 2008-09-01\n    end: 2009-03-09\n"
        "    moves: {equities: -0.30, oil: -0.59}\n"
    )
    series = {"equities": _real("SP500"), "oil": _real("DCOILWTICO")}
    report = check_moves(load_scenarios(wrong), series).set_index(["scenario", "factor"])
    row = report.loc[("gfc_2008", "equities")]
    assert row["observed"] == pytest.approx(676.53 / 1282.83 - 1, abs=1e-6)
    assert row["within_tolerance"] is False or row["within_tolerance"] == False  # noqa: E712
    assert row["difference"] == pytest.approx(-0.30 - (676.53 / 1282.83 - 1), abs=1e-6)
    assert bool(report.loc[("gfc_2008", "oil"), "within_tolerance"])
    assert bool(report.loc[("euro_debt_2011", "equities"), "within_tolerance"])


def _verify(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str) -> int:
    from quant_assets import cli
    from quant_assets.sources import registry

    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRED_API_KEY", "fredkey0123456789abcdef0123456789")
    get_settings.cache_clear()
    real_build = registry.build_source

    def with_recorded_fred(name: str, **kwargs):
        client = httpx.Client(transport=httpx.MockTransport(fred_answers))
        return real_build(name, client=client, **kwargs)

    monkeypatch.setattr(registry, "build_source", with_recorded_fred)
    try:
        return cli.main(["scenarios", "verify", *extra])
    finally:
        get_settings.cache_clear()


def test_verify_prints_every_move_and_passes_the_packaged_scenarios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _verify(monkeypatch, tmp_path) == 0
    out = capsys.readouterr().out
    lines = {tuple(line.split()[:2]): line for line in out.splitlines()[1:] if line.strip()}
    assert lines[("gfc_2008", "equities")].endswith("ok")
    assert lines[("china_deval_2015", "oil")].endswith("ok")
    assert lines[("volmageddon_2018", "vix")].endswith("ok")
    # answered empty: never "ok"
    assert "not checked" in lines[("rate_shock_2022", "rates")]
    assert "not checked: the Russell 2000 index is not on FRED" in lines[("gfc_2008", "small_caps")]
    assert "0 off" in out


def test_verify_fails_on_a_wrong_user_scenario_and_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "mine.yaml"
    wrong.write_text(
        "version: 1\nscenarios:\n  gfc_2008:\n    kind: historical\n"
        "    description: wrong on purpose\n    start: 2008-09-01\n    end: 2009-03-09\n"
        "    moves: {equities: -0.30}\n"
    )
    assert _verify(monkeypatch, tmp_path, "--file", str(wrong)) == 1
    assert "OFF by +0.173" in capsys.readouterr().out
    monkeypatch.setenv("FRED_API_KEY", "")
    from quant_assets import cli

    get_settings.cache_clear()
    assert cli.main(["scenarios", "verify"]) == 2
    assert "FRED_API_KEY" in capsys.readouterr().err
