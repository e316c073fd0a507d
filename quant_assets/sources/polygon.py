"""Polygon.io (now Massive): daily bars, dividends, splits and ticker news.

Fetching goes through `VendorHTTP` (httpx) rather than `polygon-api-client`: the client's
`BadResponse` carries only the body (no status, no Retry-After), and its urllib3 `Retry`
sleeps on its own clock, so it could not honour one retry policy or be tested on a fake
clock. The parsers read the documented raw JSON, which is also what the client returns in
`raw=True` mode, so they work with either. The key goes in the `Authorization` header, never
in a URL. Bars are requested unadjusted (`adjusted=false`): the table stores bars as
delivered and dbt adjusts them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
import pandas as pd

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.http import (
    AuthError,
    Clock,
    PayloadError,
    RateLimit,
    RateLimiter,
    RequestLog,
    Sleep,
    VendorHTTP,
)
from quant_assets.sources.parsing import (
    article_id,
    concat,
    dates,
    empty_frame,
    local_dates,
    ms_to_utc,
    numeric,
    table_frame,
    utc_timestamps,
)
from quant_assets.sources.shapes import payload_shape, records

VENDOR = "polygon"
BASE_URL = "https://api.polygon.io"  # api.massive.com answers the same paths
EXCHANGE_TZ = "America/New_York"
_MAX_PAGES = 100

OHLCV, EVENTS, ARTICLES = "market_data.ohlcv_daily", "events.security_events", "news.articles"


def bar_timezone(ticker: str) -> str:
    """Crypto (X:) and forex (C:) bars start at UTC midnight; US listings at New York midnight."""
    return "UTC" if ticker.startswith(("X:", "C:")) else EXCHANGE_TZ


# --- parsers -----------------------------------------------------------------------------


@payload_shape(VENDOR)
def parse_aggs(payload: Mapping[str, Any], symbol: str, *, tz: str | None = None) -> pd.DataFrame:
    """`/v2/aggs/ticker/{T}/range/1/day/...` -> ohlcv_daily rows for canonical `symbol`.

    `t` is the bar's start in epoch ms; its date in the bar's timezone is the trading date.
    """
    results = records(payload, "results", VENDOR)
    if not results:
        return empty_frame(OHLCV)
    bars = pd.DataFrame(list(results))
    tz = tz or bar_timezone(str(payload.get("ticker", symbol)))
    return table_frame(
        OHLCV,
        {
            "symbol": [symbol] * len(bars),
            "date": local_dates(ms_to_utc(bars.get("t")), tz),
            **_ohlcv_values(bars),
        },
        source=VENDOR,
    )


@payload_shape(VENDOR)
def parse_grouped(
    payload: Mapping[str, Any], day: dt.date, symbols_by_ticker: Mapping[str, str]
) -> pd.DataFrame:
    """`/v2/aggs/grouped/locale/us/market/stocks/{date}` -> bars of the wanted tickers.

    `symbols_by_ticker` maps vendor ticker -> canonical symbol; other tickers are dropped.
    The date is the requested day (the grouped `t` is the session's close instant).
    """
    results = [r for r in records(payload, "results", VENDOR) if r.get("T") in symbols_by_ticker]
    if not results:
        return empty_frame(OHLCV)
    bars = pd.DataFrame(results)
    return table_frame(
        OHLCV,
        {
            "symbol": [symbols_by_ticker[t] for t in bars["T"]],
            "date": [day] * len(bars),
            **_ohlcv_values(bars),
        },
        source=VENDOR,
    )


def _ohlcv_values(bars: pd.DataFrame) -> dict[str, pd.Series]:
    def col(key: str) -> pd.Series:
        return numeric(bars[key]) if key in bars else numeric([None] * len(bars))

    return {
        "open": col("o"),
        "high": col("h"),
        "low": col("l"),
        "close": col("c"),
        "volume": col("v"),
        "vwap": col("vw"),
    }


@payload_shape(VENDOR)
def parse_dividends(payload: Mapping[str, Any], symbol: str) -> pd.DataFrame:
    """`/v3/reference/dividends` -> dividend rows (value = cash per share, on the ex-date).

    Two dividends with one ex-date (regular + special) are summed into one row, as the
    key (symbol, event_date, event_type) requires and a price adjustment needs.
    """
    results = records(payload, "results", VENDOR)
    if not results:
        return empty_frame(EVENTS)
    raw = pd.DataFrame(list(results))
    frame = pd.DataFrame(
        {
            "event_date": dates(raw.get("ex_dividend_date")),
            "value": numeric(raw.get("cash_amount")),
            "details": [
                _details(
                    type=r.get("dividend_type"),
                    currency=r.get("currency"),
                    pay_date=r.get("pay_date"),
                    frequency=r.get("frequency"),
                )
                for r in results
            ],
        }
    )
    grouped = frame.groupby("event_date", dropna=False, sort=True).agg(
        value=("value", _sum_or_nan), details=("details", " | ".join)
    )
    grouped = grouped.reset_index()
    return table_frame(
        EVENTS,
        {
            "symbol": [symbol] * len(grouped),
            "event_date": grouped["event_date"],
            "event_type": ["dividend"] * len(grouped),
            "value": grouped["value"],
            "details": grouped["details"],
        },
        source=VENDOR,
    )


@payload_shape(VENDOR)
def parse_splits(payload: Mapping[str, Any], symbol: str) -> pd.DataFrame:
    """`/v3/reference/splits` -> split rows, value = split_to / split_from (4-for-1 -> 4.0)."""
    results = records(payload, "results", VENDOR)
    if not results:
        return empty_frame(EVENTS)
    raw = pd.DataFrame(list(results))
    ratio = numeric(raw.get("split_to")) / numeric(raw.get("split_from"))
    return table_frame(
        EVENTS,
        {
            "symbol": [symbol] * len(raw),
            "event_date": dates(raw.get("execution_date")),
            "event_type": ["split"] * len(raw),
            "value": ratio.where(ratio.map(lambda x: pd.notna(x) and x not in (0.0, float("inf")))),
            "details": [
                _details(split_from=r.get("split_from"), split_to=r.get("split_to"))
                for r in results
            ],
        },
        source=VENDOR,
    )


@payload_shape(VENDOR)
def parse_news(payload: Mapping[str, Any], symbols_by_ticker: Mapping[str, str]) -> pd.DataFrame:
    """`/v2/reference/news` -> news.articles rows; `symbols` keeps only the wanted tickers."""
    results = records(payload, "results", VENDOR)
    if not results:
        return empty_frame(ARTICLES)
    published = utc_timestamps([r.get("published_utc") for r in results])
    urls = [r.get("article_url") or "" for r in results]
    return table_frame(
        ARTICLES,
        {
            "article_id": [article_id(u) if u else None for u in urls],
            "published_at": published,
            "published_date": [None if pd.isna(t) else t.date() for t in published],
            "title": [r.get("title") for r in results],
            "description": [r.get("description") for r in results],
            "url": [u or None for u in urls],
            "publisher": [(r.get("publisher") or {}).get("name") for r in results],
            "symbols": [
                ",".join(
                    dict.fromkeys(
                        symbols_by_ticker[t]
                        for t in r.get("tickers") or []
                        if t in symbols_by_ticker
                    )
                )
                or None
                for r in results
            ],
        },
        source=VENDOR,
    )


def _details(**items: Any) -> str:
    return ";".join(f"{k}={v}" for k, v in items.items() if v is not None and v != "")


# --- the source ---------------------------------------------------------------------------


def _status_hook(status: int, body: str, symbol: str | None) -> SourceError | None:
    if status == 403 and "NOT_AUTHORIZED" in body:
        return AuthError(
            VENDOR,
            f"polygon plan does not include this data: {body[:160]}",
            symbol=symbol,
            status=403,
        )
    return None


class PolygonSource:
    """Polygon as a `Source`: ohlcv, security_events (dividends, splits) and news.

    `symbol_map` maps canonical symbols to Polygon tickers (universe `vendor_symbols.polygon`,
    e.g. BTC-USD -> X:BTCUSD); unmapped symbols are used as they are. A symbol mapped to None
    is not on Polygon: it is skipped and listed in `skipped`.
    """

    name = VENDOR

    def __init__(
        self,
        api_key: str,
        *,
        symbol_map: Mapping[str, str | None] | None = None,
        grouped_daily: bool = True,
        base_url: str = BASE_URL,
        client: httpx.Client | None = None,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        if not api_key:
            raise AuthError(VENDOR, "bad or missing API key for polygon (set POLYGON_API_KEY)")
        self.symbol_map = dict(symbol_map or {})
        self.http = VendorHTTP(
            VENDOR,
            base_url,
            rate_limit,
            client=client,
            clock=clock,
            sleep=sleep,
            log=log,
            headers={"Authorization": f"Bearer {api_key}"},
            secrets=(api_key,),
            status_hook=_status_hook,
        )
        self.grouped_daily = grouped_daily
        self.skipped: list[str] = []

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def ticker(self, symbol: str) -> str | None:
        return self.symbol_map.get(symbol, symbol)

    def _tickers(self, symbols: Sequence[str]) -> dict[str, str]:
        """vendor ticker -> canonical symbol for the symbols Polygon carries."""
        out: dict[str, str] = {}
        for s in symbols:
            t = self.ticker(s)
            if t is None:
                self.skipped.append(s)
            else:
                out[t] = s
        return out

    # Source protocol

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily bars; US stocks come from grouped-daily when that takes fewer calls."""
        tickers = self._tickers(symbols)
        listed = {t: s for t, s in tickers.items() if bar_timezone(t) == EXCHANGE_TZ}
        weekdays = [d.date() for d in pd.bdate_range(start, end)]
        frames: list[pd.DataFrame] = []
        per_ticker = dict(tickers)
        if self.grouped_daily and listed and len(weekdays) < len(listed):
            for day in weekdays:
                payload = self.http.get_json(
                    f"/v2/aggs/grouped/locale/us/market/stocks/{day.isoformat()}",
                    {"adjusted": "false"},
                )
                frames.append(parse_grouped(payload, day, listed))
            per_ticker = {t: s for t, s in tickers.items() if t not in listed}
        for ticker, symbol in per_ticker.items():
            path = f"/v2/aggs/ticker/{ticker}/range/1/day/{start.isoformat()}/{end.isoformat()}"
            params = {"adjusted": "false", "sort": "asc", "limit": 50000}
            for payload in self._pages(path, params, symbol):
                frames.append(parse_aggs(payload, symbol, tz=bar_timezone(ticker)))
        out = concat(frames, OHLCV)
        return out[out["date"].map(lambda d: d is None or start <= d <= end)].reset_index(drop=True)

    @payload_shape(VENDOR)
    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Dividends (on ex-date) and splits (on execution date); Polygon has no free earnings."""
        frames = []
        for ticker, symbol in self._tickers(symbols).items():
            if bar_timezone(ticker) != EXCHANGE_TZ:
                continue  # crypto and forex have no corporate actions
            div_params = {
                "ticker": ticker,
                "ex_dividend_date.gte": start.isoformat(),
                "ex_dividend_date.lte": end.isoformat(),
                "limit": 1000,
            }
            divs = [
                parse_dividends(p, symbol)
                for p in self._pages("/v3/reference/dividends", div_params, symbol)
            ]
            # Sum across pages too: one ex-date may straddle a page boundary.
            frames.append(_resum_dividends(concat(divs, EVENTS)))
            split_params = {
                "ticker": ticker,
                "execution_date.gte": start.isoformat(),
                "execution_date.lte": end.isoformat(),
                "limit": 1000,
            }
            frames += [
                parse_splits(p, symbol)
                for p in self._pages("/v3/reference/splits", split_params, symbol)
            ]
        return concat(frames, EVENTS)

    @payload_shape(VENDOR)
    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Ticker news published start..end (UTC dates); an article on several tickers is one row."""
        tickers = self._tickers(symbols)
        frames = []
        for ticker, symbol in tickers.items():
            params = {
                "ticker": ticker,
                "published_utc.gte": f"{start.isoformat()}T00:00:00Z",
                "published_utc.lte": f"{end.isoformat()}T23:59:59Z",
                "order": "asc",
                "sort": "published_utc",
                "limit": 1000,
            }
            frames += [
                parse_news(p, tickers) for p in self._pages("/v2/reference/news", params, symbol)
            ]
        out = concat(frames, ARTICLES)
        keyed = out[out["article_id"].notna()]
        if keyed.empty or not keyed["article_id"].duplicated().any():
            return out
        merged = keyed.groupby("article_id", sort=False).agg(
            {c: "first" for c in out.columns if c not in ("article_id", "symbols")}
            | {"symbols": _union_symbols}
        )
        merged = merged.reset_index()[out.columns.tolist()]
        # Rows without a URL have no key: keep each one for the loader to quarantine.
        unkeyed = out[out["article_id"].isna()]
        return merged if unkeyed.empty else pd.concat([merged, unkeyed], ignore_index=True)

    @payload_shape(VENDOR)
    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no economic calendar; use fred")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no geopolitical events; use gdelt")

    @payload_shape(VENDOR)
    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no macro series; use fred or worldbank")

    def _pages(self, path: str, params: dict[str, Any], symbol: str) -> Iterator[Mapping[str, Any]]:
        """Follow `next_url` (it carries the cursor; the key stays in the header)."""
        url: str | None = path
        for _ in range(_MAX_PAGES):
            payload = self.http.get_json(url, params, symbol=symbol)
            if not isinstance(payload, Mapping):
                raise PayloadError(
                    VENDOR, f"expected a JSON object, got {type(payload).__name__}", symbol=symbol
                )
            yield payload
            url, params = payload.get("next_url"), {}
            if not url:
                return
        raise SourceError(VENDOR, f"more than {_MAX_PAGES} pages for {path}", symbol=symbol)


def _sum_or_nan(values: pd.Series) -> float:
    """A sum that stays NaN if any part is NaN, so a bad amount is quarantined, not dropped."""
    return values.sum(min_count=len(values))


def _union_symbols(values: pd.Series) -> str | None:
    return ",".join(dict.fromkeys(x for v in values.dropna() for x in v.split(","))) or None


def _resum_dividends(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or not frame.duplicated(["symbol", "event_date"]).any():
        return frame
    grouped = frame.groupby(["symbol", "event_date"], sort=True, as_index=False, dropna=False).agg(
        {c: "first" for c in frame.columns if c not in ("symbol", "event_date", "value", "details")}
        | {"value": _sum_or_nan, "details": " | ".join}
    )
    return grouped[frame.columns.tolist()]
