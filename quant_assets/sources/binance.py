"""Binance spot klines -> market_data.ohlcv_daily for crypto (public REST, no key needed).

`GET /api/v3/klines?symbol=BTCUSDT&interval=1d` returns 12-field arrays with prices as
strings: [open_time_ms, open, high, low, close, base_volume, close_time_ms, quote_volume,
trades, taker_buy_base, taker_buy_quote, ignore]. Bars are UTC days (the open time's date);
volume is in coins (base asset), and vwap = quote_volume / base_volume. The bar of the day
still in progress is dropped so a partial day never lands in the warehouse.

Errors: a bad symbol is HTTP 400 with `{"code": -1121, "msg": "Invalid symbol."}`; 429 and
418 (IP ban after ignoring 429s) carry Retry-After, honoured by the shared retry policy.
Klines cost request weight 2 against Binance's 6000/min; the shared limit counts weight.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import numpy as np
import pandas as pd

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.http import (
    AuthError,
    BadRequestError,
    Clock,
    NotFoundError,
    PayloadError,
    RateLimit,
    RateLimiter,
    RequestLog,
    Sleep,
    Throttled,
    Transient,
    VendorHTTP,
    _retry_after_seconds,
)
from quant_assets.sources.parsing import concat, ms_to_utc, numeric, table_frame
from quant_assets.sources.shapes import payload_shape

VENDOR = "binance"
OHLCV = "market_data.ohlcv_daily"
BASE_URL = "https://api.binance.com"
KLINES_PATH = "/api/v3/klines"
KLINE_FIELDS = (
    "open_time", "open", "high", "low", "close", "volume", "close_time",
    "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore",
)  # fmt: skip
MAX_LIMIT = 1000
KLINES_WEIGHT = 2
_DAY_MS = 86_400_000
# Binance error codes that mean "this symbol does not exist / is not trading".
_BAD_SYMBOL_CODES = {-1121, -1100}


@payload_shape(VENDOR)
def parse_klines(payload: Any, symbol: str, *, now_ms: int | None = None) -> pd.DataFrame:
    """ohlcv_daily rows from a klines array; unparseable fields become NaN for quarantine.

    A payload that is not a list (an error object) raises `SourceError`. Rows whose
    close_time is after `now_ms` are still open and are dropped.
    """
    if isinstance(payload, Mapping) and "code" in payload:
        raise _error_for(payload, symbol, status=None)
    if not isinstance(payload, list):
        raise PayloadError(
            VENDOR,
            f"klines payload is {type(payload).__name__}, expected a list",
            symbol=symbol,
            field="klines",
        )
    width = len(KLINE_FIELDS)
    rows = [
        (list(r) + [None] * width)[:width] if isinstance(r, list) else [None] * width
        for r in payload
    ]
    raw = pd.DataFrame(rows, columns=list(KLINE_FIELDS), dtype=object)
    if now_ms is not None:
        raw = raw[~(numeric(raw["close_time"]) > now_ms).to_numpy()]
    volume = numeric(raw["volume"])
    vwap = numeric(raw["quote_volume"]) / volume.where(volume > 0)
    return table_frame(
        OHLCV,
        {
            "symbol": [symbol] * len(raw),
            "date": [None if pd.isna(t) else t.date() for t in ms_to_utc(raw["open_time"])],
            **{c: numeric(raw[c]) for c in ("open", "high", "low", "close")},
            "volume": volume,
            "vwap": vwap.replace([np.inf, -np.inf], np.nan),
        },
        source=VENDOR,
    )


def _error_for(body: Mapping[str, Any], symbol: str | None, status: int | None) -> SourceError:
    code, msg = body.get("code"), body.get("msg", "")
    text = f"Binance error {code}: {msg}"
    if code in _BAD_SYMBOL_CODES:
        return NotFoundError(
            VENDOR, f"unknown symbol ({text})", symbol=symbol, field="symbol", status=status
        )
    if code in (-2014, -2015) or status in (401, 403):
        return AuthError(VENDOR, text, symbol=symbol, status=status)
    return BadRequestError(VENDOR, text, symbol=symbol, status=status)


class BinanceSource:
    """Binance as a `Source` for daily crypto bars.

    `symbol_map` maps canonical symbols to pairs (universe `vendor_symbols.binance`, BTC ->
    BTCUSDT); an unmapped symbol is tried as `<symbol>USDT`; one mapped to None is not on
    Binance: it is skipped and listed in `skipped`.
    """

    name = VENDOR

    def __init__(
        self,
        *,
        symbol_map: Mapping[str, str | None] | None = None,
        base_url: str = BASE_URL,
        client: httpx.Client | None = None,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.symbol_map = dict(symbol_map or {})
        self.http = VendorHTTP(
            VENDOR, base_url, rate_limit, client=client, clock=clock, sleep=sleep, log=log
        )
        self.now = now
        self.skipped: list[str] = []

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def pair(self, symbol: str) -> str | None:
        return self.symbol_map.get(symbol, f"{symbol}USDT")

    def klines(self, symbol: str, pair: str, start: dt.date, end: dt.date) -> list[list[Any]]:
        """Raw daily klines of `pair` for start..end, paging by MAX_LIMIT bars."""
        cursor = _ms(start)
        end_ms = _ms(end + dt.timedelta(days=1)) - 1
        out: list[list[Any]] = []
        while cursor <= end_ms:
            params = {
                "symbol": pair,
                "interval": "1d",
                "startTime": cursor,
                "endTime": end_ms,
                "limit": MAX_LIMIT,
            }
            page = self.http.call(self._get, params, symbol, symbol=symbol, units=KLINES_WEIGHT)
            if not isinstance(page, list):
                raise PayloadError(
                    VENDOR,
                    f"klines payload is {type(page).__name__}, expected a list",
                    symbol=symbol,
                    field="klines",
                )
            out.extend(page)
            if len(page) < MAX_LIMIT:
                break
            last_open = (
                pd.to_numeric(page[-1][0], errors="coerce")
                if isinstance(page[-1], list)
                else np.nan
            )
            if not np.isfinite(last_open):
                raise PayloadError(
                    VENDOR,
                    "cannot page past an unparseable open_time",
                    symbol=symbol,
                    field="open_time",
                )
            cursor = int(last_open) + _DAY_MS
        return out

    def _get(self, params: Mapping[str, Any], symbol: str) -> Any:
        """One klines request; maps 418/429 to a retryable Throttled and error JSON to ours."""
        resp = self.http.client.get(
            self.http.url(KLINES_PATH), params=dict(params), timeout=self.http.timeout_s
        )
        if resp.status_code in (418, 429):
            raise Throttled(
                f"HTTP {resp.status_code}: {resp.text[:200]}",
                retry_after=_retry_after_seconds(resp.headers),
                status=resp.status_code,
            )
        if resp.status_code >= 500:
            raise Transient(f"HTTP {resp.status_code}: {resp.text[:200]}", status=resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            raise PayloadError(
                VENDOR,
                f"response is not JSON (HTTP {resp.status_code}): {resp.text[:120]!r}",
                field="klines",
            ) from None
        if resp.status_code >= 400:
            raise _error_for(body if isinstance(body, Mapping) else {}, symbol, resp.status_code)
        return body

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Closed daily bars start..end (UTC dates) for every symbol Binance lists."""
        now_ms = int(self.now().timestamp() * 1000)
        frames = []
        for symbol in symbols:
            pair = self.pair(symbol)
            if pair is None:
                self.skipped.append(symbol)
                continue
            frames.append(
                parse_klines(self.klines(symbol, pair, start, end), symbol, now_ms=now_ms)
            )
        out = concat(frames, OHLCV)
        return out[out["date"].map(lambda d: d is None or start <= d <= end)].reset_index(drop=True)

    @payload_shape(VENDOR)
    def security_events(self, symbols, start, end):
        raise NotSupported(VENDOR, "Binance has no corporate events")

    @payload_shape(VENDOR)
    def economic_events(self, start, end):
        raise NotSupported(VENDOR, "Binance has no economic calendar")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start, end):
        raise NotSupported(VENDOR, "Binance has no geopolitical events")

    @payload_shape(VENDOR)
    def macro_observations(self, series_ids, start, end):
        raise NotSupported(VENDOR, "Binance has no macro series")

    @payload_shape(VENDOR)
    def news(self, symbols, start, end):
        raise NotSupported(VENDOR, "Binance news is not served")

    def close(self) -> None:
        self.http.close()


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
