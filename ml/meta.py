"""Meta-labelling (Lopez de Prado, AFML 3.6): the strategy picks the side, a model sizes it.

For each signal (date, symbol, side) the label is 1 if the trade, entered at that close,
reaches its profit target before its stop within h bars (triple barrier with the side),
else 0. A classifier trained on the features known at entry (plus the side) then gives the
probability that the trade works, used to drop trades or scale them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml.features import Dataset, make_dataset
from ml.labels import BarrierMethod, triple_barrier


def _side(x: pd.Series) -> np.ndarray:
    if x.dtype == object:
        mapped = x.str.lower().map({"long": 1.0, "buy": 1.0, "short": -1.0, "sell": -1.0})
        return mapped.to_numpy(dtype=np.float64)
    return np.sign(x.to_numpy(dtype=np.float64))


def strategy_entries(signals: pd.DataFrame) -> pd.DataFrame:
    """date, symbol, side of each new position in a strategy's signals (`generate_signals`:
    date, symbol, leg, target_weight): a leg's weight turning from flat or the other side
    to long (+1) or short (-1). Holding or resizing a position is not a new trade."""
    s = signals.sort_values(["symbol", "leg", "date"], kind="stable")
    w = s["target_weight"].astype(float).fillna(0.0)
    side = np.sign(w)
    before = side.groupby([s["symbol"], s["leg"]]).shift(1).fillna(0.0)
    new = (side != 0) & (side != before)
    out = s.loc[new, ["date", "symbol"]].assign(side=side[new])
    out = out.assign(date=pd.to_datetime(out["date"]), symbol=out["symbol"].astype(str))
    return out.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


def meta_labels(
    signals: pd.DataFrame,
    bars: pd.DataFrame,
    *,
    horizon: int,
    target: float = 1.0,
    stop: float = 1.0,
    method: BarrierMethod = "vol",
    window: int = 20,
) -> pd.DataFrame:
    """symbol, date, side, y (1 = target first), t1, ret (side x log return to the exit)."""
    sig = signals[["date", "symbol", "side"]].assign(
        date=pd.to_datetime(signals["date"]), symbol=signals["symbol"].astype(str)
    )
    sig = sig.assign(side=_side(sig["side"])).drop_duplicates(["symbol", "date"], keep="last")
    b = bars.assign(date=pd.to_datetime(bars["date"]), symbol=bars["symbol"].astype(str))
    b = b.drop(columns="side", errors="ignore").merge(sig, on=["symbol", "date"], how="left")
    tb = triple_barrier(
        b, horizon, upper=target, lower=stop, method=method, window=window, vertical="zero"
    )
    tb = tb.merge(sig, on=["symbol", "date"], how="inner").dropna(subset=["label"])
    return pd.DataFrame(
        {
            "symbol": tb["symbol"],
            "date": tb["date"],
            "side": tb["side"],
            "y": tb["label"],
            "t1": tb["t1"],
            "ret": tb["side"] * tb["ret"],
        }
    ).reset_index(drop=True)


def meta_dataset(
    signals: pd.DataFrame,
    bars: pd.DataFrame,
    features: pd.DataFrame,
    *,
    horizon: int,
    feature_names: Sequence[str] | None = None,
    **barrier: object,
) -> Dataset:
    """Features at entry plus `side`, labelled by `meta_labels`; fwd_ret is the trade return."""
    labels = meta_labels(signals, bars, horizon=horizon, **barrier)  # type: ignore[arg-type]
    names = list(feature_names or [c for c in features.columns if c not in ("symbol", "date")])
    f = features.assign(
        date=pd.to_datetime(features["date"]), symbol=features["symbol"].astype(str)
    )
    f = f[["symbol", "date", *[c for c in names if c != "side"]]].merge(
        labels[["symbol", "date", "side"]], on=["symbol", "date"], how="inner"
    )
    return make_dataset(
        f,
        labels.assign(fwd_ret=labels["ret"]),
        feature_names=[*[c for c in names if c != "side"], "side"],
        target="meta",
        horizon=horizon,
        task="classification",
    )


def bet_size(prob: np.ndarray | pd.Series) -> np.ndarray:
    """AFML 10.1 for two outcomes: z = (p - 1/2) / sqrt(p (1 - p)), size = 2 Phi(z) - 1,
    floored at 0 (a meta-model only scales the primary side down, never flips it)."""
    from scipy.stats import norm  # imported here: scipy.stats takes seconds to import

    p = np.clip(np.asarray(prob, dtype=np.float64), 1e-9, 1 - 1e-9)
    z = (p - 0.5) / np.sqrt(p * (1.0 - p))
    return np.maximum(2.0 * norm.cdf(z) - 1.0, 0.0)


def size_signals(
    signals: pd.DataFrame, prob: np.ndarray | pd.Series, *, threshold: float = 0.5
) -> pd.DataFrame:
    """signals + prob + size (side x bet size; 0 where prob < threshold)."""
    out = signals.copy()
    out["prob"] = np.asarray(prob, dtype=np.float64)
    side = _side(out["side"])
    out["size"] = np.where(out["prob"] >= threshold, side * bet_size(out["prob"]), 0.0)
    return out
