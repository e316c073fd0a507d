"""What the ml assets read: the features mart, a strategy's new trades, a fit's path
augmenter and the out-of-sample history of a tracked fit.

Plain functions on a `Warehouse` (and a `Tracker`), so the Dagster assets only wire them
and a benchmark or test calls them directly.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import TYPE_CHECKING, Any

import pandas as pd

from ml.augment import Augmenter
from ml.evaluate import predict_daily
from ml.features import SENTIMENT_FEATURES, Dataset, periods_per_year
from ml.features import features_from_mart as _features_from_mart
from ml.meta import strategy_entries
from ml.tracking import OOS_ARTIFACT, Tracker
from quant_assets.schemas.tables import PREDICTIONS

if TYPE_CHECKING:
    from ml.specs import ModelSpec
    from quant_assets.warehouse.base import Warehouse

STRATEGY_WARMUP_DAYS = 400  # calendar days before a window so 200/252-bar strategy rules are full

_MART_SQL = (
    "select * from derived.fct_features_daily where date between ? and ? order by symbol, date"
)


class NoStrategySymbolsError(LookupError):
    """A meta-labelling spec's strategy has no symbol with bars: nothing to label."""


PREDICT_HISTORY_DAYS = 60  # bars behind as_of so rsi_14 (recomputed from tr_index) is full


def read_mart(wh: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Rows of derived.fct_features_daily with start <= date <= end."""
    return wh.query(_MART_SQL, [start, end])


def features_and_bars(mart: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model features, and bars whose close is the total-return index (labels are total returns)."""
    feats = _features_from_mart(mart)
    bars = mart[["symbol", "date", "tr_index"]].rename(columns={"tr_index": "close"})
    bars = bars[bars["close"].notna() & (bars["close"] > 0)]
    return feats, bars.assign(date=pd.to_datetime(bars["date"]), symbol=bars["symbol"].astype(str))


def strategy_entries_until(
    wh: Warehouse, name: str, as_of: dt.date, lookback_days: int
) -> pd.DataFrame:
    """New trades (date, symbol, side) of library strategy `name` over the lookback, from
    its signals recomputed on the stored features (what meta-labelling labels).

    Raises NoStrategySymbolsError when none of the strategy's symbols has bars by `as_of`.
    """
    from quant_assets.strategy.config import load_library, resolve_symbols
    from quant_assets.strategy.panels import load_panels
    from quant_assets.strategy.recommend import available_universe
    from quant_assets.strategy.signals import generate_signals
    from quant_assets.universe import load_universe

    full = load_universe()
    strategy = load_library(universe=full)[name]
    days = lookback_days + STRATEGY_WARMUP_DAYS
    panels = load_panels(wh, as_of, resolve_symbols(strategy, full), days)
    universe = available_universe(full, panels.symbols)  # members with bars, as run_library
    symbols = resolve_symbols(strategy, universe)
    if not symbols:
        raise NoStrategySymbolsError(
            f"meta-labelling: strategy {name!r} has no symbol with bars by {as_of}"
        )
    signals = generate_signals(strategy, panels.features, panels.prices(symbols), universe=universe)
    first = pd.Timestamp(as_of - dt.timedelta(days=lookback_days))
    entries = strategy_entries(signals)
    return entries[entries["date"] >= first].reset_index(drop=True)


def augmenter(spec: ModelSpec, wh: Warehouse, dataset: Dataset) -> Augmenter:
    """Simulated paths for `spec`, fitted per fold on the returns its training labels cover."""
    from quant_assets.universe import load_universe

    if spec.augment is None:
        raise ValueError(f"model spec {spec.name!r} has no `augment` section")
    start, end = dataset.t0.min().date(), dataset.t1.max().date()
    _, bars = features_and_bars(read_mart(wh, start - dt.timedelta(days=7), end))
    return Augmenter(
        bars=bars,
        target=spec.target,
        horizon=spec.horizon,
        model=spec.augment.model,
        n_paths=spec.augment.n_paths,
        n_days=spec.augment.n_days,
        periods_per_year=periods_per_year(load_universe().instruments),
        barrier=spec.label_options(),
    )


def oos_history(
    tracker: Tracker, name: str, version: str, wh: Warehouse, *, before: dt.date
) -> pd.DataFrame:
    """The champion run's walk-forward scores for dates with no prediction of `name` yet.

    Each was made by a fold model that never saw its date, so the ml_signal strategy gets
    an honest history to backtest on; rows are marked `<version>-oos`, and predictions
    already written live for a date are kept as they were.
    """
    run_id = tracker.client.get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        oos = pd.read_parquet(tracker.client.download_artifacts(run_id, OOS_ARTIFACT, tmp))
    oos = oos.dropna(subset=["score"])
    dates = pd.to_datetime(oos["date"]).dt.date
    oos = oos.assign(date=dates)[dates < before]
    known = wh.query("select distinct date from strategies.predictions where model = ?", [name])[
        "date"
    ]
    known_dates = set(pd.to_datetime(known).dt.date)
    oos = oos[~oos["date"].isin(known_dates)]
    out = oos.assign(model=name, model_version=f"{version}-oos", symbol=oos["symbol"].astype(str))
    return out[PREDICTIONS.column_names]


def champion_scores(
    wh: Warehouse, spec: ModelSpec, champion: Any, version: str, as_of: dt.date
) -> pd.DataFrame:
    """The champion's scores of `as_of`'s features, as strategies.predictions rows."""
    mart = read_mart(wh, as_of - dt.timedelta(days=PREDICT_HISTORY_DAYS), as_of)
    feats, _ = features_and_bars(mart)
    today = feats[pd.to_datetime(feats["date"]).dt.date == as_of]
    if spec.strategy is not None:  # P(target first) of the trades the strategy opens today
        entries = strategy_entries_until(wh, spec.strategy, as_of, PREDICT_HISTORY_DAYS)
        entries = entries[entries["date"].dt.date == as_of]
        today = today.assign(symbol=today["symbol"].astype(str)).merge(
            entries[["symbol", "side"]], on="symbol", how="inner"
        )
    if today.empty:  # e.g. a meta-labelling spec whose strategy opens nothing today
        scores = pd.DataFrame({"symbol": [], "date": pd.to_datetime([]), "score": []})
    else:
        scores = predict_daily(champion, today.fillna(dict.fromkeys(SENTIMENT_FEATURES, 0.0)))
    return scores.assign(date=scores["date"].dt.date, model=spec.name, model_version=version)[
        PREDICTIONS.column_names
    ]
