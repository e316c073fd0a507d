"""Out-of-sample skill: AUC, accuracy, calibration, information coefficients, and a backtest.

IC is computed per date across symbols (Pearson on values, Spearman on ranks) and then
averaged over dates, as factor research does; its t-stat uses Newey-West (Bartlett) standard
errors with h-1 lags, because h-bar labels of consecutive dates overlap and their ICs are
autocorrelated. The 95% interval is mean +- 1.96 standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ml.models import Model
    from quant_assets.sim.historical import BacktestConfig, BacktestResult


@dataclass(frozen=True)
class ICStats:
    mean: float
    std: float
    n_dates: int
    t_stat: float
    ci_low: float
    ci_high: float
    hit_rate: float  # share of dates with a positive IC

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}": self.mean,
            f"{prefix}_t": self.t_stat,
            f"{prefix}_ci_low": self.ci_low,
            f"{prefix}_ci_high": self.ci_high,
            f"{prefix}_n_dates": float(self.n_dates),
        }


def newey_west_se(x: np.ndarray, lags: int) -> float:
    """Standard error of the mean of x with Bartlett-weighted autocovariances up to `lags`."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    d = x - x.mean()
    var = d @ d / n
    for lag in range(1, min(lags, n - 1) + 1):
        var += 2.0 * (1.0 - lag / (lags + 1.0)) * (d[lag:] @ d[:-lag]) / n
    return math.sqrt(max(var, 0.0) / n)


def daily_ic(
    frame: pd.DataFrame,
    *,
    score: str = "score",
    target: str = "fwd_ret",
    method: Literal["pearson", "spearman"] = "spearman",
    min_names: int = 5,
) -> pd.Series:
    """IC per date between `score` and `target` over dates with >= min_names valid rows."""
    f = frame[["date", score, target]].dropna()
    if method == "spearman":
        f = f.assign(
            **{
                score: f.groupby("date")[score].rank(),
                target: f.groupby("date")[target].rank(),
            }
        )
    g = f.groupby("date")
    n = g.size()
    mx, my = g[score].transform("mean"), g[target].transform("mean")
    dx, dy = f[score] - mx, f[target] - my
    cov = (dx * dy).groupby(f["date"]).sum()
    vx = (dx * dx).groupby(f["date"]).sum()
    vy = (dy * dy).groupby(f["date"]).sum()
    ic = cov / np.sqrt(vx * vy)
    ok = (n >= min_names) & (vx > 0) & (vy > 0)
    return ic[ok].rename(f"{method}_ic")


def ic_stats(ic: pd.Series, horizon: int = 1) -> ICStats:
    """Mean IC over dates with a Newey-West t-stat (horizon - 1 lags) and 95% interval."""
    x = ic.dropna().to_numpy(np.float64)
    if len(x) < 3:
        return ICStats(np.nan, np.nan, len(x), np.nan, np.nan, np.nan, np.nan)
    se = newey_west_se(x, max(horizon - 1, 0))
    m = float(x.mean())
    t = m / se if se > 0 else np.nan
    return ICStats(
        m, float(x.std(ddof=1)), len(x), t, m - 1.96 * se, m + 1.96 * se, float((x > 0).mean())
    )


def calibration(y: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table: per equal-width probability bin, mean forecast vs observed rate."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(prob, dtype=np.float64)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y})
    out = frame.groupby("bin").agg(
        mean_pred=("p", "mean"), frac_pos=("y", "mean"), count=("y", "size")
    )
    out["lower"] = out.index / n_bins
    out["upper"] = (out.index + 1) / n_bins
    return out.reset_index()


def classification_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Binary y in {0, 1} against P(y=1): AUC, accuracy at 0.5, Brier, log loss, ECE."""
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(prob, dtype=np.float64), 1e-12, 1 - 1e-12)
    cal = calibration(y, p)
    ece = float((cal["count"] * (cal["mean_pred"] - cal["frac_pos"]).abs()).sum() / len(y))
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else np.nan
    n_pos = int(y.sum())
    return {
        "auc": auc,
        # (AUC - 1/2) in null standard deviations (Mann-Whitney); overlapping labels make
        # rows dependent, so read it as an upper bound on the evidence
        "auc_z": (auc - 0.5) / auc_null_sd(n_pos, len(y) - n_pos) if np.isfinite(auc) else np.nan,
        "accuracy": float(accuracy_score(y, p >= 0.5)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": ece,
        "base_rate": float(y.mean()),
    }


def auc_null_sd(n_pos: int, n_neg: int) -> float:
    """Standard deviation of the AUC of an uninformative score (Mann-Whitney U under H0)."""
    return math.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg))


def summary(oos: pd.DataFrame, task: str, horizon: int) -> dict[str, float]:
    """Every out-of-sample metric of one model, flat, for MLflow.

    `oos` holds date, score, fwd_ret, y (and `prob` for binary classification).
    """
    out: dict[str, float] = {"oos_rows": float(len(oos))}
    for method, name in (("spearman", "rank_ic"), ("pearson", "ic")):
        out |= ic_stats(daily_ic(oos, method=method), horizon).as_dict(name)
    valid = oos[["score", "fwd_ret"]].dropna()
    out["pooled_ic"] = float(valid["score"].corr(valid["fwd_ret"])) if len(valid) > 2 else np.nan
    if task == "classification":
        if "prob" in oos:
            out |= classification_metrics(oos["y"].to_numpy(), oos["prob"].to_numpy())
            if "fold" in oos:  # pooled AUC also scores shifts of the base rate between folds
                out["auc_fold_mean"] = float(
                    np.nanmean(
                        [
                            classification_metrics(g["y"].to_numpy(), g["prob"].to_numpy())["auc"]
                            for _, g in oos.groupby("fold")
                        ]
                    )
                )
        else:  # multi-class: accuracy of the argmax, AUC of the score for the top class
            from sklearn.metrics import roc_auc_score

            out["accuracy"] = float((oos["pred"] == oos["y"]).mean())
            top = (oos["y"] == oos["y"].max()).to_numpy()
            out["auc"] = (
                float(roc_auc_score(top, oos["score"])) if 0 < top.sum() < len(top) else np.nan
            )
    else:
        err = oos["score"] - oos["y"]
        out["rmse"] = float(np.sqrt(np.mean(err**2)))
        out["r2_oos"] = float(1.0 - np.sum(err**2) / np.sum((oos["y"] - oos["y"].mean()) ** 2))
    return out


def predict_daily(model: Model, features_at_t: pd.DataFrame) -> pd.DataFrame:
    """frame(symbol, date, score) for the ML-signal strategy: one score per row that has
    features; rows the model cannot score (all features missing) are dropped."""
    feats = features_at_t.loc[:, list(model.features)]
    keep = feats.notna().any(axis=1).to_numpy()
    rows = features_at_t.loc[keep]
    return pd.DataFrame(
        {
            "symbol": rows["symbol"].astype(str).to_numpy(),
            "date": pd.to_datetime(rows["date"]).to_numpy(),
            "score": model.score(rows),
        }
    )


def quantile_weights(
    scores: pd.DataFrame, *, quantile: float = 0.2, long_only: bool = False, min_names: int = 5
) -> pd.DataFrame:
    """Target weights (dates x symbols): equal-weight long the top `quantile` of each date's
    scores and short the bottom one (gross 1, net 0), or long only (gross 1). NaN (hold,
    no order) for symbols without a score that date and on dates with < min_names scores,
    so a weekend of crypto-only scores does not liquidate the stock book."""
    s = scores.pivot_table(index="date", columns="symbol", values="score", aggfunc="last")
    s = s.sort_index()
    n = s.notna().sum(axis=1).to_numpy()[:, None]
    k = np.maximum(np.floor(n * quantile), 1)
    top = s.rank(axis=1, ascending=False, method="first").to_numpy() <= k
    bottom = (s.rank(axis=1, ascending=True, method="first").to_numpy() <= k) & ~top
    if long_only:
        w = np.where(top, 1.0 / k, 0.0)
    else:
        w = np.where(top, 0.5 / k, 0.0) + np.where(bottom, -0.5 / k, 0.0)
    w = np.where(s.notna().to_numpy() & (n >= min_names), w, np.nan)
    return pd.DataFrame(w, index=s.index, columns=s.columns)


def backtest_scores(
    scores: pd.DataFrame,
    bars: pd.DataFrame,
    config: BacktestConfig | None = None,
    *,
    quantile: float = 0.2,
    long_only: bool = False,
) -> BacktestResult:
    """Trade the scores: quantile weights decided at each close, filled at the next open by
    `quant_assets.sim.historical.run_backtest` on the adjusted bars."""
    from quant_assets.sim.historical import BacktestConfig, Prices, run_backtest

    prices = Prices.from_long(bars.assign(date=pd.to_datetime(bars["date"])))
    w = quantile_weights(scores, quantile=quantile, long_only=long_only)
    w = w.reindex(index=prices.dates, columns=prices.symbols)
    return run_backtest(prices, w, config or BacktestConfig(fill="next_open"))


def direction_prob(oos: pd.DataFrame) -> np.ndarray:
    """P(fwd_ret > 0) per row: the classifier's `prob`, or for a regression score the
    Gaussian predictive probability Phi(score / sd(y - score))."""
    if "prob" in oos:
        return oos["prob"].to_numpy(np.float64)
    from scipy.special import ndtr

    score = oos["score"].to_numpy(np.float64)
    sd = float(np.nanstd(oos["y"].to_numpy(np.float64) - score))
    return ndtr(score / sd) if sd > 0 else np.full(len(score), 0.5)


def evaluate_oos(
    oos: pd.DataFrame, bars: pd.DataFrame, horizon: int, n_bins: int = 10
) -> tuple[dict[str, float], pd.DataFrame]:
    """Out-of-sample direction skill (AUC, accuracy), IC / rank IC with t-stats, calibration
    (Brier + reliability bins) and the backtest of trading the scores, from `oos` (symbol,
    date, score, y, fwd_ret[, prob]) and bars (symbol, date, close)."""
    oos = oos.dropna(subset=["score", "fwd_ret"])
    up = (oos["fwd_ret"] > 0).to_numpy(np.float64)
    prob = direction_prob(oos)
    cls = classification_metrics(up, prob)
    ic = ic_stats(daily_ic(oos, method="pearson"), horizon)
    ric = ic_stats(daily_ic(oos, method="spearman"), horizon)
    # bars are the total-return index (close only), so trade close to close like the labels:
    # weights decided on t's scores fill at t's close and earn t -> t+1
    from quant_assets.sim.historical import BacktestConfig

    ohlc = bars.assign(open=bars["close"], high=bars["close"], low=bars["close"])
    bt = backtest_scores(oos[["symbol", "date", "score"]], ohlc, BacktestConfig(fill="close"))
    start, end = pd.to_datetime(oos["date"]).min(), pd.to_datetime(oos["date"]).max()
    r = bt.returns[(bt.returns.index >= start) & (bt.returns.index <= end)]
    from quant_assets.sim.metrics import max_drawdown, sharpe_ratio, total_return

    ret = r.to_numpy(np.float64)
    metrics = {
        "oos_rows": float(len(oos)),
        "oos_start": start.date().isoformat(),
        "oos_end": end.date().isoformat(),
        "auc": cls["auc"],
        "accuracy": cls["accuracy"],
        "base_rate": cls["base_rate"],
        "brier": cls["brier"],
        "ece": cls["ece"],
        "ic": ic.mean,
        "ic_t": ic.t_stat,
        "rank_ic": ric.mean,
        "rank_ic_t": ric.t_stat,
        "ic_n_dates": float(ric.n_dates),
        "backtest_total_return": float(total_return(ret)),
        "backtest_sharpe": float(sharpe_ratio(ret)),
        "backtest_max_drawdown": float(max_drawdown(ret)),
    }
    return metrics, calibration(up, np.clip(prob, 0.0, 1.0), n_bins)
