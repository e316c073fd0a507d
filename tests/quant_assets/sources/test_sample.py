"""The offline sample source: contract, determinism, calendars, bar sanity, corporate actions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pandas_market_calendars as mcal
import pytest

from quant_assets.schemas.tables import (
    ECONOMIC_EVENTS,
    GEOPOLITICAL_EVENTS,
    MACRO_OBSERVATIONS,
    NEWS_ARTICLES,
    OHLCV_DAILY,
    SECURITY_EVENTS,
)
from quant_assets.sources.base import Source, SourceError
from quant_assets.sources.sample import MACRO_SERIES, SampleSource, clear_caches, demo_instruments

START, END = dt.date(2005, 1, 3), dt.date(2025, 12, 31)
INSTRUMENTS = demo_instruments()
SYMBOLS = [i["symbol"] for i in INSTRUMENTS]
LISTED = [i["symbol"] for i in INSTRUMENTS if i["asset_class"] != "crypto"]
CRYPTO = [i["symbol"] for i in INSTRUMENTS if i["asset_class"] == "crypto"]


def _all_domains(
    src: SampleSource, start: dt.date, end: dt.date, symbols=SYMBOLS
) -> dict[str, pd.DataFrame]:
    return {
        "ohlcv": src.ohlcv(symbols, start, end),
        "security_events": src.security_events(symbols, start, end),
        "economic_events": src.economic_events(start, end),
        "geopolitical_events": src.geopolitical_events(start, end),
        "macro": src.macro_observations(list(MACRO_SERIES), start, end),
        "news": src.news(symbols, start, end),
    }


TABLES = {
    "ohlcv": OHLCV_DAILY,
    "security_events": SECURITY_EVENTS,
    "economic_events": ECONOMIC_EVENTS,
    "geopolitical_events": GEOPOLITICAL_EVENTS,
    "macro": MACRO_OBSERVATIONS,
    "news": NEWS_ARTICLES,
}


def _digest(frame: pd.DataFrame) -> int:
    """Order-sensitive hash of every cell (equal digests <=> equal bytes of the values)."""
    return int(pd.util.hash_pandas_object(frame.astype(str), index=True).sum())


@pytest.fixture(scope="module")
def src() -> SampleSource:
    return SampleSource(INSTRUMENTS, seed=42)


@pytest.fixture(scope="module")
def full(src) -> dict[str, pd.DataFrame]:
    return _all_domains(src, START, END)


def test_implements_the_source_protocol_with_exact_columns(src, full):
    assert isinstance(src, Source)
    for domain, frame in full.items():
        table = TABLES[domain]
        assert list(frame.columns) == table.column_names, domain
        assert len(frame) > 0, domain
        assert (frame["source"] == "sample").all() and frame["is_sample"].astype(bool).all(), domain
        assert not frame.duplicated(list(table.primary_key)).any(), (
            f"{domain}: duplicate primary keys"
        )
        required = [c.name for c in table.columns if not c.nullable]
        assert not frame[required].isna().any().any(), f"{domain}: null in a required column"


def test_same_seed_same_bytes_and_different_seed_differs():
    window = (dt.date(2019, 1, 1), dt.date(2020, 12, 31))
    clear_caches()
    first = {
        k: _digest(v) for k, v in _all_domains(SampleSource(INSTRUMENTS, seed=11), *window).items()
    }
    clear_caches()  # regenerate from scratch: equality must not come from the cache
    second = {
        k: _digest(v) for k, v in _all_domains(SampleSource(INSTRUMENTS, seed=11), *window).items()
    }
    other = {
        k: _digest(v) for k, v in _all_domains(SampleSource(INSTRUMENTS, seed=12), *window).items()
    }
    assert first == second
    for domain in first:
        assert first[domain] != other[domain], domain


def test_one_day_equals_slice_of_long_request_regardless_of_subset_and_horizon(full):
    day = dt.date(2020, 3, 16)
    long = full["ohlcv"]
    expected = long[(long["date"] == day) & long["symbol"].isin(["MSFT", "SPY", "BTC"])]
    clear_caches()
    # Another source over a different instrument subset, asked for a single day.
    subset = SampleSource(
        [i for i in INSTRUMENTS if i["symbol"] in ("BTC", "SPY", "MSFT")], seed=42
    )
    got = subset.ohlcv(["MSFT", "SPY", "BTC"], day, day)
    pd.testing.assert_frame_equal(
        got.sort_values("symbol").reset_index(drop=True),
        expected.sort_values("symbol").reset_index(drop=True),
        check_exact=True,
    )
    # A request reaching past the default horizon regenerates a longer history; the past is unchanged.
    far = SampleSource(INSTRUMENTS, seed=42).ohlcv(
        ["NVDA", "ETH"], dt.date(2024, 6, 1), dt.date(2033, 1, 10)
    )
    near = long[long["symbol"].isin(["NVDA", "ETH"]) & (long["date"] >= dt.date(2024, 6, 1))]
    cut = far[far["date"] <= END]
    pd.testing.assert_frame_equal(
        cut.sort_values(["symbol", "date"]).reset_index(drop=True),
        near.sort_values(["symbol", "date"]).reset_index(drop=True),
        check_exact=True,
    )
    # News for one day from a fresh source equals that day of the long request. (Sector
    # round-ups name several members, so news is compared over the same universe.)
    full_news = full["news"]
    msft = full_news[full_news["symbols"].str.split(",").map(lambda s: "MSFT" in s)]
    news_date = msft.loc[msft["published_date"] >= day, "published_date"].iloc[0]
    on_day = msft[msft["published_date"] == news_date]
    clear_caches()
    news_day = SampleSource(INSTRUMENTS, seed=42).news(["MSFT"], news_date, news_date)
    pd.testing.assert_frame_equal(
        news_day.reset_index(drop=True), on_day.reset_index(drop=True), check_exact=True
    )


def test_listed_bars_follow_the_nyse_calendar_and_crypto_trades_every_day(full):
    bars = full["ohlcv"]
    sessions = mcal.get_calendar("NYSE").valid_days(START, END).tz_localize(None).date
    session_set = set(sessions)
    holidays = [
        dt.date(2012, 10, 29),
        dt.date(2018, 12, 5),
        dt.date(2025, 1, 9),
        dt.date(2024, 3, 29),
        dt.date(2023, 12, 25),
    ]
    for sym in LISTED:
        dates = bars.loc[bars["symbol"] == sym, "date"]
        assert set(dates) <= session_set, sym
        first = dates.min()
        assert set(dates) == {d for d in sessions if d >= first}, f"{sym}: missing sessions"
        assert not set(holidays) & set(dates), sym
    for sym in CRYPTO:
        dates = pd.to_datetime(bars.loc[bars["symbol"] == sym, "date"]).sort_values()
        assert (dates.diff().dropna() == pd.Timedelta(days=1)).all(), sym
        assert dt.date(2024, 12, 25) in set(dates.dt.date) and dt.date(2024, 3, 30) in set(
            dates.dt.date
        )


def test_ohlc_is_consistent(full):
    b = full["ohlcv"]
    assert (b["high"] >= b[["open", "close"]].max(axis=1)).all()
    assert (b["low"] <= b[["open", "close"]].min(axis=1)).all()
    assert (b[["open", "high", "low", "close", "vwap"]] > 0).all().all()
    assert ((b["vwap"] >= b["low"]) & (b["vwap"] <= b["high"])).all()
    assert (b["volume"] > 0).all()


def test_known_inception_dates_are_respected(full):
    first = full["ohlcv"].groupby("symbol")["date"].min()
    assert first["SPY"] == START
    assert first["BTC"] == dt.date(2010, 7, 19)
    assert first["ETH"] == dt.date(2015, 8, 8)
    assert first["PLTR"] == dt.date(2020, 9, 30)


def test_splits_coincide_with_price_drops_of_the_split_ratio(full):
    bars = full["ohlcv"].sort_values(["symbol", "date"])
    bars["ret"] = np.log(bars["close"] / bars.groupby("symbol")["close"].shift(1))
    ev = full["security_events"]
    splits = ev[ev["event_type"] == "split"]
    assert len(splits) >= 2, "expected a few splits over 21 years of megacap and growth prices"
    merged = splits.merge(bars, left_on=["symbol", "event_date"], right_on=["symbol", "date"])
    assert len(merged) == len(splits)
    # Unadjusted close drops by the ratio; multiplied back it is an ordinary daily move.
    assert (merged["ret"] < -np.log(1.6)).all()
    assert (np.abs(merged["ret"] + np.log(merged["value"])) < 0.25).all()
    # Megacaps never drop that much without a split.
    mega = {i["symbol"] for i in INSTRUMENTS if "us_megacap" in i["groups"]}
    split_keys = set(zip(splits["symbol"], splits["event_date"], strict=True))
    big_drops = bars[bars["symbol"].isin(mega) & (bars["ret"] < -np.log(1.6))]
    assert set(zip(big_drops["symbol"], big_drops["date"], strict=True)) <= split_keys


def test_dividends_lower_the_price_by_their_amount_on_the_ex_date(full):
    bars = full["ohlcv"].sort_values(["symbol", "date"]).copy()
    bars["prev"] = bars.groupby("symbol")["close"].shift(1)
    ev = full["security_events"]
    divs = ev[ev["event_type"] == "dividend"][["symbol", "event_date", "value"]]
    assert len(divs) > 500 and (divs["value"] > 0).all()
    assert not divs["symbol"].isin(CRYPTO).any()
    m = bars.merge(divs, left_on=["symbol", "date"], right_on=["symbol", "event_date"], how="left")
    m = m[
        m["symbol"].isin(["SPY", "IVV", "VTI", "AGG", "BND", "TLT", "XOM", "JPM"])
        & m["prev"].notna()
    ]
    raw = np.log(m["close"] / m["prev"])
    total = np.log((m["close"] + m["value"].fillna(0.0)) / m["prev"])
    ex = m["value"].notna()
    # Raw returns on ex-dates are lower by about D/P than on other days; adding D back removes the gap.
    gap_raw = raw[ex].mean() - raw[~ex].mean()
    gap_total = total[ex].mean() - total[~ex].mean()
    yield_ = (m.loc[ex, "value"] / m.loc[ex, "prev"]).mean()
    se = raw.std() / np.sqrt(ex.sum())
    assert abs(gap_raw + yield_) < 3.5 * se
    assert abs(gap_total) < 3.5 * se


def test_earnings_surprise_relates_to_the_next_session_return(full):
    bars = full["ohlcv"].sort_values(["symbol", "date"]).copy()
    bars["next_ret"] = np.log(bars.groupby("symbol")["close"].shift(-1) / bars["close"])
    ev = full["security_events"]
    earn = ev[ev["event_type"] == "earnings"]
    assert set(earn["symbol"]) == {i["symbol"] for i in INSTRUMENTS if i["asset_class"] == "stock"}
    m = earn.merge(bars, left_on=["symbol", "event_date"], right_on=["symbol", "date"]).dropna(
        subset=["next_ret"]
    )
    surprise = (m["value"] - m["consensus"]) / m["consensus"].abs().clip(lower=0.05)
    rho = surprise.corr(m["next_ret"], method="spearman")
    assert rho > 0.2, rho
    assert (m["value"] > m["consensus"]).mean() > 0.5  # companies beat more often than they miss


def test_unknown_symbol_or_series_is_an_error(src):
    with pytest.raises(SourceError, match="NOPE"):
        src.ohlcv(["NOPE"], START, END)
    with pytest.raises(SourceError, match="XYZ"):
        src.macro_observations(["XYZ"], START, END)


def test_requests_before_the_start_are_empty(src):
    assert src.ohlcv(["SPY"], dt.date(2000, 1, 1), dt.date(2004, 12, 31)).empty
    assert src.economic_events(dt.date(2000, 1, 1), dt.date(2004, 12, 31)).empty
