"""The pandera schemas generated from tables.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from quant_assets.schemas.frames import frame_schema, pandas_dtype, rules_for
from quant_assets.schemas.tables import TABLES
from quant_assets.schemas.validation import split_valid


@pytest.mark.parametrize("fqn", sorted(TABLES))
def test_schema_mirrors_the_table_declaration(fqn):
    table, schema = TABLES[fqn], frame_schema(fqn)
    assert list(schema.columns) == table.column_names
    for col in table.columns:
        assert schema.columns[col.name].nullable == col.nullable
        if col.type == "date":  # pandera's naive datetime ignores the unit; a check pins it
            assert "datetime64[us]" in [c.name for c in schema.columns[col.name].checks]
        else:
            assert str(schema.columns[col.name].dtype) == str(pandas_dtype(col))
    assert (schema.unique or []) == list(table.primary_key)
    assert schema.strict is True
    for rule in rules_for(fqn):
        assert set(rule.columns) <= set(table.column_names)


def _valid_bars() -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "symbol": ["A", "B"],
            "date": ["2024-01-02", "2024-01-02"],
            "open": [10.0, 20.0],
            "high": [11.0, 21.0],
            "low": [9.0, 19.0],
            "close": [10.5, 20.5],
            "volume": [1.0, 2.0],
            "vwap": [None, 20.2],
            "source": "s",
            "is_sample": True,
        }
    )
    valid, rejected = split_valid("market_data.ohlcv_daily", raw)
    assert rejected.empty
    return valid


def test_pandera_schema_flags_each_broken_rule_by_name():
    bad = _valid_bars()
    bad.loc[0, "high"] = 8.0  # below low, open and close
    bad.loc[1, "symbol"] = "A"  # duplicate key now
    with pytest.raises(pa.errors.SchemaErrors) as info:
        frame_schema("market_data.ohlcv_daily").validate(bad, lazy=True)
    checks = set(info.value.failure_cases["check"].astype(str))
    assert {
        "rule failed: high < low",
        "rule failed: high < open",
        "rule failed: high < close",
    } <= checks
    assert any("unique" in c or "duplicate" in c for c in checks)


def test_pandera_schema_refuses_wrong_dtypes_and_naive_dates():
    frame = _valid_bars()
    with pytest.raises(pa.errors.SchemaError):
        frame_schema("market_data.ohlcv_daily").validate(frame.assign(date=frame["date"].dt.date))
    with pytest.raises(pa.errors.SchemaError):
        frame_schema("market_data.ohlcv_daily").validate(
            frame.assign(date=frame["date"] + pd.Timedelta(hours=3))
        )
    with pytest.raises(pa.errors.SchemaError):
        frame_schema("market_data.ohlcv_daily").validate(
            frame.assign(date=frame["date"].astype("datetime64[ns]"))
        )
    frame_schema("market_data.ohlcv_daily").validate(frame.assign(vwap=np.nan))  # nullable column
