"""Training the daily ML models for the whole universe on sample data.

Data: the offline sample source over every instrument of universe.yaml (113) for
2006-01-01..2025-12-31 (seed 7), bars adjusted for splits and dividends, the 13 price
features of `ml.features.price_features` (the pandas mirror of the dbt mart). One XGBoost
model per (target, horizon), fitted on every labelled row (the fit the daily `ml` assets
refresh). Optional: the walk-forward evaluation (4 expanding folds, `--cv`) and MLflow
logging + registration into a throwaway sqlite store (`--track`).

    .venv/bin/python benchmarks/bench_ml_training.py [--cv] [--track] [--symbols N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml  # noqa: F401  (sets OMP_WAIT_POLICY before xgboost loads)
from ml.features import (
    PRICE_FEATURES,
    adjusted_bars,
    build_dataset,
    periods_per_year,
    price_features,
)

MODELS = [
    ("direction", 1, {}),
    ("direction", 5, {}),
    ("direction", 21, {}),
    ("fwd_return", 1, {"vol_scaled": True}),
    ("fwd_return", 5, {"vol_scaled": True}),
    ("fwd_return", 21, {"vol_scaled": True}),
    ("triple_barrier", 10, {"upper": 1.0, "lower": 1.0}),
]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=0, help="first N instruments (0 = all)")
    ap.add_argument("--cv", action="store_true", help="also time the walk-forward evaluation")
    ap.add_argument("--track", action="store_true", help="also log + register in MLflow")
    args = ap.parse_args()

    from quant_assets.sources.sample import SampleSource
    from quant_assets.universe import load_universe

    t_all, c_all = time.perf_counter(), cpu()
    inst = load_universe().instruments
    inst = inst[: args.symbols] if args.symbols else inst
    src = SampleSource(instruments=inst, seed=7)
    start, end = dt.date(2006, 1, 1), dt.date(2025, 12, 31)
    symbols = [i.symbol for i in inst]
    t0 = time.perf_counter()
    ohlcv = src.ohlcv(symbols, start, end)
    events = src.security_events(symbols, start, end)
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    bars = adjusted_bars(ohlcv, events)
    feats = price_features(bars, periods_per_year=periods_per_year(inst))
    t_feat = time.perf_counter() - t0
    print(f"sample data: {len(ohlcv):,} bars, {len(symbols)} symbols, {t_data:.1f} s")
    print(f"features: {len(feats):,} rows x {len(PRICE_FEATURES)} in {t_feat:.1f} s\n")

    from ml.cv import WalkForward
    from ml.models import make_model
    from ml.train import train

    tracker = None
    if args.track:
        from ml.tracking import Tracker

        tmp = tempfile.mkdtemp(prefix="bench-mlflow-")
        t0 = time.perf_counter()
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db", experiment="bench")
        print(f"new MLflow store: {time.perf_counter() - t0:.1f} s\n")

    head = f"| {'model':<26} | {'rows':>9} | feats | labels s | fit s | fit CPU s |"
    head += " cv s |" if args.cv else ""
    head += " cv+fit+mlflow s |" if args.track else ""
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    total_fit = 0.0
    for target, h, kw in MODELS:
        t0 = time.perf_counter()
        ds = build_dataset(feats, bars, target, h, feature_names=PRICE_FEATURES, **kw)
        t_lab = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), cpu()
        make_model("xgb", ds.task).fit(ds)
        t_fit, c_fit = time.perf_counter() - t0, cpu() - c0
        total_fit += t_fit
        row = f"| {f'xgb {target} h={h}':<26} | {len(ds):>9,} | {len(ds.features):>5} | {t_lab:>8.1f} | {t_fit:>5.1f} | {c_fit:>9.1f} |"
        note = ""
        if args.cv:
            t0 = time.perf_counter()
            r = train(ds, kind="xgb", splitter=WalkForward(4, min_train=0.4))
            row += f" {time.perf_counter() - t0:>4.0f} |"
            note = f"  OOS rank IC {r.metrics['rank_ic']:+.4f} (t {r.metrics['rank_ic_t']:+.1f})"
        if tracker is not None:
            t0 = time.perf_counter()
            train(ds, kind="xgb", splitter=WalkForward(4, min_train=0.4), tracker=tracker)
            row += f" {time.perf_counter() - t0:>15.0f} |"
        print(row + note, flush=True)
    wall = time.perf_counter() - t_all
    print(
        f"\nfinal fits: {total_fit:.0f} s for {len(MODELS)} models; whole script {wall:.0f} s "
        f"wall, {cpu() - c_all:.0f} s CPU"
    )


if __name__ == "__main__":
    main()
