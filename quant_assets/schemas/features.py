"""The columns of the features panel: one declared list, checked against its sources.

Strategy rules are validated when a strategy loads, long before any data is read, and the
warehouse reads select these columns by name, so both need the names the warehouse will
provide. They come from two places:
- `derived.fct_features_daily` (dbt mart, `dbt_project/models/marts/fct_features_daily.sql`):
  the columns below, in the model's select order. Macro and event columns are generated
  by dbt from the vars `feature_macro_series` / `feature_event_codes` in dbt_project.yml,
  mirrored here by MACRO_SERIES / EVENT_CODES.
- `derived.technical_indicators` (TA-Lib, declared in `quant_assets.schemas.tables`).
A test renders the dbt model and compares its select list and the tables contract with
these tuples, so neither side can drift silently. The two share no name: the mart's
`sma_20/50/200` are in price units of their date, the indicators' `tr_*` columns are on the
total-return scale (`tr_sma_20`, `tr_rsi_14`, ...), so a name never means two scales.
Here (not in `strategy/`) so `warehouse/` can read by these names without importing
the strategy package that reads through it.
"""

from __future__ import annotations

import re

from quant_assets.schemas.tables import get_table

KEY_COLUMNS = ("symbol", "date")
TEXT_FEATURES = ("asset_class", "sector", "primary_group")  # labels, not usable in rules

# Mirrors dbt_project.yml vars (checked by test).
MACRO_SERIES = ("CPIAUCSL", "UNRATE", "PAYEMS", "FEDFUNDS", "DGS10", "GDP")
EVENT_CODES = ("CPI", "NFP", "FOMC", "GDP", "RETAIL_SALES", "PCE")
MOMENTUM_WINDOWS = (21, 63, 126, 252)


def _macro_columns() -> tuple[str, ...]:
    out: list[str] = []
    for series in MACRO_SERIES:
        col = "macro_" + re.sub("[^a-z0-9]+", "_", series.lower())
        out += [col, f"{col}_yoy", f"{col}_mom"]
    return tuple(out)


# derived.fct_features_daily, without the key columns, in the model's order.
MART_COLUMNS: tuple[str, ...] = (
    *TEXT_FEATURES,
    "close", "ret_simple", "ret_log", "tr_index",
    "vol_20", "vol_60", "sma_20", "sma_50", "sma_200", "zscore_20",
    *(f"mom_{k}" for k in MOMENTUM_WINDOWS),
    "drawdown",
    *(f"mom_{k}_group_pct" for k in MOMENTUM_WINDOWS),
    "sent_n_items", "sent_score", "sent_score_ma_5d", "sent_score_ma_20d",
    *_macro_columns(),
    "is_split_day", "is_dividend_day", "is_earnings_day", "eps_surprise",
    "n_economic_events",
    *(f"is_{code.lower()}_day" for code in EVENT_CODES),
    "n_geo_events", "geo_max_severity",
    "is_sample",
)  # fmt: skip

INDICATOR_COLUMNS: tuple[str, ...] = tuple(
    c for c in get_table("derived.technical_indicators").column_names if c not in KEY_COLUMNS
)
