"""split_valid: coercion to contract dtypes, reasons that name rule/field/value, speed."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from quant_assets.schemas.frames import frame_schema
from quant_assets.schemas.validation import FrameContractError, split_valid

OHLCV = "market_data.ohlcv_daily"


def ohlcv(n_symbols: int = 3, n_days: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_symbols * n_days
    close = 50 * np.exp(rng.normal(0, 0.03, n))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    return pd.DataFrame(
        {
            "symbol": np.repeat([f"S{i}" for i in range(n_symbols)], n_days),
            "date": np.tile(pd.bdate_range("2024-01-02", periods=n_days).date, n_symbols),
            "open": open_,
            "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
            "low": np.minimum(open_, close) - rng.uniform(0, 1, n),
            "close": close,
            "volume": rng.integers(0, 10_000, n).astype(float),
            "vwap": close,
            "source": "sample",
            "is_sample": True,
        }
    )


def test_clean_frame_passes_whole_with_contract_dtypes():
    df = ohlcv()
    valid, rejected = split_valid(OHLCV, df)
    assert rejected.empty and len(valid) == len(df)
    assert str(valid["date"].dtype) == "datetime64[us]" and valid["is_sample"].dtype == bool
    np.testing.assert_array_equal(valid["date"].dt.date.to_numpy(), df["date"].to_numpy())
    frame_schema(OHLCV).validate(valid)  # the pandera contract accepts the output


def test_reasons_name_the_rule_the_field_and_the_value():
    df = ohlcv()
    df.loc[0, ["open", "close", "high", "low"]] = [9.8, 9.9, 9.5, 10.0]
    df.loc[1, "close"] = np.nan
    df.loc[2, "volume"] = -1.0
    df.loc[3, "open"] = 0.0
    df.loc[4, "symbol"] = None
    df.loc[5, "high"] = np.inf
    df = pd.concat([df, df.iloc[[6]]], ignore_index=True)
    df.loc[6, "date"] = dt.date(2024, 1, 2)
    df.loc[len(df) - 1, "date"] = dt.date(2024, 1, 2)
    valid, rejected = split_valid(OHLCV, df)
    r = rejected["reason"]
    assert r[0].startswith("high < low: high=9.5 low=10.0; high < open: high=9.5 open=9.8")
    assert r[1] == "close is NaN"
    assert r[2] == "volume < 0: volume=-1.0"
    assert r[3].startswith("open <= 0: open=0.0")
    assert r[4] == "symbol is null"
    assert r[5] == "high is not finite: high=inf"
    assert (
        r[6] == f"duplicate key (symbol, date, source)=({df.loc[6, 'symbol']}, 2024-01-02, sample)"
    )
    assert r[len(df) - 1] == r[6]
    assert len(valid) + len(rejected) == len(df)
    assert rejected.loc[2, "volume"] == -1.0  # rejects keep the values as received


def test_split_agrees_with_an_independent_numpy_check_on_random_frames():
    rng = np.random.default_rng(7)
    n = 5_000
    df = pd.DataFrame(
        {
            "symbol": rng.choice(["A", "B", "C", "D"], n),
            "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), "D"),
            "open": rng.uniform(-1, 10, n),
            "high": rng.uniform(-1, 10, n),
            "low": rng.uniform(-1, 10, n),
            "close": np.where(rng.random(n) < 0.02, np.nan, rng.uniform(-1, 10, n)),
            "volume": rng.uniform(-10, 100, n),
            "vwap": np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0.1, 10, n)),
            "source": "x",
            "is_sample": False,
        }
    )
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        ok = (
            ~np.isnan(c)
            & (np.minimum.reduce([o, h, lo, c]) > 0)
            & (v >= 0)
            & (h >= np.fmax(o, c))
            & (lo <= np.fmin(o, c))
            & (h >= lo)
        )
    valid, rejected = split_valid(OHLCV, df)
    assert len(valid) == ok.sum() and set(rejected.index) == set(np.flatnonzero(~ok))


def test_missing_unknown_and_repeated_columns_raise_naming_them():
    df = ohlcv()
    with pytest.raises(FrameContractError, match=r"missing column\(s\) \['vwap'\]"):
        split_valid(OHLCV, df.drop(columns="vwap"))
    with pytest.raises(FrameContractError, match=r"unknown column\(s\) \['adj_close'\]"):
        split_valid(OHLCV, df.assign(adj_close=1.0))
    with pytest.raises(KeyError, match="unknown table"):
        split_valid("market_data.nope", df)


def test_dates_accept_dates_iso_strings_and_midnights_and_refuse_times():
    df = ohlcv(1, 4)
    df["date"] = pd.Series(
        [
            dt.date(2024, 1, 2),
            "2024-01-03",
            pd.Timestamp("2024-01-04"),
            dt.datetime(2024, 1, 5, 15, 30),
        ],
        dtype=object,
    )
    valid, rejected = split_valid(OHLCV, df)
    assert list(valid["date"].dt.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert rejected["reason"].iloc[0] == "date is not a date: date=2024-01-05 15:30:00"
    bad = ohlcv(1, 2)
    bad["date"] = ["2024-13-01", "2024-01-02"]
    valid, rejected = split_valid(OHLCV, bad)
    assert len(valid) == 1 and rejected["reason"].iloc[0] == "date is not a date: date=2024-13-01"


def macro(**over) -> pd.DataFrame:
    row = {"series_id": "CPIAUCSL", "date": "2024-01-01", "realtime_start": "2024-02-13",
           "realtime_end": "9999-12-31", "value": 308.4, "source": "fred", "is_sample": False}  # fmt: skip
    row.update(over)
    return pd.DataFrame([row])


def test_macro_vintages_keep_the_open_end_date_and_refuse_inverted_windows():
    valid, rejected = split_valid("macro.observations", macro())
    assert rejected.empty and valid["realtime_end"].iloc[0] == pd.Timestamp("9999-12-31")
    _, rejected = split_valid("macro.observations", macro(realtime_end="2024-01-31"))
    assert rejected["reason"].iloc[0] == (
        "realtime_start > realtime_end: realtime_start=2024-02-13 realtime_end=2024-01-31"
    )
    valid, _ = split_valid("macro.observations", macro(value=None))
    assert np.isnan(valid["value"].iloc[0])  # nullable: the vendor's missing value


def article(**over) -> pd.DataFrame:
    row = {"article_id": "x", "published_at": "2024-01-02T22:30:00-05:00", "published_date": "2024-01-03",
           "title": "t", "description": None, "url": "u", "publisher": None, "symbols": "AAPL",
           "source": "sample", "is_sample": True}  # fmt: skip
    row.update(over)
    return pd.DataFrame([row])


def test_timestamps_become_utc_and_naive_values_are_refused():
    valid, rejected = split_valid("news.articles", article())
    assert rejected.empty
    assert valid["published_at"].iloc[0] == pd.Timestamp("2024-01-03T03:30:00Z")
    assert str(valid["published_at"].dtype) == "datetime64[us, UTC]"
    _, rejected = split_valid("news.articles", article(published_at="2024-01-03T03:30:00"))
    assert rejected["reason"].iloc[0].startswith("published_at is not a timezone-aware timestamp")
    _, rejected = split_valid("news.articles", article(published_date="2024-01-02"))
    assert rejected["reason"].iloc[0].startswith("published_date != UTC date of published_at")
    naive = article()
    naive["published_at"] = pd.to_datetime(["2024-01-03 03:30"])
    with pytest.raises(FrameContractError, match="'published_at' holds naive timestamps"):
        split_valid("news.articles", naive)


def test_event_types_and_sentiment_scores_are_checked():
    events = pd.DataFrame(
        {
            "symbol": ["AAPL"] * 3,
            "event_date": ["2024-02-09", "2024-02-10", "2024-02-11"],
            "event_type": ["dividend", "bonus", "split"],
            "value": [0.24, 1.0, 0.0],
            "consensus": [None, None, None],
            "details": [None, None, None],
            "source": "sample",
            "is_sample": True,
        }
    )
    valid, rejected = split_valid("events.security_events", events)
    assert list(valid["event_type"]) == ["dividend"]
    assert list(rejected["reason"]) == [
        "event_type not in {dividend, earnings, split}: event_type=bonus",
        "split value <= 0: value=0.0",
    ]
    sent = pd.DataFrame(
        {
            "article_id": ["a", "b"],
            "symbol": ["AAPL", "AAPL"],
            "published_at": pd.to_datetime(["2024-01-02T10:00Z"] * 2, utc=True),
            "published_date": ["2024-01-02"] * 2,
            "channel": ["news", "news"],
            "vader_compound": [0.5, 1.2],
            "lm_score": [0.0, 0.0],
            "score": [0.2, 0.1],
            "source": "sample",
            "is_sample": True,
        }
    )
    _, rejected = split_valid("news.article_sentiment", sent)
    assert list(rejected["reason"]) == ["vader_compound outside [-1, 1]: vader_compound=1.2"]


def test_unparseable_values_are_rejected_not_silently_nulled():
    df = ohlcv(1, 2).astype({"vwap": object})
    df.loc[0, "vwap"] = "n/a"
    valid, rejected = split_valid(OHLCV, df)
    assert len(valid) == 1 and rejected["reason"].iloc[0] == "vwap is not a number: vwap=n/a"


def test_a_million_rows_validate_in_a_few_seconds():
    df = ohlcv(n_symbols=500, n_days=2_000, seed=3)
    df["date"] = pd.to_datetime(df["date"])
    split_valid(OHLCV, df.head(1000))  # warm imports
    t0 = time.process_time()  # CPU time: robust to other processes sharing the machine
    valid, rejected = split_valid(OHLCV, df)
    elapsed = time.process_time() - t0
    assert len(valid) == 1_000_000 and rejected.empty
    assert elapsed < 5.0, f"1M rows took {elapsed:.1f} s of CPU"
