"""Feature definitions against textbook formulas, and point-in-time behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.features import (
    PRICE_FEATURES,
    adjusted_bars,
    build_features,
    features_from_mart,
    price_features,
    sentiment_features,
)


def _walk(n: int, seed: int, start: str = "2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(0.02 * rng.standard_normal(n)))
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n),
            "close": close,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
        }
    )


def test_price_features_match_per_symbol_formulas():
    a, b = _walk(300, 1).assign(symbol="A"), _walk(260, 2, "2020-03-02").assign(symbol="B")
    bars = pd.concat([b, a]).assign(tr_index=lambda d: d["close"])
    out = price_features(bars, periods_per_year={"A": 252.0, "B": 365.0})
    for sym, ppy, frame in (("A", 252.0, a), ("B", 365.0, b)):
        got = out[out["symbol"] == sym].reset_index(drop=True)
        c = frame["close"].reset_index(drop=True)
        r = np.log(c).diff()
        t = 250
        np.testing.assert_allclose(got["ret_log"][t], np.log(c[t] / c[t - 1]), rtol=1e-12)
        np.testing.assert_allclose(
            got["vol_20"][t], np.std(r[t - 19 : t + 1], ddof=1) * np.sqrt(ppy), rtol=1e-9
        )
        np.testing.assert_allclose(got["mom_63"][t], c[t] / c[t - 63] - 1, rtol=1e-12)
        window = c[t - 19 : t + 1]
        np.testing.assert_allclose(
            got["zscore_20"][t], (c[t] - window.mean()) / window.std(ddof=0), rtol=1e-9
        )
        np.testing.assert_allclose(
            got["px_sma_200"][t], c[t] / c[t - 199 : t + 1].mean() - 1, rtol=1e-9
        )
        np.testing.assert_allclose(got["drawdown"][t], c[t] / c[: t + 1].max() - 1, rtol=1e-12)
        # null until the window is full (rows-based, as the mart)
        assert got["vol_20"][:20].isna().all() and got["vol_20"][20:].notna().all()
        assert got["mom_252"][:252].isna().all()


def test_rsi_matches_talib():
    talib = pytest.importorskip("talib")
    frame = _walk(400, 3).assign(symbol="A", tr_index=lambda d: d["close"])
    got = price_features(frame)["rsi_14"].to_numpy()
    ref = talib.RSI(frame["close"].to_numpy(), timeperiod=14)
    np.testing.assert_allclose(got, ref, rtol=1e-9, equal_nan=True)


def test_adjusted_bars_are_split_neutral_and_include_dividends():
    dates = pd.bdate_range("2021-01-04", periods=6)
    raw = pd.DataFrame(
        {
            "symbol": "X",
            "date": dates,
            "open": 100.0,
            "high": 101.0,
            "low": 99.0,
            "close": [100.0, 102.0, 51.0, 51.5, 50.5, 51.0],
        }
    )
    events = pd.DataFrame(
        {
            "symbol": ["X", "X"],
            # 2-for-1 split effective on bar 2, dividend going ex on bar 4
            "event_date": [dates[2].date(), dates[4].date()],
            "event_type": ["split", "dividend"],
            "value": [2.0, 0.5],
        }
    )
    out = adjusted_bars(raw, events)
    ret = out["ret_log"].to_numpy()
    np.testing.assert_allclose(ret[2], np.log(51.0 * 2 / 102.0))  # no fake -50% day
    np.testing.assert_allclose(ret[4], np.log((50.5 + 0.5) / 51.5))  # CRSP total return
    np.testing.assert_allclose(out["tr_index"], np.exp(np.nancumsum(ret)))
    # adjusted OHLC keep the bar's own shape
    np.testing.assert_allclose(out["high"] / out["close"], raw["high"] / raw["close"])


def test_sentiment_items_count_on_the_first_bar_on_or_after_their_day():
    bars = pd.DataFrame({"symbol": "X", "date": pd.bdate_range("2021-01-04", periods=10)})
    items = pd.DataFrame(
        {
            "symbol": ["X", "X", "X"],
            "date": [
                pd.Timestamp("2021-01-06").date(),
                pd.Timestamp("2021-01-09").date(),
                pd.Timestamp("2021-01-10").date(),
            ],  # Wed, Sat, Sun
            "n_items": [2, 1, 1],
            "score_sum": [1.0, -0.5, 0.3],
        }
    )
    out = sentiment_features(items, bars).set_index("date")
    monday = pd.Timestamp("2021-01-11")
    assert out.loc[monday, "sent_n_items"] == 2  # weekend items land on Monday
    np.testing.assert_allclose(out.loc[monday, "sent_score"], (-0.5 + 0.3) / 2)
    np.testing.assert_allclose(out.loc[pd.Timestamp("2021-01-06"), "sent_score"], 0.5)
    # item-weighted 5-bar mean on Monday: bars Wed..Mon hold 2 + 2 items
    np.testing.assert_allclose(out.loc[monday, "sent_score_ma_5d"], (1.0 - 0.5 + 0.3) / 4)
    assert np.isnan(out.loc[pd.Timestamp("2021-01-07"), "sent_score"])  # no items that day


def test_features_at_t_ignore_everything_after_t(sample_panel):
    """Perturb prices, events and news after a cut-off: features up to it stay identical."""
    p = sample_panel
    cut = pd.Timestamp("2017-06-30")
    rng = np.random.default_rng(0)
    ohlcv = p.ohlcv.copy()
    after = pd.to_datetime(ohlcv["date"]) > cut
    shock = np.exp(rng.normal(0, 0.05, after.sum()))
    for c in ("open", "high", "low", "close"):
        ohlcv.loc[after, c] = ohlcv.loc[after, c] * shock
    sent = p.sentiment.copy()
    later = pd.to_datetime(sent["date"]) > cut
    sent.loc[later, "score_sum"] = -sent.loc[later, "score_sum"]
    events = p.events[pd.to_datetime(p.events["event_date"]) <= cut]  # later events vanish
    feats, _ = build_features(ohlcv, events, sent)
    base, _ = build_features(p.ohlcv, p.events, p.sentiment)
    upto = base["date"] <= cut
    pd.testing.assert_frame_equal(
        feats[upto].reset_index(drop=True), base[upto].reset_index(drop=True)
    )
    # and the perturbation is real: features after the cut-off did change
    changed = ~np.isclose(feats.loc[~upto, "ret_log"], base.loc[~upto, "ret_log"])
    assert changed.mean() > 0.9


def test_features_from_mart_rebuild_the_model_columns(sample_panel):
    """The mart's columns (close, sma_n, tr_index, ...) give the same model features."""
    p = sample_panel
    f = p.features
    bars = p.bars.set_index(["symbol", "date"])
    mart = f.copy()
    mart["close"] = bars["close_raw"].to_numpy()
    mart["tr_index"] = bars["tr_index"].to_numpy()
    for n in (20, 50, 200):  # the mart's sma_n is in the price units of the day
        mart[f"sma_{n}"] = mart["close"] / (1 + f[f"px_sma_{n}"])
    mart = mart.drop(columns=[f"px_sma_{n}" for n in (20, 50, 200)] + ["rsi_14"])
    out = features_from_mart(mart)
    for c in PRICE_FEATURES:
        np.testing.assert_allclose(out[c], f[c], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=c)


def test_mart_context_columns_pass_through_unchanged_and_absent_ones_stay_absent(sample_panel):
    from ml.features import CONTEXT_FEATURES

    f = sample_panel.features.head(500)
    bars = sample_panel.bars.set_index(["symbol", "date"]).loc[
        pd.MultiIndex.from_frame(f[["symbol", "date"]])
    ]
    mart = f.drop(columns=["rsi_14"]).assign(
        close=bars["close_raw"].to_numpy(), tr_index=bars["tr_index"].to_numpy()
    )
    for n in (20, 50, 200):
        mart[f"sma_{n}"] = mart["close"] / (1 + mart.pop(f"px_sma_{n}"))
    rng = np.random.default_rng(5)
    mart["macro_unrate"] = rng.uniform(3, 10, len(mart))
    mart["is_fomc_day"] = rng.integers(0, 2, len(mart))  # an int flag becomes a float
    out = features_from_mart(mart).set_index(["symbol", "date"])
    src = mart.set_index(["symbol", "date"]).loc[out.index]
    np.testing.assert_array_equal(out["macro_unrate"], src["macro_unrate"])
    np.testing.assert_array_equal(out["is_fomc_day"], src["is_fomc_day"].astype(float))
    assert out["is_fomc_day"].dtype == np.float64
    assert not (set(CONTEXT_FEATURES) - {"macro_unrate", "is_fomc_day"}) & set(out.columns)
