"""The vendor chain: later vendors fill what earlier ones lack; outages fall through."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.chain import ChainSource

D = dt.date(2024, 1, 2)


class Fake:
    """A vendor answering from a fixed frame (or failing), recording what it was asked."""

    def __init__(self, name: str, rows: list[dict] | None = None, error: Exception | None = None):
        self.name, self.rows, self.error, self.asked = name, rows or [], error, []

    def _answer(self, key: str | None = None, wanted=None) -> pd.DataFrame:
        self.asked.append(list(wanted) if wanted is not None else None)
        if self.error is not None:
            raise self.error
        frame = pd.DataFrame(self.rows, columns=["symbol", "event_type", "series_id", "source"])
        frame["source"] = self.name
        return frame if key is None else frame[frame[key].isin(wanted)]

    def ohlcv(self, symbols, start, end):
        return self._answer("symbol", symbols)

    def security_events(self, symbols, start, end):
        return self._answer("symbol", symbols)

    def macro_observations(self, series_ids, start, end):
        return self._answer("series_id", series_ids)


def test_later_vendor_is_asked_only_for_the_symbols_earlier_ones_lack() -> None:
    binance = Fake("binance", [{"symbol": "BTC"}])
    coingecko = Fake("coingecko", [{"symbol": "BTC"}, {"symbol": "HYPE"}])
    chain = ChainSource([binance, coingecko])
    frame = chain.ohlcv(["BTC", "HYPE"], D, D)
    assert frame[["symbol", "source"]].values.tolist() == [
        ["BTC", "binance"],
        ["HYPE", "coingecko"],
    ]
    assert coingecko.asked == [["HYPE"]]
    assert chain.name == "binance+coingecko" and chain.names == ["binance", "coingecko"]


def test_earnings_from_the_second_vendor_join_the_first_vendors_dividends() -> None:
    polygon = Fake("polygon", [{"symbol": "AAPL", "event_type": "dividend"}])
    alphavantage = Fake(
        "alphavantage",
        [
            {"symbol": "AAPL", "event_type": "earnings"},
            {"symbol": "AAPL", "event_type": "dividend"},
        ],
    )
    frame = ChainSource([polygon, alphavantage]).security_events(["AAPL"], D, D)
    assert frame[["event_type", "source"]].values.tolist() == [
        ["dividend", "polygon"],
        ["earnings", "alphavantage"],
    ]


def test_a_failing_vendor_is_passed_over_and_named() -> None:
    down = Fake("polygon", error=SourceError("polygon", "HTTP 503"))
    chain = ChainSource([down, Fake("alphavantage", [{"symbol": "AAPL"}])])
    assert chain.ohlcv(["AAPL"], D, D)["source"].tolist() == ["alphavantage"]
    assert chain.passed_over == ["polygon: [polygon] HTTP 503"]


def test_when_every_vendor_fails_the_first_real_error_is_raised() -> None:
    chain = ChainSource(
        [
            Fake("polygon", error=NotSupported("polygon", "no macro series")),
            Fake("fred", error=SourceError("fred", "HTTP 500")),
        ]
    )
    with pytest.raises(SourceError, match="HTTP 500"):
        chain.macro_observations(["GDP"], D, D)


class FakeNews:
    """A news vendor: articles with comma-separated `symbols`, filtered to those asked."""

    def __init__(self, name: str, articles: list[str]):
        self.name, self.articles, self.asked = name, articles, []

    def news(self, symbols, start, end):
        self.asked.append(list(symbols))
        keep = [a for a in self.articles if set(a.split(",")) & set(symbols)]
        return pd.DataFrame({"title": keep, "symbols": keep, "source": self.name})


def test_a_later_news_vendor_fills_the_symbols_the_first_has_no_article_on() -> None:
    """Polygon's ticker news has an article naming AAPL and MSFT, none on BTC: NewsAPI is
    asked for BTC alone (before, the first vendor with any article took the whole day)."""
    polygon = FakeNews("polygon", ["AAPL,MSFT"])
    newsapi = FakeNews("newsapi", ["AAPL", "BTC"])
    frame = ChainSource([polygon, newsapi]).news(["AAPL", "MSFT", "BTC"], D, D)
    assert frame[["symbols", "source"]].values.tolist() == [
        ["AAPL,MSFT", "polygon"],
        ["BTC", "newsapi"],
    ]
    assert newsapi.asked == [["BTC"]]
    empty, full = FakeNews("polygon", []), FakeNews("newsapi", ["AAPL"])
    assert ChainSource([empty, full]).news(["AAPL"], D, D)["source"].tolist() == ["newsapi"]


def test_world_bank_annual_series_are_asked_for_only_when_it_is_a_macro_vendor() -> None:
    from quant_assets.sources.select import ANNUAL_SERIES, MACRO_SERIES, macro_series

    fred, worldbank = Fake("fred"), Fake("worldbank")
    assert macro_series(fred) == MACRO_SERIES
    assert macro_series(ChainSource([fred, worldbank])) == MACRO_SERIES + ANNUAL_SERIES
    # FRED answers its ids; World Bank is asked only for what FRED lacks.
    fred.rows = [{"series_id": s} for s in MACRO_SERIES]
    worldbank.rows = [{"series_id": s} for s in ANNUAL_SERIES]
    chain = ChainSource([fred, worldbank])
    frame = chain.macro_observations(macro_series(chain), D, D)
    assert worldbank.asked == [list(ANNUAL_SERIES)]
    assert frame.groupby("source")["series_id"].count().to_dict() == {"fred": 6, "worldbank": 2}
