"""Cost models: fees and concessions by hand, ATR/volatility against pandas rolling windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.sim.costs import (
    AtrSlippage,
    Commission,
    FixedSlippage,
    FixedSpread,
    VolatilitySlippage,
)


def test_commission_per_share_bps_and_minimum() -> None:
    c = Commission(per_share=0.005, bps=10, minimum=1.0)
    qty = np.array([100.0, -1000.0, 10.0, 0.0])
    price = np.array([50.0, 20.0, 5.0, 50.0])
    # 100 x 0.005 + 0.001 x 5000 = 5.5; 1000 x 0.005 + 0.001 x 20000 = 25; 10 sh -> minimum 1; none -> 0
    np.testing.assert_allclose(c.amount(qty, price), [5.5, 25.0, 1.0, 0.0])
    np.testing.assert_allclose(c.fee_rate(np.array([50.0])), [0.001 + 0.0001])


def test_commission_takes_a_rate_or_bps_not_both() -> None:
    assert Commission(rate=0.002) == Commission(bps=20)
    qty, price = np.array([10.0]), np.array([100.0])
    np.testing.assert_allclose(Commission(rate=0.002).amount(qty, price), [2.0])  # 0.2% of 1000
    np.testing.assert_allclose(Commission(bps=20).amount(qty, price), [2.0])
    with pytest.raises(ValueError, match="one unit"):
        Commission(rate=0.002, bps=20)
    with pytest.raises(ValueError, match=r"rate=20: a rate is a fraction"):
        Commission(rate=20)
    with pytest.raises(ValueError, match=r"Commission.bps=-1"):
        Commission(bps=-1)


def test_spread_and_fixed_slippage_are_bps_of_price() -> None:
    base = np.array([[100.0, 20.0]])
    np.testing.assert_allclose(FixedSpread(5).per_share(base), [[0.05, 0.01]])
    z = np.zeros_like(base)
    np.testing.assert_allclose(FixedSlippage(20).per_share(base, z, z, z, 1), [[0.2, 0.04]])


@pytest.fixture(scope="module")
def ohlc() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (60, 2)), axis=0))
    high = close * (1 + rng.uniform(0, 0.02, close.shape))
    low = close * (1 - rng.uniform(0, 0.02, close.shape))
    return high, low, close


def test_atr_slippage_is_fraction_of_trailing_true_range(ohlc) -> None:
    high, low, close = ohlc
    model = AtrSlippage(fraction=0.25, window=5)
    got = model.per_share(close, high, low, close, lag=1)
    for j in range(close.shape[1]):
        h, lo, c = (pd.Series(x[:, j]) for x in (high, low, close))
        tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
        atr = tr.rolling(5, min_periods=1).mean().shift(1)  # known before the fill bar
        np.testing.assert_allclose(got[:, j], 0.25 * atr.fillna(0.0).to_numpy(), rtol=1e-12)


def test_volatility_slippage_uses_only_past_returns(ohlc) -> None:
    high, low, close = ohlc
    model = VolatilitySlippage(fraction=0.5, window=10)
    got = model.per_share(close, high, low, close, lag=1)
    for j in range(close.shape[1]):
        c = pd.Series(close[:, j])
        vol = c.pct_change().rolling(10, min_periods=1).std(ddof=0).shift(1)
        want = (0.5 * vol * c).fillna(0.0).to_numpy()
        np.testing.assert_allclose(got[:, j], want, rtol=1e-9, atol=1e-12)
