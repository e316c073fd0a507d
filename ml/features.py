"""Point-in-time feature frames and the labelled datasets the models train on.

A feature at (symbol, t) uses that symbol's bars up to and including t and news items dated
up to t, nothing later; labels (`ml.labels`) cover bars t+1..t+h. Definitions mirror the
dbt marts (fct_returns_daily, fct_price_features_daily, fct_sentiment_daily, joined in
derived.fct_features_daily), so a model can train on this pandas version (for instance on
simulated price paths, which never enter the warehouse) and predict on the mart:

- total-return index: gross_t = (close_t + dividend_t) * split_ratio_t / close_{t-1},
  tr_index = cumulative product from 1 at the first bar; events take effect on the
  symbol's first bar on or after their date.
- ret_log = ln(tr_t / tr_{t-1}); vol_n = sample std of ret_log over n rows * sqrt(periods
  per year) (252, or 365 for crypto); mom_k = tr_t / tr_{t-k} - 1; px_sma_n = tr_t /
  mean(tr over n rows) - 1 (= close / sma_n - 1 in the mart); zscore_20 against the 20-row
  mean with the population std; drawdown from the running peak of tr. Null until full.
- rsi_14: Wilder's RSI of tr (TA-Lib's seeding); not a mart column, computed from the
  mart's tr_index by `features_from_mart`.
- sentiment: items of UTC date d count on the symbol's first bar on or after d;
  sent_score = mean item score of the bar, sent_score_ma_{5,20}d item-weighted over 5/20 bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ml._panel import Ragged, sort_long

PRICE_FEATURES: tuple[str, ...] = (
    "ret_log",
    "vol_20",
    "vol_60",
    "zscore_20",
    "mom_21",
    "mom_63",
    "mom_126",
    "mom_252",
    "px_sma_20",
    "px_sma_50",
    "px_sma_200",
    "drawdown",
    "rsi_14",
)
SENTIMENT_FEATURES: tuple[str, ...] = (
    "sent_n_items",
    "sent_score",
    "sent_score_ma_5d",
    "sent_score_ma_20d",
)
# Columns of derived.fct_features_daily passed through as they are: group momentum ranks,
# macro states as known on the date (vintages), and the day's event flags. They exist only
# in the mart (not on simulated paths nor in `build_features`).
CONTEXT_FEATURES: tuple[str, ...] = (
    "mom_21_group_pct",
    "mom_63_group_pct",
    "mom_126_group_pct",
    "mom_252_group_pct",
    "macro_cpiaucsl_yoy",
    "macro_unrate",
    "macro_unrate_mom",
    "macro_payems_mom",
    "macro_fedfunds",
    "macro_fedfunds_mom",
    "macro_dgs10",
    "macro_dgs10_mom",
    "macro_gdp_yoy",
    "n_economic_events",
    "is_cpi_day",
    "is_nfp_day",
    "is_fomc_day",
    "is_earnings_day",
    "eps_surprise",
    "n_geo_events",
    "geo_max_severity",
)
# No news is neutral news: what missing sentiment becomes in a dataset.
NEUTRAL_FILL: dict[str, float] = dict.fromkeys(SENTIMENT_FEATURES, 0.0)

Task = Literal["classification", "regression"]


def periods_per_year(instruments: Sequence[object]) -> dict[str, float]:
    """Annualisation per symbol: 365 for 24/7 (crypto) calendars, else 252 (as the mart)."""

    def get(i: object, key: str) -> object:
        return i.get(key) if isinstance(i, Mapping) else getattr(i, key, None)

    return {
        str(get(i, "symbol")): 365.0
        if get(i, "calendar") == "24/7" or get(i, "asset_class") == "crypto"
        else 252.0
        for i in instruments
    }


def _effective_bar(bars: pd.DataFrame, items: pd.DataFrame, date_col: str) -> pd.DataFrame:
    """items with a `date` column: the symbol's first bar on or after items[date_col]."""
    if items.empty:
        return items.assign(date=pd.Series(dtype="datetime64[ns]"))
    left = items.assign(_when=pd.to_datetime(items[date_col]).astype("datetime64[ns]"))
    left = left.sort_values("_when", kind="stable")
    right = bars[["symbol", "date"]].assign(_when=bars["date"].astype("datetime64[ns]"))
    right = right.sort_values("_when", kind="stable")
    merged = pd.merge_asof(left, right, on="_when", by="symbol", direction="forward")
    return merged.drop(columns="_when").dropna(subset=["date"])


def adjusted_bars(ohlcv: pd.DataFrame, security_events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Bars with a point-in-time total-return index and OHLC rescaled onto it.

    Columns: symbol, date, open, high, low, close (adjusted: X * tr_index / close, so the
    adjusted close is tr_index), close_raw, tr_index, ret_log. Rescaling uses only factors up
    to each bar, so adjusted prices at t never change when later splits arrive.
    """
    bars = sort_long(ohlcv[["symbol", "date", "open", "high", "low", "close"]])
    split = np.ones(len(bars))
    dividend = np.zeros(len(bars))
    if security_events is not None and len(security_events):
        ev = security_events[security_events["event_type"].isin(["split", "dividend"])]
        ev = _effective_bar(bars, ev.rename(columns={"date": "_d"}), "event_date")
        if len(ev):
            ev = ev.assign(
                log_split=np.where(ev["event_type"] == "split", np.log(ev["value"]), 0.0),
                dividend=np.where(ev["event_type"] == "dividend", ev["value"], 0.0),
            )
            agg = ev.groupby(["symbol", "date"])[["log_split", "dividend"]].sum()
            keyed = pd.MultiIndex.from_frame(bars[["symbol", "date"]])
            agg = agg.reindex(keyed)
            split = np.exp(agg["log_split"].fillna(0.0).to_numpy())
            dividend = agg["dividend"].fillna(0.0).to_numpy()
    rg = Ragged(bars["symbol"])
    close = bars["close"].to_numpy(np.float64)
    prev_idx, has_prev = rg.shift_index(-1)
    prev_close = np.where(has_prev, close[prev_idx], np.nan)
    gross = (close + dividend) * split / prev_close
    ret_log = np.log(gross)
    cum = pd.Series(np.where(has_prev, ret_log, 0.0)).groupby(rg.codes).cumsum().to_numpy()
    tr = np.exp(cum)
    scale = tr / close
    out = bars.rename(columns={"close": "close_raw"})
    for c in ("open", "high", "low"):
        out[c] = bars[c].to_numpy(np.float64) * scale
    out["close"] = tr
    out["tr_index"] = tr
    out["ret_log"] = np.where(has_prev, ret_log, np.nan)
    return out[
        ["symbol", "date", "open", "high", "low", "close", "close_raw", "tr_index", "ret_log"]
    ]


def wilder_rsi(tr: pd.DataFrame, window: int = 14) -> pd.DataFrame:
    """Wilder's RSI per column: averages seeded with the mean of the first `window` changes,
    then avg_t = avg_{t-1} + (x_t - avg_{t-1}) / window (TA-Lib's RSI)."""
    diff = tr.diff()
    out = {}
    for name, x in (("gain", diff.clip(lower=0.0)), ("loss", (-diff).clip(lower=0.0))):
        seeded = x.copy()
        seeded.iloc[: window + 1] = np.nan
        if len(x) > window:
            seeded.iloc[window] = x.iloc[1 : window + 1].mean().to_numpy()
        out[name] = seeded.ewm(alpha=1.0 / window, adjust=False).mean()
    total = out["gain"] + out["loss"]
    return (100.0 * out["gain"] / total).where(total > 0, 50.0).where(total.notna())


def price_features(
    bars: pd.DataFrame, *, periods_per_year: float | Mapping[str, float] = 252.0
) -> pd.DataFrame:
    """PRICE_FEATURES per (symbol, date) from a long frame with symbol, date and tr_index
    (or close, e.g. simulated paths, taken as already adjusted). Sorted by (symbol, date)."""
    b = sort_long(bars[["symbol", "date", "tr_index" if "tr_index" in bars else "close"]])
    b = b.rename(columns={"close": "tr_index"})
    rg = Ragged(b["symbol"])
    tr = pd.DataFrame(rg.wide(b["tr_index"]))
    if isinstance(periods_per_year, Mapping):
        ppy = np.array([periods_per_year.get(s, 252.0) for s in rg.symbols])
    else:
        ppy = np.full(len(rg.symbols), float(periods_per_year))
    ret = np.log(tr / tr.shift(1))
    f: dict[str, pd.DataFrame] = {"ret_log": ret}
    for n in (20, 60):
        f[f"vol_{n}"] = ret.rolling(n, min_periods=n).std(ddof=1) * np.sqrt(ppy)
    mean20 = tr.rolling(20, min_periods=20).mean()
    sd20 = tr.rolling(20, min_periods=20).std(ddof=0)
    f["zscore_20"] = ((tr - mean20) / sd20).where(sd20 > 0)
    for k in (21, 63, 126, 252):
        f[f"mom_{k}"] = tr / tr.shift(k) - 1.0
    for n in (20, 50, 200):
        f[f"px_sma_{n}"] = tr / tr.rolling(n, min_periods=n).mean() - 1.0
    f["drawdown"] = tr / tr.cummax() - 1.0
    f["rsi_14"] = wilder_rsi(tr, 14)
    out = b[["symbol", "date"]].copy()
    for name in PRICE_FEATURES:
        out[name] = rg.long(f[name].to_numpy())
    return out


def sentiment_features(daily_sentiment: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """SENTIMENT_FEATURES on the bars' (symbol, date) rows from news.sentiment_daily rows
    (channels and sources summed; `ml.features` docstring gives the mapping to bars)."""
    b = sort_long(bars[["symbol", "date"]])
    items = daily_sentiment[["symbol", "date", "n_items", "score_sum"]].rename(
        columns={"date": "item_date"}
    )
    items = items.assign(symbol=items["symbol"].astype(str))
    items = items[items["symbol"].isin(set(b["symbol"]))]
    mapped = _effective_bar(b, items, "item_date")
    agg = mapped.groupby(["symbol", "date"])[["n_items", "score_sum"]].sum()
    agg = agg.reindex(pd.MultiIndex.from_frame(b[["symbol", "date"]])).fillna(0.0)
    rg = Ragged(b["symbol"])
    n = pd.DataFrame(rg.wide(agg["n_items"]))
    s = pd.DataFrame(rg.wide(agg["score_sum"]))
    out = b.copy()
    n_items = agg["n_items"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["sent_n_items"] = n_items
        out["sent_score"] = np.where(n_items > 0, agg["score_sum"].to_numpy() / n_items, np.nan)
    for w in (5, 20):
        nw = n.rolling(w, min_periods=1).sum().to_numpy()
        sw = s.rolling(w, min_periods=1).sum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"sent_score_ma_{w}d"] = rg.long(np.where(nw > 0, sw / nw, np.nan))
    return out


def build_features(
    ohlcv: pd.DataFrame,
    security_events: pd.DataFrame | None = None,
    daily_sentiment: pd.DataFrame | None = None,
    *,
    periods_per_year: float | Mapping[str, float] = 252.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, adjusted bars) from raw tables: price features plus sentiment if given."""
    bars = adjusted_bars(ohlcv, security_events)
    feats = price_features(bars, periods_per_year=periods_per_year)
    if daily_sentiment is not None:
        sent = sentiment_features(daily_sentiment, bars)
        feats = feats.merge(sent, on=["symbol", "date"], how="left")
    return feats, bars


def features_from_mart(mart: pd.DataFrame) -> pd.DataFrame:
    """The model feature set from derived.fct_features_daily rows (same names and units)."""
    m = sort_long(mart)
    out = m[["symbol", "date"]].copy()
    for c in (
        "ret_log",
        "vol_20",
        "vol_60",
        "zscore_20",
        "mom_21",
        "mom_63",
        "mom_126",
        "mom_252",
        "drawdown",
    ):
        out[c] = m[c].astype(float)
    for n in (20, 50, 200):
        out[f"px_sma_{n}"] = m["close"].astype(float) / m[f"sma_{n}"].astype(float) - 1.0
    rg = Ragged(m["symbol"])
    out["rsi_14"] = rg.long(wilder_rsi(pd.DataFrame(rg.wide(m["tr_index"]))).to_numpy())
    for c in SENTIMENT_FEATURES:
        src = "sent_n_items" if c == "sent_n_items" else c
        out[c] = m[src].astype(float) if src in m else np.nan
    for c in CONTEXT_FEATURES:  # absent ones stay absent: a spec asking for them fails
        if c in m:
            out[c] = pd.to_numeric(m[c], errors="raise").astype(float)
    return out


@dataclass(frozen=True)
class Dataset:
    """Rows (symbol, date t) with features known at t, target y and label end time t1.

    `frame` is sorted by (date, symbol); `fwd_ret` (log return t -> t1) is kept for IC and
    backtests whatever the target is.
    """

    frame: pd.DataFrame
    features: tuple[str, ...]
    target: str
    horizon: int
    task: Task

    @property
    def X(self) -> pd.DataFrame:
        return self.frame.loc[:, list(self.features)]

    @property
    def y(self) -> pd.Series:
        return self.frame["y"]

    @property
    def t0(self) -> pd.Series:
        return self.frame["date"]

    @property
    def t1(self) -> pd.Series:
        return self.frame["t1"]

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, rows: np.ndarray | Sequence[int]) -> Dataset:
        """Rows by position (what CV splitters yield)."""
        frame = self.frame.iloc[np.asarray(rows)].reset_index(drop=True)
        return Dataset(frame, self.features, self.target, self.horizon, self.task)

    def with_frame(self, frame: pd.DataFrame) -> Dataset:
        return Dataset(frame, self.features, self.target, self.horizon, self.task)


def make_dataset(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    feature_names: Sequence[str] | None = None,
    target: str = "label",
    horizon: int = 1,
    task: Task = "classification",
    fill: Mapping[str, float] = NEUTRAL_FILL,
) -> Dataset:
    """Join features with labels (symbol, date, y, fwd_ret, t1) on (symbol, date).

    Rows without a label (the last h bars) are dropped; features may stay NaN (warm-up),
    except the columns in `fill` (missing sentiment is neutral).
    """
    names = tuple(feature_names or [c for c in features.columns if c not in ("symbol", "date")])
    f = features.assign(
        date=pd.to_datetime(features["date"]), symbol=features["symbol"].astype(str)
    )
    lab = labels.assign(date=pd.to_datetime(labels["date"]), symbol=labels["symbol"].astype(str))
    frame = lab[["symbol", "date", "t1", "y", "fwd_ret"]].merge(
        f[["symbol", "date", *names]], on=["symbol", "date"], how="inner"
    )
    frame = frame.dropna(subset=["y", "t1"])
    for c, v in fill.items():
        if c in frame:
            frame[c] = frame[c].fillna(v)
    frame = frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    frame["t1"] = pd.to_datetime(frame["t1"])
    return Dataset(frame, names, target, int(horizon), task)


def build_dataset(
    features: pd.DataFrame,
    bars: pd.DataFrame,
    target: str,
    horizon: int,
    *,
    feature_names: Sequence[str] | None = None,
    relative: bool = False,
    vol_scaled: bool = False,
    **barrier: object,
) -> Dataset:
    """Labels for (target, horizon) on `bars` joined to `features`: the usual entry point."""
    from ml.labels import make_labels, task_of

    labels = make_labels(bars, target, horizon, relative=relative, vol_scaled=vol_scaled, **barrier)  # type: ignore[arg-type]
    return make_dataset(
        features,
        labels,
        feature_names=feature_names,
        target=target,
        horizon=horizon,
        task=task_of(target),  # type: ignore[arg-type]
    )
