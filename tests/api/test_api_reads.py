"""The /v1 read routes: exact rows, filters, the row cap and 4xx messages for bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets.strategy.features import MART_COLUMNS, TEXT_FEATURES
from quant_assets.warehouse import connect


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _feature_column(name: str) -> str:
    """A select-list item of the stand-in features mart: known values, NULL elsewhere."""
    if name in TEXT_FEATURES:
        return f"'etf' AS {name}"
    if name in ("close", "is_sample"):
        return name
    if name == "sma_20":
        return "close * 2 AS sma_20"
    return f"CAST(NULL AS DOUBLE) AS {name}"


def test_bars_return_exactly_the_rows_stored(client, api_wh):
    response = client.get("/v1/bars", params={"symbols": "SPY,QQQ,BTC", "limit": 10_000})
    assert response.status_code == 200
    body = response.json()
    assert body["table"] == "market_data.ohlcv_daily" and body["truncated"] is False
    got = _frame(body["rows"])
    expected = api_wh.bars.copy()
    expected["date"] = expected["date"].map(dt.date.isoformat)
    expected = expected.sort_values(["symbol", "date", "source"]).reset_index(drop=True)
    assert body["count"] == len(expected) == len(got)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_bars_filter_by_symbol_date_range_and_source(client, api_wh):
    params = {"symbols": "spy", "start": "2024-02-01", "end": "2024-02-29"}
    rows = client.get("/v1/bars", params=params).json()["rows"]
    bars = api_wh.bars
    mask = (
        (bars["symbol"] == "SPY")
        & (bars["date"] >= dt.date(2024, 2, 1))
        & (bars["date"] <= dt.date(2024, 2, 29))
    )
    assert [r["date"] for r in rows] == [d.isoformat() for d in bars.loc[mask, "date"]]
    assert {r["symbol"] for r in rows} == {"SPY"}
    np.testing.assert_array_equal([r["close"] for r in rows], bars.loc[mask, "close"])
    repeated = client.get("/v1/bars", params=[("symbols", "SPY"), ("symbols", "BTC")]).json()
    assert {r["symbol"] for r in repeated["rows"]} == {"SPY", "BTC"}
    other = client.get("/v1/bars", params={"symbols": "SPY", "source": "polygon"}).json()
    assert other["count"] == 0 and other["rows"] == []


def test_limit_caps_the_rows_and_says_so(client):
    body = client.get("/v1/bars", params={"symbols": "BTC", "limit": 5}).json()
    assert body["count"] == 5 and body["limit"] == 5 and body["truncated"] is True
    assert [r["date"] for r in body["rows"]][:2] == ["2024-01-02", "2024-01-03"]
    default = client.get("/v1/bars", params={"symbols": "BTC"}).json()
    assert default["limit"] == 1000 and default["truncated"] is False


def test_instruments_filter_by_group_and_asset_class(client):
    everything = client.get("/v1/instruments").json()
    crypto = client.get("/v1/instruments", params={"group": "crypto_top10"}).json()
    assert 0 < crypto["count"] < everything["count"]
    assert all("crypto_top10" in i["groups"] for i in crypto["instruments"])
    assert "BTC" in {i["symbol"] for i in crypto["instruments"]}
    etfs = client.get("/v1/instruments", params={"asset_class": "etf"}).json()
    assert etfs["count"] and {i["asset_class"] for i in etfs["instruments"]} == {"etf"}


def test_strategy_outputs_filter_by_date_and_name(client):
    signals = client.get(
        "/v1/signals", params={"strategy": "trend", "start": "2024-03-27", "end": "2024-03-28"}
    ).json()
    assert signals["table"] == "strategies.signals"
    assert [(r["date"], r["strategy"], r["symbol"]) for r in signals["rows"]] == [
        ("2024-03-27", "trend", "SPY"),
        ("2024-03-28", "trend", "SPY"),
    ]
    assert signals["rows"][0]["target_weight"] == 0.5
    by_symbol = client.get("/v1/signals", params={"symbol": "QQQ"}).json()
    assert by_symbol["count"] == 3 and {r["strategy"] for r in by_symbol["rows"]} == {"carry"}

    predictions = client.get(
        "/v1/predictions", params={"model": "xgb_rank", "symbol": "BTC", "start": "2024-03-28"}
    ).json()
    assert [(r["date"], r["score"]) for r in predictions["rows"]] == [("2024-03-28", 0.2)]
    assert client.get("/v1/predictions", params={"model": "other"}).json()["count"] == 0

    stats = client.get(
        "/v1/backtest-stats",
        params={"strategy": "trend", "metric": "sharpe", "start": "2024-03-28"},
    ).json()
    assert [(r["as_of"], r["value"]) for r in stats["rows"]] == [("2024-03-28", 1.25)]

    assert client.get("/v1/recommendations").json()["rows"] == []


def test_reports_list_the_written_reports(client):
    body = client.get("/v1/reports").json()
    assert body["table"] == "strategies.reports"
    assert [(r["report_date"], r["kind"]) for r in body["rows"]] == [
        ("2024-03-28", "eod"),
        ("2024-03-28", "sod"),
    ]
    sod = client.get("/v1/reports", params={"kind": "sod"}).json()["rows"]
    assert sod == [
        {
            "report_date": "2024-03-28",
            "kind": "sod",
            "html_path": "/r/sod.html",
            "text_path": None,
            "email_status": "not_configured",
            "created_at": "2024-03-28T21:05:00+00:00",
            "is_sample": True,
        }
    ]


def test_features_missing_mart_is_a_404_naming_the_table(client):
    response = client.get("/v1/features", params={"symbol": "SPY"})
    assert response.status_code == 404
    assert response.json()["table"] == "derived.fct_features_daily"
    assert "derived.fct_features_daily does not exist" in response.json()["detail"]


def test_features_read_the_mart_once_dbt_built_it(tmp_path, api_wh, make_client):
    url = f"duckdb:///{tmp_path / 'features.duckdb'}"
    cols = ", ".join(_feature_column(c) for c in MART_COLUMNS)
    with connect(url) as wh:
        wh.migrate()
        wh.bulk_load("market_data.ohlcv_daily", api_wh.bars)
        # dbt builds this mart in the pipeline; here a stand-in with the same columns.
        wh.query(
            f"CREATE TABLE derived.fct_features_daily AS SELECT symbol, date, {cols} "
            "FROM market_data.ohlcv_daily"
        )
    client = make_client(url)
    client.headers["X-API-Key"] = api_wh.key
    body = client.get(
        "/v1/features", params={"symbol": "SPY", "start": "2024-03-01", "end": "2024-03-08"}
    ).json()
    spy = api_wh.bars[
        (api_wh.bars["symbol"] == "SPY")
        & (api_wh.bars["date"].between(dt.date(2024, 3, 1), dt.date(2024, 3, 8)))
    ]
    assert body["table"] == "derived.fct_features_daily" and body["count"] == len(spy) == 6
    row = body["rows"][0]
    assert row["symbol"] == "SPY" and row["date"] == "2024-03-01"
    assert row["close"] == spy["close"].iloc[0] and row["sma_20"] == 2 * spy["close"].iloc[0]
    assert row["vol_20"] is None and row["tr_rsi_14"] is None  # NaN and missing indicators: null
    assert "rsi_14" not in row and "tr_sma_20" in row  # one scale per name: tr_ = total return


@pytest.mark.parametrize(
    ("route", "params", "param", "value"),
    [
        ("/v1/bars", {"symbols": "SPY,NOPE"}, "symbols", "NOPE"),
        ("/v1/bars", {"symbols": " , "}, "symbols", " , "),
        ("/v1/bars", {}, "symbols", None),
        ("/v1/bars", {"symbols": "SPY", "start": "2024-13-01"}, "start", "2024-13-01"),
        ("/v1/bars", {"symbols": "SPY", "end": "yesterday"}, "end", "yesterday"),
        (
            "/v1/bars",
            {"symbols": "SPY", "start": "2024-03-01", "end": "2024-02-01"},
            "start",
            "2024-03-01",
        ),
        ("/v1/bars", {"symbols": "SPY", "limit": "0"}, "limit", "0"),
        ("/v1/bars", {"symbols": "SPY", "limit": "10001"}, "limit", "10001"),
        ("/v1/bars", {"symbols": "SPY", "limit": "many"}, "limit", "many"),
        ("/v1/features", {"symbol": "NOPE"}, "symbol", "NOPE"),
        ("/v1/signals", {"symbol": "NOPE"}, "symbol", "NOPE"),
        ("/v1/signals", {"start": "2024-03-28", "end": "2024-03-01"}, "start", "2024-03-28"),
        ("/v1/predictions", {"start": "28/03/2024"}, "start", "28/03/2024"),
        ("/v1/instruments", {"group": "meme_stocks"}, "group", "meme_stocks"),
    ],
)
def test_bad_parameters_are_4xx_naming_parameter_and_value(client, route, params, param, value):
    response = client.get(route, params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(param)
    if value is not None:
        assert repr(value) in detail
