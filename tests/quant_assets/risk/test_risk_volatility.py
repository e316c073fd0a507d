"""ATR matches TA-Lib; realised volatility is the annualised rolling std."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from quant_assets.risk.volatility import atr, realised_volatility


def test_atr_matches_talib() -> None:
    rng = np.random.default_rng(0)
    n = 300
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, 3)), axis=0))
    h = c * (1 + np.abs(rng.normal(0, 0.01, (n, 3))))
    lo = c * (1 - np.abs(rng.normal(0, 0.01, (n, 3))))
    ours = atr(h, lo, c, 14)
    for j in range(3):
        ref = talib.ATR(h[:, j], lo[:, j], c[:, j], timeperiod=14)
        np.testing.assert_allclose(ours[:, j], ref, rtol=1e-12, equal_nan=True)
    lagged = atr(h[:, 0], lo[:, 0], c[:, 0], 14, lag=1)
    np.testing.assert_array_equal(lagged[1:], ours[:-1, 0])


def test_realised_volatility() -> None:
    r = pd.Series(np.random.default_rng(1).normal(0, 0.01, 100))
    v = realised_volatility(r, 20)
    assert np.isclose(v.iloc[50], r.iloc[31:51].std(ddof=1) * np.sqrt(252))
    assert v.iloc[:19].isna().all()
