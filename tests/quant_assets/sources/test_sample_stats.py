"""Statistical sanity of the sample market, macro vintages and news signal (fixed seed).

Bands are the stated targets widened for the sampling error of 21 years of GARCH paths.
Independent references: scipy.stats for kurtosis and rank correlation, VADER for headline tone.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from quant_assets.sources.sample import MACRO_SERIES, SampleSource, demo_instruments
from quant_assets.sources.sample_news import _COIN, _COMPANY, _FUND, _SECTOR

START, END = dt.date(2005, 1, 3), dt.date(2025, 12, 31)
INSTRUMENTS = demo_instruments()
SYMBOLS = [i["symbol"] for i in INSTRUMENTS]
INFO = {i["symbol"]: i for i in INSTRUMENTS}

# annualised volatility bands: (symbols, low, high)
VOL_BANDS = {
    "broad ETFs": (["SPY", "IVV", "VTI"], 0.13, 0.23),
    "bond ETFs": (["TLT", "AGG", "BND"], 0.04, 0.09),
    "megacaps": (["AAPL", "MSFT", "NVDA", "JPM", "BAC", "WFC", "XOM", "CVX"], 0.20, 0.40),
    "growth": (["IONQ", "RGTI", "KTOS", "PLTR"], 0.50, 1.10),
    "crypto": (["BTC", "ETH", "SOL", "XRP"], 0.50, 1.10),
}


@pytest.fixture(scope="module")
def src() -> SampleSource:
    return SampleSource(INSTRUMENTS, seed=42)


@pytest.fixture(scope="module")
def returns(src) -> pd.DataFrame:
    """Daily log returns by date x symbol, split days removed (they are not returns)."""
    bars = src.ohlcv(SYMBOLS, START, END).sort_values(["symbol", "date"])
    bars["ret"] = np.log(bars["close"] / bars.groupby("symbol")["close"].shift(1))
    ev = src.security_events(SYMBOLS, START, END)
    splits = set(
        zip(
            ev.loc[ev["event_type"] == "split", "symbol"],
            ev.loc[ev["event_type"] == "split", "event_date"],
            strict=True,
        )
    )
    on_split = [(s, d) in splits for s, d in zip(bars["symbol"], bars["date"], strict=True)]
    bars.loc[on_split, "ret"] = np.nan
    return bars.pivot(index="date", columns="symbol", values="ret")


def _ann_vol(r: pd.Series, symbol: str) -> float:
    periods = 365 if INFO[symbol]["asset_class"] == "crypto" else 252
    return float(r.dropna().std() * np.sqrt(periods))


def test_annualised_volatility_per_group_is_in_band(returns):
    measured = {}
    for group, (symbols, lo, hi) in VOL_BANDS.items():
        vols = {s: _ann_vol(returns[s], s) for s in symbols}
        measured[group] = vols
        for s, v in vols.items():
            assert lo <= v <= hi, f"{group} {s}: {v:.3f} not in [{lo}, {hi}]"
    alts = [measured["crypto"][s] for s in ("ETH", "SOL", "XRP")]
    assert measured["crypto"]["BTC"] < np.median(alts)
    assert max(measured["bond ETFs"].values()) < min(measured["broad ETFs"].values())
    assert np.mean(list(measured["megacaps"].values())) < np.mean(list(measured["growth"].values()))


def test_correlation_is_higher_inside_a_sector_than_across(returns):
    stocks = ["AAPL", "MSFT", "NVDA", "JPM", "BAC", "WFC", "XOM", "CVX"]
    corr = returns[stocks].corr()
    within, across = [], []
    for i, a in enumerate(stocks):
        for b in stocks[i + 1 :]:
            (within if INFO[a]["sector"] == INFO[b]["sector"] else across).append(corr.loc[a, b])
    assert np.mean(across) > 0.1
    assert np.mean(within) > np.mean(across) + 0.1
    # Crypto is weakly tied to equities; bonds hedge them a little.
    listed_days = returns["SPY"].notna()
    assert 0.0 < returns.loc[listed_days, ["BTC", "SPY"]].corr().iloc[0, 1] < 0.4
    assert returns[["TLT", "SPY"]].corr().iloc[0, 1] < 0.0


def test_returns_have_fat_tails_and_volatility_clustering(returns):
    kurt, acf = {}, {}
    for s in SYMBOLS:
        if s == "USDT":  # a pegged stablecoin has no equity-like return process
            continue
        r = returns[s].dropna()
        kurt[s] = stats.kurtosis(r, fisher=True)
        sq = (r - r.mean()) ** 2
        acf[s] = sq.autocorr(1)
    assert min(kurt.values()) > 0.5, kurt
    assert np.mean(list(acf.values())) > 0.05, acf
    assert acf["SPY"] > 0.05 and acf["BTC"] > 0.02


def test_macro_vintages_differ_between_first_release_and_latest(src):
    obs = src.macro_observations(list(MACRO_SERIES), START, END)
    assert set(obs["series_id"]) == set(MACRO_SERIES)
    for series, n_vintages in (("PAYEMS", 3), ("GDP", 3)):
        s = obs[obs["series_id"] == series].sort_values(["date", "realtime_start"])
        counts = s.groupby("date").size()
        assert counts.iloc[:-4].eq(n_vintages).all(), series
        # Vintages tile time: each ends the day before the next starts; the last one in the
        # window is open, or ends the day before a revision published after the window.
        nxt = s.groupby("date")["realtime_start"].shift(-1)
        has_next = nxt.notna()
        assert (
            pd.to_datetime(s.loc[has_next, "realtime_end"])
            == pd.to_datetime(nxt[has_next]) - pd.Timedelta(days=1)
        ).all()
        assert (s.loc[~has_next, "realtime_end"] >= END).all()
        # Point in time: as known on the first release day vs the latest value.
        month = (
            s[s["date"] == dt.date(2015, 6, 1)]
            if series == "PAYEMS"
            else s[s["date"] == dt.date(2015, 4, 1)]
        )
        first_day = month["realtime_start"].min()
        as_known = month[
            (month["realtime_start"] <= first_day) & (month["realtime_end"] >= first_day)
        ]["value"].iloc[0]
        latest = month[month["realtime_end"] == dt.date(9999, 12, 31)]["value"].iloc[0]
        assert as_known != latest, series
        assert first_day > dt.date(2015, 6, 1)  # released after the period, never before
    assert obs.loc[obs["series_id"] == "CPIAUCSL"].groupby("date").size().eq(1).all()


def test_economic_calendar_and_surprises_move_the_market(src, returns):
    ev = src.economic_events(START, END)
    per_year = ev[pd.to_datetime(ev["release_date"]).dt.year == 2015]["event_code"].value_counts()
    assert (
        per_year["FOMC"] == 8
        and per_year["CPI"] == 12
        and per_year["NFP"] == 12
        and per_year["GDP"] == 4
    )
    assert per_year["RETAIL_SALES"] == 12 and per_year["PCE"] == 12
    nfp = ev[ev["event_code"] == "NFP"]
    assert (pd.to_datetime(nfp["release_date"]).dt.day <= 10).all()
    fomc = ev[ev["event_code"] == "FOMC"]
    assert np.allclose((fomc["actual"] / 0.25) % 1, 0) and np.allclose(
        (fomc["consensus"] / 0.25) % 1, 0
    )
    # Hot inflation prints hurt stocks the same day.
    cpi = ev[ev["event_code"] == "CPI"].dropna(subset=["actual", "consensus"])
    spy = returns["SPY"]
    same_day = spy.reindex(cpi["release_date"]).to_numpy()
    ok = ~np.isnan(same_day)
    rho = stats.spearmanr((cpi["actual"] - cpi["consensus"]).to_numpy()[ok], same_day[ok])[0]
    assert rho < -0.1, rho


def test_severe_geopolitical_events_are_followed_by_market_drops(src, returns):
    geo = src.geopolitical_events(START, END)
    assert set(geo["category"]) == {
        "conflict",
        "election",
        "sanctions",
        "disaster",
        "trade",
        "other",
    }
    assert geo["severity"].between(0, 10).all()
    hostile = geo["category"].isin(["conflict", "sanctions", "disaster", "trade"])
    assert geo.loc[hostile, "tone"].mean() < geo.loc[~hostile, "tone"].mean()
    severe = geo[hostile & (geo["severity"] >= 8)]
    spy = returns["SPY"].dropna()
    days = spy.index.to_numpy()
    times = pd.to_datetime(severe["event_time"])
    next_day = (
        times.dt.tz_localize(None) + pd.to_timedelta((times.dt.hour >= 20).astype(int), unit="D")
    ).dt.date
    idx = np.searchsorted(days, next_day.to_numpy())
    idx = idx[idx < len(days)]
    z = spy.to_numpy()[idx] / spy.std()
    assert len(z) >= 8
    assert z.mean() < -0.5, z.mean()


def test_headline_templates_carry_the_tone_vader_reads():
    vader = SentimentIntensityAnalyzer()
    for family in (_COMPANY, _FUND, _COIN, _SECTOR):
        for level, templates in enumerate(family):
            for t in templates:
                score = vader.polarity_scores(t.format(name="Acme", label="Tech stocks"))[
                    "compound"
                ]
                if level <= 1:
                    assert score < -0.05, t
                elif level >= 3:
                    assert score > 0.05, t
                else:
                    assert abs(score) < 0.3, t


def test_news_tone_predicts_next_day_returns(src, returns):
    news = src.news(SYMBOLS, START, END)
    assert news["article_id"].is_unique and news["url"].is_unique
    daily = news.groupby("published_date").size()
    assert daily.median() >= 1
    vader = SentimentIntensityAnalyzer()
    news = news.assign(tone=news["title"].map(lambda t: vader.polarity_scores(t)["compound"]))
    pairs = news.assign(symbol=news["symbols"].str.split(",")).explode("symbol")
    # Next return of the symbol after the publication day (next session for listed names).
    nxt = returns.apply(lambda c: c.dropna().shift(-1)).stack().rename("next_ret").reset_index()
    merged = pairs.merge(nxt, left_on=["symbol", "published_date"], right_on=["symbol", "date"])
    ic = stats.spearmanr(merged["tone"], merged["next_ret"])[0]
    assert 0.05 <= ic <= 0.25, ic
