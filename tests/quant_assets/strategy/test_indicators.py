"""Indicators against textbook formulas written here in plain numpy/pandas (no TA-Lib).

Data: backtesting.py's GOOG daily bars 2004-2013 (2,148 rows, shipped in the package).
Tolerance: |actual - expected| <= 1e-8 * max(1, |expected|) on every non-null row, and
nulls exactly where the reference is undefined (TA-Lib's lookback).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from talib import abstract

from quant_assets.schemas.tables import INDICATOR_NAMES, get_table
from quant_assets.strategy.indicators import compute_indicators

backtesting_test = pytest.importorskip("backtesting.test")

TOL = 1e-8


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    g = backtesting_test.GOOG
    return pd.DataFrame(
        {
            "symbol": "GOOG",
            "date": g.index.date,
            "open": g["Open"].to_numpy(float),
            "high": g["High"].to_numpy(float),
            "low": g["Low"].to_numpy(float),
            "close": g["Close"].to_numpy(float),
            "volume": g["Volume"].to_numpy(float),
        }
    )


@pytest.fixture(scope="module")
def result(goog: pd.DataFrame) -> pd.DataFrame:
    return compute_indicators(goog)


# ---------------------------------------------------------------- textbook references


def sma(x: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(x).rolling(n).mean().to_numpy()


def ema(x: np.ndarray, n: int, seed_at: int | None = None) -> np.ndarray:
    """EMA with k = 2/(n+1), seeded with the SMA of the n values ending at `seed_at`."""
    seed_at = n - 1 if seed_at is None else seed_at
    k = 2.0 / (n + 1)
    out = np.full(len(x), np.nan)
    out[seed_at] = x[seed_at - n + 1 : seed_at + 1].mean()
    for i in range(seed_at + 1, len(x)):
        out[i] = out[i - 1] + k * (x[i] - out[i - 1])
    return out


def wilder(values: np.ndarray, n: int, first: int) -> np.ndarray:
    """Wilder smoothing: seed = mean of values[first : first+n], then s = (s*(n-1) + v)/n."""
    out = np.full(len(values), np.nan)
    s = values[first : first + n].mean()
    out[first + n - 1] = s
    for i in range(first + n, len(values)):
        s = (s * (n - 1) + values[i]) / n
        out[i] = s
    return out


def rsi(c: np.ndarray, n: int = 14) -> np.ndarray:
    d = np.r_[np.nan, np.diff(c)]
    gain = wilder(np.where(d > 0, d, 0.0), n, first=1)
    loss = wilder(np.where(d < 0, -d, 0.0), n, first=1)
    return 100.0 * gain / (gain + loss)


def true_range(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
    prev = np.r_[np.nan, c[:-1]]
    return np.maximum.reduce([h - lo, np.abs(h - prev), np.abs(lo - prev)])


def atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 14) -> np.ndarray:
    return wilder(true_range(h, lo, c), n, first=1)


def macd(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # TA-Lib seeds both EMAs at the slow EMA's first index (25): the fast EMA starts as the
    # SMA of the 12 closes ending there, not at index 11. The signal EMA(9) of the MACD line
    # is seeded with the mean of MACD[25..33]; all three outputs start at index 33.
    line = ema(c, 12, seed_at=25) - ema(c, 26, seed_at=25)
    signal = np.full(len(c), np.nan)
    signal[25:] = ema(line[25:], 9)
    line = np.where(np.isnan(signal), np.nan, line)
    return line, signal, line - signal


def bollinger(c: np.ndarray, n: int = 20, k: float = 2.0):
    mid = sma(c, n)
    sd = pd.Series(c).rolling(n).std(ddof=0).to_numpy()
    return mid + k * sd, mid, mid - k * sd


def obv(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    # TA-Lib starts the running total at the first bar's volume.
    step = np.sign(np.diff(c)) * v[1:]
    return v[0] + np.r_[0.0, np.cumsum(step)]


def rolling_max(x, n):
    return pd.Series(x).rolling(n).max().to_numpy()


def rolling_min(x, n):
    return pd.Series(x).rolling(n).min().to_numpy()


def stochastic(h, lo, c, n=14, k_smooth=3, d_smooth=3):
    hh, ll = rolling_max(h, n), rolling_min(lo, n)
    fast_k = 100.0 * (c - ll) / (hh - ll)
    slow_k = sma(fast_k, k_smooth)
    slow_d = sma(slow_k, d_smooth)
    # TA-Lib starts both outputs together, at the first slow %D (bar n-1 + 2 + 2).
    return np.where(np.isnan(slow_d), np.nan, slow_k), slow_d


def cci(h, lo, c, n=20):
    tp = (h + lo + c) / 3.0
    out = np.full(len(c), np.nan)
    for i in range(n - 1, len(c)):
        w = tp[i - n + 1 : i + 1]
        m = w.mean()
        out[i] = (tp[i] - m) / (0.015 * np.abs(w - m).mean())
    return out


def willr(h, lo, c, n=14):
    hh, ll = rolling_max(h, n), rolling_min(lo, n)
    return -100.0 * (hh - c) / (hh - ll)


def mfi(h, lo, c, v, n=14):
    tp = (h + lo + c) / 3.0
    flow = tp * v
    up = np.r_[0.0, np.where(np.diff(tp) > 0, flow[1:], 0.0)]
    down = np.r_[0.0, np.where(np.diff(tp) < 0, flow[1:], 0.0)]
    pos = pd.Series(up).rolling(n).sum().to_numpy()
    neg = pd.Series(down).rolling(n).sum().to_numpy()
    out = 100.0 * pos / (pos + neg)
    out[:n] = np.nan  # the first window needs n price changes, i.e. n+1 bars
    return out


def adx(h, lo, c, n=14):
    """Wilder's ADX: DM/TR sums over n-1 bars, Wilder-smoothed, DX averaged over n, then smoothed."""
    up = np.r_[np.nan, np.diff(h)]
    down = np.r_[np.nan, -np.diff(lo)]
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    minus_dm = np.where((down > 0) & (down > up), down, 0.0)
    tr = true_range(h, lo, c)
    out = np.full(len(c), np.nan)
    sp, sm, st = plus_dm[1:n].sum(), minus_dm[1:n].sum(), tr[1:n].sum()
    dx = []
    for i in range(n, len(c)):
        sp = sp - sp / n + plus_dm[i]
        sm = sm - sm / n + minus_dm[i]
        st = st - st / n + tr[i]
        pdi, mdi = 100.0 * sp / st, 100.0 * sm / st
        dx_i = 100.0 * abs(pdi - mdi) / (pdi + mdi)
        if i <= 2 * n - 1:  # first ADX = mean of the n DX values at bars n .. 2n-1
            dx.append(dx_i)
            if i == 2 * n - 1:
                out[i] = np.mean(dx)
        else:
            out[i] = (out[i - 1] * (n - 1) + dx_i) / n
    return out


def references(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    h, lo, c, v = (bars[k].to_numpy(float) for k in ("high", "low", "close", "volume"))
    m, s, hist = macd(c)
    bu, bm, bl = bollinger(c)
    k, d = stochastic(h, lo, c)
    return {
        "sma_20": sma(c, 20),
        "sma_50": sma(c, 50),
        "ema_12": ema(c, 12),
        "ema_26": ema(c, 26),
        "rsi_14": rsi(c),
        "macd": m,
        "macd_signal": s,
        "macd_hist": hist,
        "bb_upper": bu,
        "bb_middle": bm,
        "bb_lower": bl,
        "atr_14": atr(h, lo, c),
        "adx_14": adx(h, lo, c),
        "obv": obv(c, v),
        "stoch_k": k,
        "stoch_d": d,
        "cci_20": cci(h, lo, c),
        "willr_14": willr(h, lo, c),
        "mfi_14": mfi(h, lo, c, v),
    }


def as_float(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


# ---------------------------------------------------------------------------- tests

# The indicators by plain name; the table stores each as tr_<name> (total-return bars).
INDICATORS = list(INDICATOR_NAMES)

# TA-Lib function and parameters behind each column, written from the column names.
TALIB_FUNCTIONS = {
    "sma_20": ("SMA", {"timeperiod": 20}),
    "sma_50": ("SMA", {"timeperiod": 50}),
    "ema_12": ("EMA", {"timeperiod": 12}),
    "ema_26": ("EMA", {"timeperiod": 26}),
    "rsi_14": ("RSI", {"timeperiod": 14}),
    "atr_14": ("ATR", {"timeperiod": 14}),
    "adx_14": ("ADX", {"timeperiod": 14}),
    "obv": ("OBV", {}),
    "cci_20": ("CCI", {"timeperiod": 20}),
    "willr_14": ("WILLR", {"timeperiod": 14}),
    "mfi_14": ("MFI", {"timeperiod": 14}),
    **{
        k: ("MACD", {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9})
        for k in ("macd", "macd_signal", "macd_hist")
    },
    **{
        k: ("BBANDS", {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0})
        for k in ("bb_upper", "bb_middle", "bb_lower")
    },
    **{
        k: ("STOCH", {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3})
        for k in ("stoch_k", "stoch_d")
    },
}


def test_columns_are_exactly_the_table_contract(result: pd.DataFrame, goog: pd.DataFrame) -> None:
    assert list(result.columns) == get_table("derived.technical_indicators").column_names
    assert len(result) == len(goog)
    assert not result.duplicated(["symbol", "date"]).any()


@pytest.mark.parametrize("name", INDICATORS)
def test_matches_textbook_reference(name: str, result: pd.DataFrame, goog: pd.DataFrame) -> None:
    expected = references(goog)[name]
    actual = as_float(result[f"tr_{name}"])
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{name} null mask")
    ok = ~np.isnan(expected)
    assert ok.sum() > 2000
    err = np.abs(actual[ok] - expected[ok]) / np.maximum(1.0, np.abs(expected[ok]))
    assert err.max() <= TOL, f"{name}: max scaled error {err.max():.3e}"


@pytest.mark.parametrize("name", INDICATORS)
def test_warm_up_equals_talib_lookback(name: str, result: pd.DataFrame) -> None:
    func, params = TALIB_FUNCTIONS[name]
    f = abstract.Function(func)
    f.set_parameters(**params)
    values = as_float(result[f"tr_{name}"])
    leading_nulls = int(np.argmax(~np.isnan(values)))
    assert leading_nulls == f.lookback
    assert result[f"tr_{name}"].isna().sum() == f.lookback  # nulls only in the warm-up


def test_no_look_ahead(goog: pd.DataFrame, result: pd.DataFrame) -> None:
    t = 1200
    rng = np.random.default_rng(7)
    shaken = goog.copy()
    factor = rng.uniform(0.5, 1.5, size=len(goog) - t - 1)
    for col in ("open", "high", "low", "close"):
        shaken.loc[t + 1 :, col] = goog.loc[t + 1 :, col].to_numpy() * factor
    shaken.loc[t + 1 :, "volume"] = goog.loc[t + 1 :, "volume"].to_numpy()[::-1]
    after = compute_indicators(shaken)
    pd.testing.assert_frame_equal(after.iloc[: t + 1], result.iloc[: t + 1])
    assert not after.iloc[t + 1 :].equals(result.iloc[t + 1 :])  # the perturbation was real


def test_symbols_computed_independently_and_order_free(
    goog: pd.DataFrame, result: pd.DataFrame
) -> None:
    other = goog.iloc[:900].copy()
    other["symbol"] = "AAA"
    other[["open", "high", "low", "close"]] *= 0.37
    short = goog.iloc[:10].copy()
    short["symbol"] = "ZZZ"  # fewer bars than any warm-up except OBV's
    mixed = pd.concat([goog, other, short]).sample(frac=1.0, random_state=3)
    out = compute_indicators(mixed)

    assert out["symbol"].tolist() == ["AAA"] * 900 + ["GOOG"] * len(goog) + ["ZZZ"] * 10
    got_goog = out[out["symbol"] == "GOOG"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got_goog, result)
    got_other = out[out["symbol"] == "AAA"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got_other, compute_indicators(other))
    zzz = out[out["symbol"] == "ZZZ"]
    assert zzz.drop(columns=["symbol", "date", "tr_obv"]).isna().all().all()


def test_rejects_duplicates_and_missing_columns(goog: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        compute_indicators(pd.concat([goog.iloc[:5], goog.iloc[:5]]))
    with pytest.raises(ValueError, match="volume"):
        compute_indicators(goog.drop(columns=["volume"]))


# ---------------------------------------------------------------- generic TA-Lib call


def test_compute_indicators_needs_no_open_and_returns_float64(goog, result) -> None:
    no_open = compute_indicators(goog.drop(columns=["open"]))
    pd.testing.assert_frame_equal(no_open, result)
    names = [c for c in result.columns if c not in ("symbol", "date")]
    assert all(result[c].dtype == np.float64 for c in names)
    assert np.isnan(result["tr_sma_20"].iloc[18]) and np.isfinite(result["tr_sma_20"].iloc[19])


def test_indicator_by_name_equals_talib(goog) -> None:
    import talib

    from quant_assets.strategy.indicators import indicator

    close = goog["close"].to_numpy(float)
    bars = goog.rename(columns=str.title)  # any case
    ema = indicator("EMA", bars, timeperiod=20)
    assert isinstance(ema, pd.Series) and ema.index.equals(bars.index)
    np.testing.assert_array_equal(ema.to_numpy(), talib.EMA(close, timeperiod=20))
    np.testing.assert_array_equal(indicator("rsi", close), talib.RSI(close))  # TA-Lib default 14
    np.testing.assert_array_equal(
        indicator("ema", pd.Series(close), timeperiod=5).to_numpy(), talib.EMA(close, 5)
    )
    bb = indicator("BBANDS", goog, timeperiod=10, nbdevup=1.5)
    upper, middle, lower = talib.BBANDS(close, timeperiod=10, nbdevup=1.5)
    assert list(bb.columns) == ["upperband", "middleband", "lowerband"]
    for col, ref in zip(bb.columns, (upper, middle, lower), strict=True):
        np.testing.assert_array_equal(bb[col].to_numpy(), ref)
    atr = indicator("ATR", goog, timeperiod=7)
    h, lo = goog["high"].to_numpy(float), goog["low"].to_numpy(float)
    np.testing.assert_array_equal(atr.to_numpy(), talib.ATR(h, lo, close, timeperiod=7))


def test_indicator_errors_name_the_problem(goog) -> None:
    from quant_assets.strategy.indicators import indicator

    with pytest.raises(ValueError, match="'EMAA' is not a TA-Lib function; did you mean 'EMA'"):
        indicator("EMAA", goog)
    with pytest.raises(ValueError, match=r"unknown parameters \['window'\]"):
        indicator("EMA", goog, window=20)
    with pytest.raises(ValueError, match=r"lacks columns \['volume'\]"):
        indicator("MFI", goog.drop(columns=["volume"]))
    with pytest.raises(ValueError, match="reads"):
        indicator("ATR", goog["close"])


def test_split_adjust_and_price_scale_indicators():
    """A 3-for-1 split: earlier prices / 3 and volume x 3, so the adjusted close is flat
    where the traded close fell by two thirds; price-scale SMAs are TA-Lib's of those bars."""
    from quant_assets.strategy.indicators import price_scale_indicators, split_adjust

    dates = pd.bdate_range("2026-01-01", periods=80)
    close = np.where(dates < pd.Timestamp("2026-02-06"), 300.0, 100.0)
    bars = pd.DataFrame({"date": dates, "open": close, "high": close * 1.01,
                         "low": close * 0.99, "close": close, "volume": 1_000.0})  # fmt: skip
    splits = pd.DataFrame({"date": [pd.Timestamp("2026-02-06")], "ratio": [3.0]})
    adj = split_adjust(bars, splits)
    np.testing.assert_allclose(adj["close"], 100.0)
    assert adj.loc[dates < "2026-02-06", "volume"].eq(3_000.0).all()
    assert adj.loc[dates >= "2026-02-06", "split_factor"].eq(1.0).all()
    ind = price_scale_indicators(adj)
    np.testing.assert_allclose(ind["sma_50"].dropna(), 100.0)
    np.testing.assert_allclose(
        ind["sma_20"].to_numpy(), talib.SMA(adj["close"].to_numpy(float), 20), equal_nan=True
    )
    with pytest.raises(ValueError, match=r"splits\.ratio"):
        split_adjust(bars, splits.assign(ratio=[0.0]))
