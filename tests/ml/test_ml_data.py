"""ml.data: the mart as features and total-return bars, and a strategy's entries."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ml import data


def test_features_and_bars_keep_only_positive_total_return_closes():
    """Labels are total returns: bars' close is tr_index, rows without a usable one dropped."""
    cols = ["ret_log", "vol_20", "vol_60", "zscore_20", "mom_21", "mom_63", "mom_126",
            "mom_252", "drawdown", "close", "sma_20", "sma_50", "sma_200"]  # fmt: skip
    mart = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA", "AAA", "BBB"],
            "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4),
                     dt.date(2024, 1, 2)],
            "tr_index": [100.0, np.nan, 101.0, 0.0],
            **dict.fromkeys(cols, 1.0),
        }
    )  # fmt: skip
    feats, bars = data.features_and_bars(mart)
    assert len(feats) == len(mart)
    assert bars["close"].tolist() == [100.0, 101.0]
    assert bars["symbol"].map(type).eq(str).all()
    assert bars["date"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-04")]


def test_strategy_entries_until_names_a_strategy_without_bars(monkeypatch):
    """No symbol of the strategy has bars by as_of: a domain error naming it, not a crash."""
    import quant_assets.strategy.panels as panels

    monkeypatch.setattr(panels, "load_panels", lambda *a, **k: SimpleNamespace(symbols=[]))
    with pytest.raises(data.NoStrategySymbolsError, match=r"'megacap_momentum'.*2024-01-05"):
        data.strategy_entries_until(None, "megacap_momentum", dt.date(2024, 1, 5), 30)
