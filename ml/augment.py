"""Synthetic training rows: stochastic return paths -> prices -> the same features and labels.

For each CV fold the path model is fitted only on returns the fold's training labels cover
(dates d with t0 < d <= t1 for some training row), so nothing of the test period reaches
the synthetic data. Paths come from `quant_assets.sim.stochastic`: a stationary block
bootstrap per symbol (keeps fat tails and volatility clusters of that symbol) or a Markov
regime model fitted on the panel. Only features computable from prices can be rebuilt on a
simulated path (no news, no macro), so augmentation requires a price-only feature set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ml.features import PRICE_FEATURES, Dataset, make_dataset, price_features
from ml.labels import Target, make_labels

PathModel = Literal["bootstrap", "regime"]
SYNTHETIC_START = "2000-01-03"  # business-day dates of simulated bars (never in a CV split)
MIN_RETURNS = 60


def covered_dates(t0: pd.Series, t1: pd.Series, dates: pd.DatetimeIndex) -> np.ndarray:
    """Mask over `dates` (sorted): d with t0 < d <= t1 for at least one row."""
    d = dates.to_numpy(dtype="datetime64[ns]")
    lo = np.searchsorted(d, pd.to_datetime(t0).to_numpy(dtype="datetime64[ns]"), side="right")
    hi = np.searchsorted(d, pd.to_datetime(t1).to_numpy(dtype="datetime64[ns]"), side="right")
    delta = np.zeros(len(d) + 1, dtype=np.int64)
    np.add.at(delta, lo, 1)
    np.add.at(delta, hi, -1)
    return np.cumsum(delta)[:-1] > 0


def returns_panel(bars: pd.DataFrame) -> pd.DataFrame:
    """dates x symbols log returns of the adjusted closes, each on its own bars."""
    b = bars[["symbol", "date", "close"]].assign(date=pd.to_datetime(bars["date"]))
    b = b.sort_values(["symbol", "date"])
    b["ret"] = np.log(b["close"] / b.groupby("symbol")["close"].shift(1))
    return b.pivot(index="date", columns="symbol", values="ret").sort_index()


def simulate_closes(
    returns: pd.DataFrame,
    *,
    model: PathModel = "bootstrap",
    n_paths: int = 2,
    n_days: int = 504,
    seed: int = 0,
    mean_block: float = 10.0,
) -> pd.DataFrame:
    """Long frame (symbol "<SYM>@sim<p>", base_symbol, date, close) of simulated paths
    starting at 1.0; symbols with fewer than MIN_RETURNS returns are skipped."""
    from quant_assets.sim.stochastic import MarkovRegimeModel, StationaryBootstrap

    dates = pd.bdate_range(SYNTHETIC_START, periods=n_days + 1)
    sims: dict[str, np.ndarray] = {}  # symbol -> (n_paths, n_days)
    if model == "bootstrap":
        for i, sym in enumerate(returns.columns):
            r = returns[sym].dropna()
            if len(r) < MIN_RETURNS:
                continue
            m = StationaryBootstrap(mean_block).fit(r.to_frame())
            sims[str(sym)] = m.simulate(n_paths, n_days, seed + i, dtype=np.float64)[:, :, 0]
    elif model == "regime":
        share = returns.notna().mean()
        panel = returns.loc[:, share >= 0.8].dropna(how="any")
        if len(panel) >= MIN_RETURNS and panel.shape[1]:
            m = MarkovRegimeModel(2).fit(panel)
            paths = m.simulate(n_paths, n_days, seed, dtype=np.float64)
            sims = {str(s): paths[:, :, j] for j, s in enumerate(panel.columns)}
    else:
        raise ValueError(f"unknown path model {model!r}")
    frames = []
    for sym, r in sims.items():
        close = np.exp(np.concatenate([np.zeros((n_paths, 1)), np.cumsum(r, axis=1)], axis=1))
        for p in range(n_paths):
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": f"{sym}@sim{p}",
                        "base_symbol": sym,
                        "date": dates,
                        "close": close[p],
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=["symbol", "base_symbol", "date", "close"])
    return pd.concat(frames, ignore_index=True)


@dataclass
class Augmenter:
    """Callable `(train, test) -> synthetic Dataset` for `ml.train.oos_predictions`.

    `bars` are the real adjusted bars (symbol, date, close); the label spec (target,
    horizon, barrier keyword arguments) must be the one the dataset was built with.
    """

    bars: pd.DataFrame
    target: Target
    horizon: int
    model: PathModel = "bootstrap"
    n_paths: int = 2
    n_days: int = 504
    seed: int = 0
    periods_per_year: float | Mapping[str, float] = 252.0
    barrier: dict[str, Any] = field(default_factory=dict)
    last_fit_dates: pd.DatetimeIndex | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._returns = returns_panel(self.bars)

    def __call__(self, train: Dataset, test: Dataset) -> Dataset:
        extra = set(train.features) - set(PRICE_FEATURES)
        if extra:
            raise ValueError(f"not computable on simulated prices: {sorted(extra)}")
        r = self._returns.loc[:, self._returns.columns.isin(set(train.frame["symbol"]))]
        mask = covered_dates(train.t0, train.t1, pd.DatetimeIndex(r.index))
        r = r.loc[mask]
        self.last_fit_dates = pd.DatetimeIndex(r.index)
        closes = simulate_closes(
            r, model=self.model, n_paths=self.n_paths, n_days=self.n_days, seed=self.seed
        )
        ppy = self.periods_per_year
        if isinstance(ppy, Mapping):
            ppy = {
                s: ppy.get(b, 252.0)
                for s, b in zip(closes["symbol"], closes["base_symbol"], strict=True)
            }
        feats = price_features(closes, periods_per_year=ppy)
        labels = make_labels(closes, self.target, self.horizon, **self.barrier)
        return make_dataset(
            feats,
            labels,
            feature_names=train.features,
            target=train.target,
            horizon=train.horizon,
            task=train.task,
        )
