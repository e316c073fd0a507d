"""Training the daily ML models (every spec of ml/specs.yaml) for the whole universe.

Data: the offline sample source over every instrument of universe.yaml (113), seed 7,
loaded into a throwaway DuckDB warehouse and built into derived.fct_features_daily by dbt
(`bench_dbt.py`'s loader and `dbt run`), then read back and turned into features and
total-return bars exactly as the `ml/training_dataset` asset does (13 price, 4 sentiment
and 21 context features: group ranks, macro as known, event flags). Per spec, what one
`ml_job` partition runs: labels, the walk-forward evaluation (4 expanding folds after the
first 40% of dates), the final fit on every row, MLflow logging + registration into a
throwaway sqlite store, and the approval check. `--years` sets the history (the `ml`
assets use 6 years back from the latest bar by default; 20 years is the stress case).

    .venv/bin/python benchmarks/bench_ml_training.py [--years 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml  # noqa: F401  (sets OMP_WAIT_POLICY before xgboost loads)
from ml.features import build_dataset, periods_per_year
from ml.specs import load_specs


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=20, help="years of history from 2005")
    args = ap.parse_args()

    from bench_dbt import dbt, load, sample_frames

    from ml.augment import Augmenter
    from ml.data import features_and_bars, read_mart, strategy_entries_until
    from ml.meta import meta_dataset
    from ml.tracking import ApprovalError, Tracker
    from ml.train import default_splitter, train
    from quant_assets.ingest import load_indicators
    from quant_assets.universe import load_universe
    from quant_assets.warehouse import connect

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    t_all, c_all = time.perf_counter(), cpu()
    inst = load_universe().instruments
    work = Path(tempfile.mkdtemp(prefix="bench-ml-"))
    url = f"duckdb:///{work / 'bench.duckdb'}"
    t0 = time.perf_counter()
    frames = sample_frames(args.years)
    load(url, frames)
    t_data = time.perf_counter() - t0
    t_dbt = dbt(url, ["run", "--full-refresh"], work / "target")
    t0 = time.perf_counter()
    with connect(url) as wh:  # indicators: strategy rules of meta-labelling specs read them
        load_indicators(wh, dt.date(2005, 1, 1), dt.date(2005 + args.years, 12, 31))
    with connect(url, read_only=True) as wh:
        mart = read_mart(wh, dt.date(1990, 1, 1), dt.date(2100, 1, 1))
        as_of = max(mart["date"])
        entries = {
            s.name: strategy_entries_until(wh, s.strategy, as_of, 366 * args.years)
            for s in load_specs().values()
            if s.strategy is not None
        }
    feats, bars = features_and_bars(mart)
    t_feat = time.perf_counter() - t0  # indicators, mart read, strategy entries, features
    print(f"sample data: {len(frames['market_data.ohlcv_daily']):,} bars, "
          f"{mart['symbol'].nunique()} symbols, {mart['date'].min()}..{mart['date'].max()}, "
          f"generated + loaded {t_data:.1f} s; dbt run {t_dbt:.1f} s")  # fmt: skip
    print(f"mart -> features: {len(feats):,} rows x {feats.shape[1] - 2} in {t_feat:.1f} s")

    tmp = tempfile.mkdtemp(prefix="bench-mlflow-")
    t0 = time.perf_counter()
    tracker = Tracker(f"sqlite:///{tmp}/mlflow.db", experiment="bench")
    t_store = time.perf_counter() - t0
    print(f"new MLflow store: {t_store:.1f} s (once per store)\n")

    head = (
        f"| {'spec':<27} | kind   | {'rows':>9} | feats | labels s | cv+fit+mlflow s "
        "| CPU s | OOS rank IC (t) | approval stat     | champion |"
    )
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    specs = load_specs()
    t_models = 0.0
    for spec in specs.values():
        t0 = time.perf_counter()
        opts = spec.label_options()
        if spec.strategy is not None:
            ds = meta_dataset(
                entries[spec.name], bars, feats, horizon=spec.horizon,
                feature_names=spec.features, target=opts["upper"], stop=opts["lower"],
                method=opts["method"], window=opts["window"],
            )  # fmt: skip
        else:
            ds = build_dataset(
                feats, bars, spec.target, spec.horizon, feature_names=spec.features, **opts
            )  # fmt: skip
        t_lab = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), cpu()
        aug = spec.augment
        augment = None if aug is None else Augmenter(
            bars=bars, target=spec.target, horizon=spec.horizon, model=aug.model,
            n_paths=aug.n_paths, n_days=aug.n_days, periods_per_year=periods_per_year(inst),
            barrier=spec.label_options(),
        )  # fmt: skip
        r = train(
            ds, kind=spec.kind, params=dict(spec.params), splitter=default_splitter(4),
            augment=augment, synthetic_weight=aug.weight if aug else 1.0,
            tracker=tracker, name=spec.name,
        )  # fmt: skip
        try:
            tracker.approve(
                spec.name, str(r.version), metric=spec.approve.metric,
                threshold=spec.approve.threshold,
            )  # fmt: skip
            champion = "yes"
        except ApprovalError:
            champion = "no"
        t_fit, c_fit = time.perf_counter() - t0, cpu() - c0
        t_models += t_lab + t_fit
        m = r.metrics
        print(
            f"| {spec.name:<27} | {spec.kind:<6} | {len(ds):>9,} | {len(ds.features):>5} "
            f"| {t_lab:>8.1f} | {t_fit:>15.1f} | {c_fit:>5.0f} "
            f"| {m['rank_ic']:+.4f} ({m['rank_ic_t']:+5.1f}) "
            f"| {spec.approve.metric:<9} {m.get(spec.approve.metric, float('nan')):+5.2f} "
            f"| {champion:<8} |",
            flush=True,
        )
    wall = time.perf_counter() - t_all
    print(
        f"\n{len(specs)} daily models (labels + cv + final fit + MLflow): {t_models:.0f} s; "
        f"whole script {wall:.0f} s wall, {cpu() - c_all:.0f} s CPU; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
