"""The Models & predictions page under AppTest: the specs of ml/specs.yaml, the MLflow
registry state read from a throwaway store (a champion's metrics and feature importance
as logged, the reason a version was not approved), the predictions in the sample
warehouse (the latest ranking, the out-of-sample rank IC against returns read straight
from the file), and empty states instead of a store being created."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[2] / "streamlit_app" / "pages" / "8_Models.py"
TITLE = "Models & predictions"
TIMEOUT = 120  # the first render in a process imports mlflow (about 5 s)


@pytest.fixture
def on_ml(sample_wh, ml_store, monkeypatch):
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", sample_wh.url)
    monkeypatch.setenv("QUANT_REPORTS_DIR", str(sample_wh.reports_dir))
    monkeypatch.setenv("QUANT_MLFLOW_TRACKING_URI", ml_store.uri)
    return ml_store


def render(model: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    if model is not None:
        at.selectbox(key="ml_model").set_value(model).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == [TITLE]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no table with columns {columns}")


def chart(at: AppTest, key: str) -> dict:
    found = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert found, f"no chart {key!r}"
    return json.loads(found[0].proto.spec)


def has_chart(at: AppTest, key: str) -> bool:
    return any(key in c.proto.id for c in at.get("plotly_chart"))


def arr(value) -> np.ndarray:
    """A plotly JSON array: a list, or {"dtype", "bdata"} (base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def db(sample_wh, sql: str, params=None) -> pd.DataFrame:
    con = duckdb.connect(str(sample_wh.path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def client(ml_store):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=ml_store.uri, registry_uri=ml_store.uri)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- registry state ------------------------------------------------------------------------------


def test_champion_metrics_params_and_importance_are_the_runs(on_ml):
    from ml.specs import load_specs

    at = render()
    assert at.selectbox(key="ml_model").value == on_ml.champion  # the first model with a champion
    run = client(on_ml).get_run(on_ml.champion_run_id)
    m, p = run.data.metrics, run.data.params
    assert metric(at, "Champion") == "v1"
    assert metric(at, "Rank-IC t") == f"{m['rank_ic_t']:.2f}"
    assert metric(at, "Rank IC") == f"{m['rank_ic']:.4f}"
    assert metric(at, "IC") == f"{m['ic']:.4f}"
    assert metric(at, "IC t") == f"{m['ic_t']:.2f}"
    assert metric(at, "AUC") == f"{m['auc']:.3f}"
    assert metric(at, "Accuracy") == f"{m['accuracy']:.3f}"
    assert metric(at, "OOS dates") == f"{m['rank_ic_n_dates']:,.0f}"
    assert metric(at, "Train start") == p["train_start"]
    assert metric(at, "Train end") == p["train_end"]
    assert metric(at, "Rows") == f"{int(p['n_rows']):,}"
    shown = frame_with(at, "metric", "value").set_index("metric")["value"]
    assert shown.to_dict() == dict(m)  # every metric exactly as logged
    # the feature importance chart is the run's artifact, largest at the top
    with tempfile.TemporaryDirectory() as tmp:
        path = client(on_ml).download_artifacts(
            on_ml.champion_run_id, "feature_importance.csv", tmp
        )
        logged = pd.read_csv(path).set_index("feature")["importance"]
    bars = chart(at, "importance_chart")["data"][0]
    assert list(bars["y"])[::-1] == list(logged.sort_values(ascending=False).index)
    assert dict(zip(bars["y"], arr(bars["x"]), strict=True)) == pytest.approx(logged.to_dict())
    # the models table: every spec, the champion, the failed version and the unregistered
    table = frame_with(at, "model", "kind", "features", "status").set_index("model")
    specs = load_specs()
    assert list(table.index) == list(specs)
    assert table.loc[on_ml.champion, "status"] == "champion v1"
    assert table.loc[on_ml.champion, "champion"] == table.loc[on_ml.champion, "latest"] == "v1"
    assert table.loc[on_ml.champion, "approval stat"] == pytest.approx(m["rank_ic_t"])
    assert table.loc[on_ml.champion, "approval"] == "rank-IC t >= 2"
    assert table.loc[on_ml.champion, "features"] == len(specs[on_ml.champion].features)
    assert table.loc[on_ml.rejected, "status"].startswith("not approved: rank-IC t")
    others = set(specs) - {on_ml.champion, on_ml.rejected}
    assert {table.loc[n, "status"] for n in others} == {"not registered"}


def test_unapproved_version_shows_why_not(on_ml):
    at = render(on_ml.rejected)
    value = client(on_ml).get_run(on_ml.rejected_run_id).data.metrics["rank_ic_t"]
    expected = f"not approved: rank-IC t {value:.2f} < 2"
    assert any(expected in i.value for i in at.info), [i.value for i in at.info]
    assert metric(at, "Latest version") == "v1"
    assert metric(at, "Rank-IC t") == f"{value:.2f}"
    assert not has_chart(at, "importance_chart")  # only a champion's importance is shown
    # the rejected model wrote no predictions: an empty state, not a ranking
    assert any(f"no predictions of {on_ml.rejected}" in i.value for i in at.info)


def test_spec_without_registered_model_is_an_empty_state(on_ml):
    at = render("xgb_price_fwd_return_h1")
    assert any(
        "xgb_price_fwd_return_h1 has no registered version" in i.value
        and "bash scripts/main.sh" in i.value
        for i in at.info
    )
    assert not [m for m in at.metric if m.label in ("Champion", "Latest version")]


# --- predictions ---------------------------------------------------------------------------------


def test_latest_ranking_and_out_of_sample_rank_ic(on_ml, sample_wh):
    from ml.specs import load_specs

    at = render()
    model = sample_wh.pred_model
    live = db(
        sample_wh,
        "select symbol, score from strategies.predictions where model = ? and date = ? "
        "order by score desc",
        [model, sample_wh.last_date],
    )
    assert metric(at, "Scored on") == str(sample_wh.last_date)
    assert metric(at, "Version") == "v1"
    assert metric(at, "Names scored") == str(len(live))
    n = at.slider(key="pred_top_n").value
    top = frame_with(at, "rank", "symbol", "score")
    assert list(top["symbol"]) == list(live["symbol"].head(n))
    assert list(top["rank"]) == list(range(1, n + 1))
    at.slider(key="pred_top_n").set_value(5).run()
    tables = [d.value for d in at.dataframe if {"rank", "symbol", "score"} <= set(d.value.columns)]
    assert list(tables[1]["symbol"]) == list(live["symbol"].tail(5))[::-1]  # worst first

    # rank IC per date, computed here from the file: Spearman of each OOS score with the
    # return over the spec's horizon from the total-return index, bars up to the as-of only
    h = load_specs()[model].horizon
    pairs = db(
        sample_wh,
        "with r as (select symbol, date, lead(tr_index, ?) over (partition by symbol "
        "order by date) / tr_index - 1 as fwd from derived.fct_returns_daily where date <= ?) "
        "select p.date, p.symbol, p.score, r.fwd from strategies.predictions p "
        "join r using (symbol, date) where p.model = ? and p.model_version like '%-oos' "
        "and r.fwd is not null",
        [h, sample_wh.last_date, model],
    )
    expected = pairs.groupby("date").apply(
        lambda g: g["score"].corr(g["fwd"], method="spearman"), include_groups=False
    )
    expected.index = pd.to_datetime(expected.index)
    ic = chart(at, "rank_ic_chart")["data"][0]
    got = pd.Series(arr(ic["y"]), index=pd.to_datetime(ic["x"]))
    assert len(got) == len(expected) > 50
    assert np.allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy())
    assert metric(at, "Mean rank IC") == f"{expected.mean():.4f}"
    assert expected.mean() > 0.1  # the sample's scores lean on the next day's return
    # the sidebar symbol's score history
    history = chart(at, "score_history_chart")["data"]
    spy = db(
        sample_wh,
        "select count(*) n from strategies.predictions where model = ? and symbol = 'SPY'",
        [model],
    )["n"].iloc[0]
    assert sum(len(arr(t["y"])) for t in history) == spy


# --- no store, and the store is never written ---------------------------------------------------


def test_no_mlflow_store_is_an_empty_state_and_none_is_created(on_ml, monkeypatch, tmp_path):
    where = tmp_path / "fresh" / "mlflow.db"
    monkeypatch.setenv("QUANT_MLFLOW_TRACKING_URI", f"sqlite:///{where}")
    at = render()
    messages = [i.value for i in at.info]
    assert any(
        "no MLflow model store at" in m and str(where) in m and "bash scripts/main.sh" in m
        for m in messages
    ), messages
    assert not where.parent.exists()  # neither the file nor its directory
    assert not (tmp_path / "fresh" / "mlartifacts").exists()
    # the specs are still listed, and the warehouse's predictions still shown
    table = frame_with(at, "model", "kind", "target", "horizon")
    assert "status" not in table.columns
    assert has_chart(at, "rank_ic_chart")


def test_empty_sqlite_file_is_not_migrated(on_ml, monkeypatch, tmp_path):
    empty = tmp_path / "mlflow.db"
    empty.touch()
    monkeypatch.setenv("QUANT_MLFLOW_TRACKING_URI", f"sqlite:///{empty}")
    at = render()
    assert any("no MLflow model store in" in i.value for i in at.info)
    assert empty.stat().st_size == 0


def test_page_never_writes_the_store_and_reruns_fast(on_ml):
    before = sha(on_ml.path)
    at = render()
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    assert not at.exception
    at.selectbox(key="ml_model").set_value(on_ml.rejected).run()
    assert not at.exception
    assert sha(on_ml.path) == before
    assert seconds < 2.0, seconds


def test_store_paths():
    from streamlit_app.data import mlflow_store_path

    assert mlflow_store_path("sqlite:////abs/m.db") == Path("/abs/m.db")
    assert mlflow_store_path("sqlite:///rel/m.db") == Path("rel/m.db")
    assert mlflow_store_path("file:///srv/mlruns") == Path("/srv/mlruns")
    assert mlflow_store_path("/srv/mlruns") == Path("/srv/mlruns")
    assert mlflow_store_path("http://mlflow.internal:5000") is None
    assert mlflow_store_path("postgresql://u@db/mlflow") is None


def test_latest_ranking_is_the_last_full_cross_section(tmp_path):
    """A Saturday on which only crypto has bars is not the ranking of a model that scores
    listed names: the latest ranking is the last day scoring the full cross-section."""
    import datetime as dt

    from quant_assets.warehouse import connect
    from streamlit_app import data

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    fri, sat = dt.date(2026, 12, 4), dt.date(2026, 12, 5)
    listed = [f"S{i:02d}" for i in range(12)]
    rows = [(pd.Timestamp(fri), "m", "1", s, float(i)) for i, s in enumerate(listed)]
    rows += [(pd.Timestamp(sat), "m", "1", s, float(i)) for i, s in enumerate(["BTC", "ETH"])]
    with connect(url) as wh:
        wh.migrate()
        wh.bulk_load(
            "strategies.predictions",
            pd.DataFrame(rows, columns=["date", "model", "model_version", "symbol", "score"]),
        )
    got = data.latest_predictions(url, "m", sat)
    data.reader(url).close()
    assert {pd.Timestamp(d).date() for d in got["date"]} == {fri}
    assert sorted(got["symbol"]) == listed
