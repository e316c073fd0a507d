"""The app's computations against hand-worked values and numpy/pandas references."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from streamlit_app import analytics


def _wide(values: dict[str, list[float]], dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame(values, index=pd.DatetimeIndex(pd.to_datetime(dates), name="date"))


def test_snapshot_horizons_by_hand():
    dates = ["2023-12-29", "2024-01-02", "2024-02-09", "2024-03-08", "2024-03-14", "2024-03-15"]
    wide = _wide(
        {"A": [100, 104, 110, 120, 125, 126], "B": [np.nan, 50, 55, 60, 66, np.nan]}, dates
    )
    snap = analytics.snapshot(wide, dt.date(2024, 3, 15))
    a, b = snap.loc["A"], snap.loc["B"]
    assert a["1D"] == pytest.approx(126 / 125 - 1)
    assert a["1W"] == pytest.approx(126 / 120 - 1)  # last level on or before 03-08
    assert a["1M"] == pytest.approx(126 / 110 - 1)  # on or before 02-15 -> 02-09
    assert a["YTD"] == pytest.approx(126 / 100 - 1)  # last 2023 level
    # B has no bar on 03-15: its last level is 03-14's; YTD starts at its first 2024 level
    assert b["last_date"] == pd.Timestamp("2024-03-14")
    assert b["1D"] == pytest.approx(66 / 60 - 1)
    assert b["YTD"] == pytest.approx(66 / 50 - 1)


def test_group_returns_are_equal_weight_means():
    snap = pd.DataFrame(
        {"1D": [0.01, 0.03, -0.02], "1W": [0.1, 0.2, 0.3], "1M": [0, 0, 0], "YTD": [1, 2, 3]},
        index=pd.Index(["A", "B", "C"], name="symbol"),
    )
    members = pd.DataFrame({"symbol": ["A", "B", "C", "C"], "group_name": ["g1", "g1", "g1", "g2"]})
    out = analytics.group_returns(snap, members, ["g2", "g1"])
    assert list(out.index) == ["g2", "g1"]
    assert out.loc["g1", "1D"] == pytest.approx(np.mean([0.01, 0.03, -0.02]))
    assert out.loc["g2", "YTD"] == 3


def test_vintages_latest_first_and_as_of():
    end = pd.Timestamp("9999-12-31")
    obs = pd.DataFrame(
        {
            "series_id": ["X"] * 4,
            "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01"]),
            "realtime_start": pd.to_datetime(
                ["2024-02-10", "2024-03-10", "2024-04-10", "2024-03-10"]
            ),
            "realtime_end": [pd.Timestamp("2024-03-09"), pd.Timestamp("2024-04-09"), end, end],
            "value": [1.0, 1.1, 1.2, 2.0],
        }
    )
    latest = analytics.vintage_view(obs, "latest").set_index("date")["value"]
    first = analytics.vintage_view(obs, "first").set_index("date")["value"]
    known = analytics.vintage_view(obs, "as_of", dt.date(2024, 3, 1)).set_index("date")["value"]
    assert latest.to_dict() == {pd.Timestamp("2024-01-01"): 1.2, pd.Timestamp("2024-02-01"): 2.0}
    assert first.to_dict() == {pd.Timestamp("2024-01-01"): 1.0, pd.Timestamp("2024-02-01"): 2.0}
    # on 2024-03-01 only the first January print was public, February not yet released
    assert known.to_dict() == {pd.Timestamp("2024-01-01"): 1.0}
    rev = analytics.revisions(obs).set_index("date")
    assert rev.loc["2024-01-01", "revision"] == pytest.approx(0.2)
    assert rev.loc["2024-01-01", "vintages"] == 3


def test_correlation_matches_numpy_and_mixed_calendars():
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2024-01-01", periods=80)
    common = rng.normal(size=80)
    levels = {
        "A": 100 * np.cumprod(1 + 0.01 * (common + rng.normal(size=80))),
        "B": 50 * np.cumprod(1 + 0.01 * (common + rng.normal(size=80))),
        "C": 20 * np.cumprod(1 + 0.01 * rng.normal(size=80)),
    }
    wide = pd.DataFrame(levels, index=days)
    rets = analytics.returns_window(wide, days[-1].date(), 60)
    assert len(rets) == 60
    ref = np.corrcoef(np.diff(np.log(wide.to_numpy()), axis=0)[-60:].T)  # log vs simple: close
    simple = wide.pct_change().iloc[-60:].to_numpy()
    corr = analytics.correlation(rets, min_obs=20)
    assert np.allclose(corr.to_numpy(), np.corrcoef(simple.T), atol=1e-12)
    assert np.allclose(corr.to_numpy(), ref, atol=0.01)
    # a 24/7 symbol next to weekday symbols: the stock's Monday return is Friday -> Monday
    all_days = pd.date_range(days[0], days[-1])
    mixed = wide.reindex(all_days)
    mixed["BTC"] = np.linspace(1, 2, len(all_days))
    r = analytics.returns_window(mixed, days[-1].date(), 500)
    monday = next(d for d in r.index if d.weekday() == 0 and d > days[0])
    friday = monday - pd.Timedelta(days=3)
    assert r.loc[monday, "A"] == pytest.approx(wide.loc[monday, "A"] / wide.loc[friday, "A"] - 1)
    assert all(d.weekday() < 5 for d in r.index)  # weekend rows (one symbol of four) dropped


def test_cluster_table_sizes_and_mean_correlation():
    corr = pd.DataFrame(
        [[1, 0.9, 0.1], [0.9, 1, 0.2], [0.1, 0.2, 1]], index=list("ABC"), columns=list("ABC")
    )
    labels = pd.Series([1, 1, 2], index=list("ABC"))
    table = analytics.cluster_table(corr, labels).set_index("cluster")
    assert table.loc[1, "size"] == 2 and table.loc[1, "mean corr"] == pytest.approx(0.9)
    assert np.isnan(table.loc[2, "mean corr"])


def test_json_fields_render_as_tables():
    conditions = analytics.json_frame(
        analytics.parse_json('[{"name": "rsi_14 < 30", "value": 27.4}]')
    )
    assert list(conditions.columns) == ["name", "value"] and conditions["value"][0] == 27.4
    stats = analytics.json_frame(analytics.parse_json('{"sharpe": 1.2, "nested": {"a": 1}}'))
    assert stats.set_index("field")["value"].to_dict() == {"sharpe": 1.2, "nested": "a=1"}
    assert analytics.parse_json("plain words") == "plain words"
    parts = analytics.conditions_parts(
        analytics.parse_json(
            '{"signal": "hold; last fired 2026-11-20: fly_z=-2.3 < -2", "values": {},'
            ' "fired": [{"name": "fly_z", "value": -2.3, "op": "<", "threshold": -2}],'
            ' "exits": {"exit_long": "fly_z > 0"}}'
        )
    )
    assert parts["signal"].startswith("hold; last fired")
    assert parts["fired"].to_dict("records") == [
        {"name": "fly_z", "value": -2.3, "op": "<", "threshold": -2}
    ]
    assert parts["values"] is None  # an empty mapping is not shown as "{}"
    assert parts["rules"].to_dict("records") == [{"rule": "exit_long", "condition": "fly_z > 0"}]
    assert analytics.json_frame(analytics.parse_json(None)) is None


def test_inline_images_only_inside_the_report_folder(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "c.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "secret.png").write_bytes(b"secret")
    html = '<img src="c.png"><img src="../secret.png"><img src="https://x/y.png">'
    out = analytics.inline_images(html, tmp_path / "r")
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in out
    assert 'src="../secret.png"' in out and 'src="https://x/y.png"' in out


def test_drawdown_state_against_limits():
    assert analytics.drawdown_state(-0.05, 0.10, 0.20) == "normal"
    assert analytics.drawdown_state(-0.12, 0.10, 0.20) == "de-risk"
    assert analytics.drawdown_state(-0.20, 0.10, 0.20) == "halt"
    assert analytics.drawdown_state(None, 0.10, 0.20) == "unknown"


def test_stats_table_orders_metrics_and_keeps_latest_as_of():
    stats = pd.DataFrame(
        {
            "strategy": ["s", "s", "s"],
            "as_of": pd.to_datetime(["2024-03-01"] * 3),
            "metric": ["zeta", "sharpe", "cagr"],
            "value": [1.0, 2.0, 0.1],
        }
    )
    table = analytics.stats_table(stats)
    assert list(table.columns) == ["as_of", "cagr", "sharpe", "zeta"]


def test_idle_reader_releases_the_duckdb_file(tmp_path):
    """While the app is idle a pipeline must be able to open the file read-write."""
    from quant_assets.warehouse import connect
    from streamlit_app.data import Reader

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
    reader = Reader(url, idle_close=0.05)
    assert reader.query("select count(*) as n from ops.ingestion_log")["n"].iloc[0] == 0
    with pytest.raises(duckdb.Error):  # held open read-only: a writer is refused
        duckdb.connect(str(tmp_path / "w.duckdb")).close()
    timer = reader._timer
    assert timer is not None
    timer.join(timeout=5)
    assert reader._wh is None
    with connect(url) as writer:  # released: the writer gets in
        writer.query("select 1")
    assert reader.query("select 1 as x")["x"].iloc[0] == 1  # and the reader reopens
    reader.close()
