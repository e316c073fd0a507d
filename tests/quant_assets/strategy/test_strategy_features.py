"""The declared rule features match their sources: the dbt mart's select list, the dbt vars
that generate macro/event columns, and the technical_indicators table contract."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import yaml

from quant_assets.schemas.tables import get_table
from quant_assets.strategy import features as ft
from quant_assets.strategy.indicators import INDICATOR_COLUMNS as TALIB_COLUMNS

ROOT = Path(__file__).resolve().parents[3]
DBT = ROOT / "dbt_project"
MODEL = DBT / "models" / "marts" / "fct_features_daily.sql"


def _dbt_vars() -> dict:
    return yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]


def _render_model() -> str:
    """Render the model's Jinja with stub macros: only its select list matters here."""
    dbt_vars = _dbt_vars()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    stub = lambda *a, **k: "true"  # noqa: E731
    ctx = {
        "config": lambda **k: "",
        "ref": lambda name: name,
        "var": lambda name, default=None: dbt_vars.get(name, default),
        "in_window": stub,
        "in_lookback": stub,
        "corporate_actions": lambda *a, **k: "select 1",
        "macro_states_asof": lambda *a, **k: "select 1",
        "modules": type("M", (), {"re": re}),
    }
    return env.from_string(MODEL.read_text()).render(**ctx)


def _final_select_columns(sql: str) -> list[str]:
    body = sql[sql.rindex("\nselect\n") + len("\nselect\n") : sql.index("\nfrom returns as r")]
    items, depth, cur = [], 0, ""
    for ch in body:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = []
    for item in (i.strip() for i in items if i.strip()):
        m = re.search(r"\bas\s+(\w+)$", item)
        out.append(m.group(1) if m else item.split(".")[-1])
    return out


def test_mart_columns_match_the_dbt_model() -> None:
    columns = _final_select_columns(_render_model())
    assert columns == [*ft.KEY_COLUMNS, *ft.MART_COLUMNS]


def test_macro_and_event_lists_mirror_dbt_vars() -> None:
    v = _dbt_vars()
    assert list(ft.MACRO_SERIES) == v["feature_macro_series"]
    assert list(ft.EVENT_CODES) == v["feature_event_codes"]


def test_indicator_columns_match_the_table_contract_and_talib_module() -> None:
    table = [c for c in get_table("derived.technical_indicators").column_names]
    assert [*ft.KEY_COLUMNS, *ft.INDICATOR_COLUMNS] == table
    assert ft.INDICATOR_COLUMNS == TALIB_COLUMNS


def test_the_mart_and_the_indicators_share_no_column_name() -> None:
    """The features panel joins the two; a shared name would carry two scales."""
    assert not set(ft.MART_COLUMNS) & set(ft.INDICATOR_COLUMNS)
    assert all(c.startswith("tr_") for c in ft.INDICATOR_COLUMNS)


def test_rule_features_are_the_numeric_columns() -> None:
    assert {
        "zscore_20",
        "tr_rsi_14",
        "mom_126",
        "sent_score_ma_5d",
        "macro_dgs10_yoy",
    } <= ft.RULE_FEATURES
    assert not {"symbol", "date", "sector", "asset_class", "is_sample"} & ft.RULE_FEATURES


def test_suggest_names_the_closest_feature() -> None:
    assert ft.suggest("zscroe_20", ft.RULE_FEATURES) == " (did you mean 'zscore_20'?)"
    assert ft.suggest("completely_unrelated", ft.RULE_FEATURES) == ""
    for plain in ("macd", "obv", "rsi_14", "atr_14"):  # rules written before the tr_ prefix
        assert ft.suggest(plain, ft.RULE_FEATURES) == f" (did you mean 'tr_{plain}'?)"
