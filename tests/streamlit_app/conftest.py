"""Warehouses the app is tested on: the offline sample market plus hand-made outputs, an
empty (migrated) one, and a URL with no file behind it; and one MLflow store.

The sample one is built once per session: raw tables through `ingest.bulk_load` on the
sample source, the universe and indicators through the warehouse API, hand-made rows for
the strategies.* / execution.* tables, and the two dbt marts the app reads created with
duckdb directly (dbt builds them in the real pipeline).

The MLflow store (`ml_store`, once per session) holds two small fits under spec names:
an approved champion and a registered version that failed approval. Every other test
points QUANT_MLFLOW_TRACKING_URI at a path with no store, so no test reads data/mlflow.db.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

START = dt.date(2023, 10, 2)
END = dt.date(2024, 3, 28)
PRED_MODEL = "xgb_direction_h5"  # the spec with predictions in the sample warehouse
CHAMPION_MODEL = PRED_MODEL  # approved in ml_store
REJECTED_MODEL = "linear_fwd_return_h1"  # registered in ml_store, not approved


@dataclass(frozen=True)
class SampleWarehouse:
    url: str
    path: Path
    reports_dir: Path
    last_date: dt.date
    rec_date: dt.date
    n_recs: int
    symbols_with_bars: frozenset[str]
    pred_model: str = PRED_MODEL


def _png(width: int = 4, height: int = 3) -> bytes:
    """A tiny valid RGB PNG (for the report's chart image)."""
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + tag
            + payload
            + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _ts(day: dt.date, hour: int = 21) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize("UTC") + pd.Timedelta(hours=hour)


def _strategy_rows(wh, last: dt.date, prev: dt.date, reports_dir: Path) -> int:
    """Hand-made strategies.* rows; returns the number of recommendations on `last`."""
    closes = wh.read_panel(["SPY", "QQQ"], START, END, fields=("close",))["close"]
    curves = []
    for name, sym in (("trend_spy", "SPY"), ("momentum_qqq", "QQQ")):
        eq = 100_000 * closes[sym] / closes[sym].iloc[0]
        curves.append(
            pd.DataFrame(
                {
                    "strategy": name,
                    "date": eq.index,
                    "equity": eq.to_numpy(),
                    "drawdown": (eq / eq.cummax() - 1).to_numpy(),
                    "daily_return": eq.pct_change().to_numpy(),
                }
            )
        )
    wh.bulk_load("strategies.equity_curves", pd.concat(curves, ignore_index=True))

    stats = []
    for name, sharpe in (("trend_spy", 1.1), ("momentum_qqq", 0.8)):
        for metric, value in (
            ("total_return", 0.12),
            ("cagr", 0.25),
            ("sharpe", sharpe),
            ("sortino", sharpe * 1.4),
            ("max_drawdown", -0.07),
            ("hit_rate", 0.55),
        ):
            stats.append((name, last, metric, value))
    stats.append(("trend_spy", prev, "sharpe", -9.0))  # an older as_of the page must not show
    wh.bulk_load(
        "strategies.backtest_stats",
        pd.DataFrame(stats, columns=["strategy", "as_of", "metric", "value"]),
    )

    days = np.arange(0, 21)
    mc = []
    for model, vol in (("gbm", 0.01), ("bootstrap", 0.012)):
        for d in days:
            s = vol * np.sqrt(d)
            mc.append(
                (
                    "trend_spy",
                    model,
                    last,
                    int(d),
                    -1.645 * s,
                    -0.674 * s,
                    0.0,
                    0.674 * s,
                    1.645 * s,
                )
            )
    wh.bulk_load(
        "strategies.monte_carlo",
        pd.DataFrame(
            mc, columns=["subject", "model", "as_of", "day", "p05", "p25", "p50", "p75", "p95"]
        ),
    )

    risk = [
        ("var_95", "portfolio", 0.018),
        ("cvar_95", "portfolio", 0.026),
        ("var_99", "portfolio", 0.029),
        ("cvar_99", "portfolio", 0.037),
        ("var_95", "etf_core", 0.015),
        ("gross_exposure", "portfolio", 1.2),
        ("net_exposure", "portfolio", 0.6),
        ("gross_exposure", "etf_core", 0.8),
        ("net_exposure", "etf_core", 0.5),
        ("gross_exposure", "us_megacap", 0.4),
        ("net_exposure", "us_megacap", 0.1),
        ("drawdown", "portfolio", -0.06),
        ("drawdown_derisk_at", "portfolio", 0.10),
        ("drawdown_halt_at", "portfolio", 0.20),
    ]
    wh.bulk_load(
        "strategies.risk_snapshot",
        pd.DataFrame(
            [(last, m, s, v) for m, s, v in risk], columns=["as_of", "metric", "scope", "value"]
        ),
    )

    scen = []
    for scenario, shock in (("2008_gfc", -0.35), ("rates_up_200bp", -0.08)):
        for sym, grp, mv in (
            ("SPY", "etf_core", 50_000),
            ("QQQ", "etf_core", -20_000),
            ("NVDA", "us_megacap", 10_000),
        ):
            scen.append((last, scenario, sym, grp, float(mv), shock, mv * shock, "replay"))
    wh.bulk_load(
        "strategies.scenario_results",
        pd.DataFrame(
            scen,
            columns=[
                "as_of",
                "scenario",
                "symbol",
                "group_name",
                "market_value",
                "scenario_return",
                "pnl",
                "method",
            ],
        ),
    )

    es = [
        (last, "earnings", "beat", "us_megacap", "all", 40, 0.012, 0.03, 2.5),
        (last, "earnings", "miss", "us_megacap", "all", 25, -0.018, 0.04, -2.2),
        (last, "economic:CPI", "above", "etf_core", "all", 12, -0.004, 0.01, -1.4),
        (last, "economic:CPI", "below", "etf_core", "all", 10, 0.006, 0.01, 1.9),
    ]
    wh.bulk_load(
        "strategies.event_study",
        pd.DataFrame(
            es,
            columns=[
                "as_of",
                "event_class",
                "bucket",
                "group_name",
                "symbol",
                "n_events",
                "mean_car",
                "std_car",
                "t_stat",
            ],
        ),
    )

    def rec(day, strategy, symbol, side, weight, qty, price):
        return {
            "date": day,
            "strategy": strategy,
            "symbol": symbol,
            "leg": "main",
            "side": side,
            "target_weight": weight,
            "quantity": qty,
            "notional": qty * price * (1 if side == "buy" else -1),
            "entry_price": price,
            "stop_price": price * 0.95,
            "target_price": None,
            "conditions": json.dumps(
                {
                    "signal": "entry_long: ma_fast > ma_slow",
                    "fired": [{"name": "ma_fast > ma_slow", "value": 1.8, "threshold": 0.0}],
                    "values": {"ma_fast": 512.5, "ma_slow": 498.0},
                }
            ),
            "sizing_rule": "vol_target",
            "sizing_reason": "10% vol target / 18% realised vol, capped by max_name 20%",
            "stats": json.dumps({"sharpe": 1.1, "hit_rate": 0.55, "n_trades": 42}),
            "events": json.dumps([{"date": str(day), "event": "CPI"}]),
            "scenario_pnl": json.dumps({"2008_gfc": -1200.5}),
            "is_sample": True,
        }

    recs = [
        rec(last, "trend_spy", "SPY", "buy", 0.2, 40, 510.0),
        rec(last, "momentum_qqq", "QQQ", "sell", -0.1, 25, 440.0),
        rec(last, "momentum_qqq", "NVDA", "buy", 0.05, 10, 900.0),
        rec(prev, "trend_spy", "SPY", "buy", 0.2, 38, 505.0),
    ]
    wh.bulk_load("strategies.recommendations", pd.DataFrame(recs))

    day_dir = reports_dir / last.isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    (day_dir / "sod_equity.png").write_bytes(_png())
    (day_dir / "sod.html").write_text(
        "<html><body><h1>SOD report</h1><p>SAMPLE</p>"
        '<img alt="equity" src="sod_equity.png"></body></html>',
        encoding="utf-8",
    )
    (day_dir / "sod.txt").write_text("SOD report (text)\n", encoding="utf-8")
    (day_dir / "trend_spy_tearsheet.html").write_text(
        "<html><body><h1>trend_spy tearsheet</h1></body></html>", encoding="utf-8"
    )
    sweeps = reports_dir / "sweeps"
    sweeps.mkdir(exist_ok=True)
    grid = [
        (f, s, 1.0 - abs(f - 20) / 40 - abs(s - 100) / 400)
        for f in (10, 20, 30)
        for s in (50, 100, 200)
    ]
    pd.DataFrame(grid, columns=["fast", "slow", "sharpe"]).to_csv(
        sweeps / "ma_cross.csv", index=False
    )
    wh.bulk_load(
        "strategies.reports",
        pd.DataFrame(
            [
                (
                    last,
                    "sod",
                    str(day_dir / "sod.html"),
                    str(day_dir / "sod.txt"),
                    "not_configured",
                    _ts(last, 12),
                    True,
                ),
                (
                    prev,
                    "eod",
                    str(reports_dir / "gone" / "eod.html"),
                    None,
                    "sent",
                    _ts(prev),
                    True,
                ),
            ],
            columns=[
                "report_date",
                "kind",
                "html_path",
                "text_path",
                "email_status",
                "created_at",
                "is_sample",
            ],
        ),
    )
    return sum(r["date"] == last for r in recs)


def _execution_rows(wh, last: dt.date) -> None:
    t = _ts(last, 15)
    orders = []
    for i, (sym, side, qty, status, filled, price, reason) in enumerate(
        [
            ("SPY", "buy", 40, "filled", 40, 510.2, None),
            ("QQQ", "sell", 25, "rejected", 0, None, "max_name 20% > limit 15%"),
            ("NVDA", "buy", 10, "new", 0, None, None),
        ]
    ):
        orders.append(
            {
                "client_order_id": f"trend-{last:%Y%m%d}-{i}",
                "parent_id": None,
                "strategy": "trend_spy",
                "trade_date": last,
                "leg": None,
                "ratio": None,
                "intent": "rebalance",
                "symbol": sym,
                "side": side,
                "qty": float(qty),
                "order_type": "market",
                "limit_price": None,
                "stop_price": None,
                "time_in_force": "day",
                "status": status,
                "filled_qty": float(filled),
                "avg_fill_price": price,
                "broker": "paper",
                "broker_order_id": f"p-{i}",
                "reason": reason,
                "created_at": t,
                "updated_at": t,
            }
        )
    wh.bulk_load("execution.orders", pd.DataFrame(orders))
    wh.bulk_load(
        "execution.fills",
        pd.DataFrame(
            [
                (
                    "paper",
                    "f-1",
                    orders[0]["client_order_id"],
                    "SPY",
                    "buy",
                    25.0,
                    510.1,
                    1.0,
                    0.5,
                    0.25,
                    t,
                    last,
                ),
                (
                    "paper",
                    "f-2",
                    orders[0]["client_order_id"],
                    "SPY",
                    "buy",
                    15.0,
                    510.4,
                    1.0,
                    0.3,
                    0.15,
                    t,
                    last,
                ),
            ],
            columns=[
                "broker",
                "fill_id",
                "client_order_id",
                "symbol",
                "side",
                "qty",
                "price",
                "commission",
                "spread_cost",
                "slippage_cost",
                "fill_time",
                "trade_date",
            ],
        ),
    )
    wh.bulk_load(
        "execution.positions",
        pd.DataFrame(
            [
                ("paper", "SPY", 40.0, 510.2, t),
                ("paper", "QQQ", -10.0, 430.0, t),
                ("paper", "TLT", 0.0, None, t),
            ],
            columns=["account", "symbol", "qty", "avg_price", "updated_at"],
        ),
    )
    wh.bulk_load(
        "execution.accounts",
        pd.DataFrame(
            [("paper", 85_000.0, 100_000.0, t)],
            columns=["account", "cash", "initial_cash", "updated_at"],
        ),
    )
    wh.bulk_load(
        "execution.reconciliation_breaks",
        pd.DataFrame(
            [("rec-1", t, "paper", "QQQ", -10.0, -12.0, -2.0)],
            columns=["run_id", "run_time", "broker", "symbol", "oms_qty", "broker_qty", "diff"],
        ),
    )
    wh.bulk_load(
        "execution.kill_switch",
        pd.DataFrame(
            [
                ("ks-1", t - pd.Timedelta(days=3), True, "ops", "drill"),
                ("ks-2", t - pd.Timedelta(days=2), False, "ops", "drill over"),
            ],
            columns=["event_id", "changed_at", "active", "changed_by", "reason"],
        ),
    )


def _prediction_rows(wh, bars: pd.DataFrame, dates: list[dt.date]) -> None:
    """strategies.predictions of PRED_MODEL: walk-forward history ('1-oos') on every listed
    day but the last, whose scores lean on the next day's return (a positive rank IC), and
    the live champion's scores ('1') on the last day."""
    rng = np.random.default_rng(11)
    listed = bars[bars["date"].dt.date.isin(set(dates))]
    closes = listed.pivot_table(index="date", columns="symbol", values="close").sort_index()
    closes = closes.dropna(axis=1)  # symbols with a bar every listed day
    nxt = closes.shift(-1) / closes - 1.0
    z = nxt.sub(nxt.mean(axis=1), axis=0).div(nxt.std(axis=1), axis=0)
    scores = 0.4 * z + pd.DataFrame(
        rng.standard_normal(closes.shape), index=closes.index, columns=closes.columns
    )
    scores.iloc[-1] = rng.standard_normal(closes.shape[1])  # live: no future in it
    long = scores.rename_axis(index="date", columns="symbol").stack(future_stack=True)
    long = long.rename("score")
    out = long.reset_index()
    out["date"] = out["date"].dt.date
    last = dates[-1]
    out["model"] = PRED_MODEL
    out["model_version"] = np.where(out["date"] == last, "1", "1-oos")
    wh.bulk_load(
        "strategies.predictions", out[["date", "model", "model_version", "symbol", "score"]]
    )


def build_sample_warehouse(root: Path) -> SampleWarehouse:
    """The offline sample market START..END plus hand-made outputs, in root/sample.duckdb."""
    from quant_assets.ingest import bulk_load
    from quant_assets.sources.select import source_for
    from quant_assets.strategy.indicators import compute_indicators
    from quant_assets.universe import load_universe
    from quant_assets.warehouse import connect

    path = root / "sample.duckdb"
    reports_dir = root / "reports"
    url = f"duckdb:///{path}"
    universe = load_universe()
    wh = connect(url)
    try:
        wh.migrate()
        for fqn, frame in universe.to_frames().items():
            wh.bulk_load(fqn, frame)
        bulk_load(wh, lambda domain: source_for(domain, "sample", seed=7), universe, START, END)
        bars = wh.read_table("market_data.ohlcv_daily")
        wh.bulk_load("derived.technical_indicators", compute_indicators(bars))
        dates = sorted(bars.loc[bars["symbol"] == "SPY", "date"].dt.date.unique())
        last, prev = dates[-1], dates[-2]
        n_recs = _strategy_rows(wh, last, prev, reports_dir)
        _prediction_rows(wh, bars, dates)
        _execution_rows(wh, last)
        symbols = frozenset(bars["symbol"].unique())
    finally:
        wh.close()
    con = duckdb.connect(str(path))
    try:
        con.execute(
            """
            create table derived.fct_returns_daily as
            select symbol, date, close,
                   close / lag(close) over w - 1 as ret_simple,
                   close / first_value(close) over w as tr_index,
                   close / max(close) over w - 1 as drawdown,
                   is_sample
            from market_data.ohlcv_daily
            window w as (partition by symbol order by date)
            """
        )
        con.execute(
            """
            create table derived.fct_economic_surprises as
            select event_code, release_date, release_time, name as event_name, country, period,
                   actual, consensus, previous, unit, actual - consensus as surprise,
                   case when consensus <> 0 then (actual - consensus) / abs(consensus) end
                       as surprise_pct,
                   cast(null as double) as surprise_z, is_sample
            from events.economic_events
            """
        )
    finally:
        con.close()
    return SampleWarehouse(url, path, reports_dir, last, last, n_recs, symbols)


@pytest.fixture(scope="session")
def sample_wh(tmp_path_factory) -> SampleWarehouse:
    return build_sample_warehouse(tmp_path_factory.mktemp("app_sample"))


@pytest.fixture(scope="session")
def empty_wh_url(tmp_path_factory) -> str:
    from quant_assets.warehouse import connect

    url = f"duckdb:///{tmp_path_factory.mktemp('app_empty') / 'empty.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
    return url


@pytest.fixture
def missing_wh_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'nowhere' / 'warehouse.duckdb'}"


@pytest.fixture(autouse=True)
def _no_mlflow_store(monkeypatch, tmp_path):
    """No test reads the developer's data/mlflow.db: by default the store is absent."""
    monkeypatch.setenv(
        "QUANT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'no_mlflow' / 'mlflow.db'}"
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@dataclass(frozen=True)
class MlStore:
    uri: str
    path: Path
    champion: str  # spec name whose version 1 is the champion
    champion_run_id: str
    rejected: str  # spec name with version 1 registered and not approved
    rejected_run_id: str


def _toy_dataset(strength: float, seed: int, task: str):
    """10 symbols x 160 days, one informative feature of the given strength."""
    from ml.features import make_dataset

    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=160)
    f = pd.DataFrame(
        [(s, d) for d in dates for s in "ABCDEFGHIJ"], columns=["symbol", "date"]
    ).assign(x1=lambda d: rng.standard_normal(len(d)), x2=lambda d: rng.standard_normal(len(d)))
    fwd = strength * f["x1"] + rng.standard_normal(len(f))
    y = (fwd > 0).astype(float) if task == "classification" else fwd
    lab = f[["symbol", "date"]].assign(fwd_ret=fwd, y=y, t1=f["date"] + pd.Timedelta(days=1))
    target = "direction" if task == "classification" else "fwd_return"
    return make_dataset(f, lab, target=target, horizon=1, task=task)


@pytest.fixture(scope="session")
def ml_store(request, tmp_path_factory) -> MlStore:
    """A sqlite MLflow store: CHAMPION_MODEL v1 approved, REJECTED_MODEL v1 not approved.

    A new store runs MLflow's schema migrations (10-40 s here), so an empty migrated store
    is kept in pytest's cache per MLflow version (as tests/ml does) and copied.
    """
    import shutil

    import mlflow

    from ml.cv import WalkForward
    from ml.tracking import DEFAULT_THRESHOLD, Tracker
    from ml.train import train

    path = tmp_path_factory.mktemp("app_mlflow") / "mlflow.db"
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if cache is not None:
        template = cache.mkdir(f"ml-mlflow-{mlflow.__version__}") / "empty.db"
        if not template.exists():
            scratch = tmp_path_factory.mktemp("app_mlflow_template") / "empty.db"
            Tracker(f"sqlite:///{scratch}", experiment="template")
            shutil.copyfile(scratch, template)
        shutil.copyfile(template, path)
    uri = f"sqlite:///{path}"
    tracker = Tracker(uri, experiment="app-tests")
    good = train(
        _toy_dataset(0.5, 2, "classification"),
        kind="xgb",
        params={"n_estimators": 20},
        splitter=WalkForward(2),
        tracker=tracker,
        name=CHAMPION_MODEL,
    )
    tracker.approve(CHAMPION_MODEL, str(good.version), threshold=DEFAULT_THRESHOLD)
    bad = train(
        _toy_dataset(0.0, 3, "regression"),
        kind="linear",
        splitter=WalkForward(2),
        tracker=tracker,
        name=REJECTED_MODEL,
    )
    assert bad.metrics["rank_ic_t"] < DEFAULT_THRESHOLD
    assert good.run_id and bad.run_id
    return MlStore(uri, path, CHAMPION_MODEL, good.run_id, REJECTED_MODEL, bad.run_id)


@pytest.fixture(scope="session", autouse=True)
def _scan_streamlit_components_once():
    """AppTest scans every installed distribution for components on each new AppTest
    (about 1 s here, most of a page test); the installed set cannot change during a run."""
    from streamlit.components.v2 import manifest_scanner

    original = manifest_scanner.scan_component_manifests
    once = functools.lru_cache(maxsize=1)(original)
    manifest_scanner.scan_component_manifests = lambda: list(once())
    yield
    manifest_scanner.scan_component_manifests = original
