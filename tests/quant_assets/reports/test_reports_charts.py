"""Charts: valid PNGs of the expected size, indicators checked against TA-Lib."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from quant_assets.reports import charts


def _image(png: bytes) -> Image.Image:
    assert png[:8] == charts.PNG_SIGNATURE
    img = Image.open(io.BytesIO(png))
    img.verify()  # structure and CRCs
    return Image.open(io.BytesIO(png))


def _draw(name: str, build) -> bytes:
    hist = build.price_history()
    if name == "price":
        return charts.price_chart(hist, symbol="SPY", entry=101.0, stop=95.0, target=110.0)
    if name == "equity":
        return charts.equity_chart(hist["close"] * 1e4)
    if name == "correlation":
        return charts.correlation_heatmap(build.correlation(list("ABCDEF")))
    if name == "scenarios":
        return charts.bar_chart(["GFC 2008", "rates +100bp"], [-84_500.0, 12_250.0], title="t")
    return charts.fan_chart(build.fan_summary())


@pytest.mark.parametrize("name", ["price", "equity", "correlation", "scenarios", "fan"])
def test_each_chart_is_a_valid_png(name, build):
    img = _image(_draw(name, build))
    assert img.format == "PNG"
    width, height = img.size
    assert 200 <= width <= 1000 and 100 <= height <= 800
    # Not blank: a drawn chart has many distinct colours.
    assert len(img.convert("RGB").getcolors(maxcolors=1 << 16)) > 20


def test_price_chart_accepts_a_date_column_and_precomputed_indicators(build):
    hist = build.price_history().reset_index()
    hist["sma_20"] = hist["close"]  # precomputed columns are drawn as given
    _image(charts.price_chart(hist, symbol="X", stop=None))


def test_indicators_match_talib(build):
    talib = pytest.importorskip("talib")
    close = build.price_history(seed=9)["close"]
    out = charts.with_indicators(pd.DataFrame({"close": close}))
    c = close.to_numpy()
    np.testing.assert_allclose(out["sma_20"], talib.SMA(c, 20), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(out["sma_50"], talib.SMA(c, 50), rtol=1e-12, equal_nan=True)
    upper, middle, lower = talib.BBANDS(c, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    np.testing.assert_allclose(out["bb_upper"], upper, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(out["bb_middle"], middle, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(out["bb_lower"], lower, rtol=1e-9, equal_nan=True)


def test_drawdown_from_high_water_mark():
    eq = pd.Series([100.0, 120.0, 90.0, 130.0, 117.0])
    np.testing.assert_allclose(charts.drawdown(eq), [0.0, 0.0, -0.25, 0.0, -0.1])


def test_fan_chart_needs_percentile_columns():
    with pytest.raises(ValueError, match="percentile columns"):
        charts.fan_chart(pd.DataFrame({"mean": [0.0, 0.1]}))
