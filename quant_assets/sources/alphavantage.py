"""Alpha Vantage: daily bars, earnings (actual vs estimate) and the earnings calendar.

Alpha Vantage reports trouble inside HTTP 200 bodies, so every payload passes `check_payload`:
"Error Message" is a bad symbol (or a missing key), "Note"/"Information" is throttling (or a
premium-only endpoint). A per-minute throttle is retried after a minute; the daily quota
(25 requests on the free tier) fails at once, since waiting would take hours.
`TIME_SERIES_DAILY_ADJUSTED` is premium, so the free default is `TIME_SERIES_DAILY`;
with `premium=True` the adjusted series also yields dividends and splits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pandas as pd

from quant_assets.sources.base import NotSupported
from quant_assets.sources.http import (
    AuthError,
    Clock,
    NotFoundError,
    PayloadError,
    RateLimit,
    RateLimitedError,
    RateLimiter,
    RequestLog,
    Sleep,
    Throttled,
    VendorHTTP,
)
from quant_assets.sources.parsing import concat, dates, empty_frame, numeric, table_frame
from quant_assets.sources.shapes import payload_shape, records

VENDOR = "alphavantage"
BASE_URL = "https://www.alphavantage.co"
OHLCV, EVENTS = "market_data.ohlcv_daily", "events.security_events"
_COMPACT_DAYS = 100  # compact output = the latest 100 sessions
_BURST_WORDS = ("per minute", "per second", "sparingly", "burst", "spreading out")


# --- error detection --------------------------------------------------------------------


def check_payload(payload: Any, *, symbol: str | None = None, function: str | None = None) -> None:
    """Raise for the errors Alpha Vantage returns inside a 200 body; return if the data is there."""
    if not isinstance(payload, Mapping):
        return
    if message := payload.get("Error Message"):
        if "apikey" in message.lower():
            raise AuthError(
                VENDOR, f"bad or missing API key for alphavantage: {message}", symbol=symbol
            )
        raise NotFoundError(VENDOR, f"bad symbol or call: {message}", symbol=symbol, field=function)
    note = payload.get("Note") or payload.get("Information")
    if not note:
        return
    text = note.lower()
    if "premium endpoint" in text or "premium feature" in text:
        raise AuthError(
            VENDOR, f"{function or 'this call'} needs a premium plan: {note}", symbol=symbol
        )
    if "demo" in text and "api key" in text:
        raise AuthError(
            VENDOR, f"bad or missing API key for alphavantage (demo key): {note}", symbol=symbol
        )
    if any(w in text for w in _BURST_WORDS):
        raise Throttled(f"alphavantage throttle: {note}", retry_after=60.0, status=200)
    if "per day" in text or "daily" in text:
        raise RateLimitedError(
            VENDOR, f"daily request quota used up: {note}", symbol=symbol, status=200
        )
    raise Throttled(f"alphavantage note: {note}", retry_after=60.0, status=200)


# --- parsers ----------------------------------------------------------------------------


def _series(payload: Mapping[str, Any], symbol: str) -> dict[str, Mapping[str, Any]]:
    key = next((k for k in payload if k.startswith("Time Series")), None)
    if key is None:
        check_payload(payload, symbol=symbol)
        raise PayloadError(
            VENDOR,
            "payload has no 'Time Series (Daily)'",
            symbol=symbol,
            field="Time Series (Daily)",
        )
    return payload[key] or {}


def _field(rows: list[Mapping[str, Any]], name: str) -> pd.Series:
    """Values of the field whose key ends with `name` ("1. open" -> "open"), as floats."""

    def pick(row: Mapping[str, Any]) -> Any:
        return next((v for k, v in row.items() if k.split(". ", 1)[-1] == name), None)

    return numeric([pick(r) for r in rows])


@payload_shape(VENDOR)
def parse_daily(payload: Mapping[str, Any], symbol: str) -> pd.DataFrame:
    """TIME_SERIES_DAILY or _ADJUSTED -> ohlcv_daily rows (close is the unadjusted close).

    Values arrive as strings ("189.4100"); unparseable ones become NaN. Dates are the
    exchange's (US/Eastern) session dates. Rows come back oldest first.
    """
    series = _series(payload, symbol)
    if not series:
        return empty_frame(OHLCV)
    days = sorted(series)
    rows = [series[d] for d in days]
    return table_frame(
        OHLCV,
        {
            "symbol": [symbol] * len(days),
            "date": dates(days),
            "open": _field(rows, "open"),
            "high": _field(rows, "high"),
            "low": _field(rows, "low"),
            "close": _field(rows, "close"),
            "volume": _field(rows, "volume"),
        },
        source=VENDOR,
    )


@payload_shape(VENDOR)
def parse_adjusted_events(payload: Mapping[str, Any], symbol: str) -> pd.DataFrame:
    """TIME_SERIES_DAILY_ADJUSTED -> dividend (amount != 0) and split (coefficient != 1) rows."""
    series = _series(payload, symbol)
    days = sorted(series)
    rows = [series[d] for d in days]
    day_dates = dates(days)
    dividend, split = _field(rows, "dividend amount"), _field(rows, "split coefficient")
    frames = []
    for kind, values, mask in (
        ("dividend", dividend, dividend.ne(0.0) & dividend.notna()),
        ("split", split, split.ne(1.0) & split.notna()),
    ):
        n = int(mask.sum())
        frames.append(
            table_frame(
                EVENTS,
                {
                    "symbol": [symbol] * n,
                    "event_date": day_dates[mask.to_numpy()],
                    "event_type": [kind] * n,
                    "value": values[mask],
                },
                source=VENDOR,
            )
        )
    return concat(frames, EVENTS)


@payload_shape(VENDOR)
def parse_earnings(payload: Mapping[str, Any], symbol: str) -> pd.DataFrame:
    """EARNINGS -> earnings rows on the report date: value = reported EPS, consensus = estimate.

    "None" strings (no estimate, or not yet reported) become NaN.
    """
    check_payload(payload, symbol=symbol, function="EARNINGS")
    quarters = records(payload, "quarterlyEarnings", VENDOR, symbol=symbol)
    if not quarters:
        return empty_frame(EVENTS)
    return table_frame(
        EVENTS,
        {
            "symbol": [symbol] * len(quarters),
            "event_date": dates([q.get("reportedDate") for q in quarters]),
            "event_type": ["earnings"] * len(quarters),
            "value": numeric([q.get("reportedEPS") for q in quarters]),
            "consensus": numeric([q.get("estimatedEPS") for q in quarters]),
            "details": [
                ";".join(
                    f"{k}={q[k]}"
                    for k in ("fiscalDateEnding", "reportTime", "surprisePercentage")
                    if q.get(k) not in (None, "", "None")
                )
                for q in quarters
            ],
        },
        source=VENDOR,
    )


@payload_shape(VENDOR)
def parse_earnings_calendar(text: str) -> pd.DataFrame:
    """EARNINGS_CALENDAR (CSV) -> upcoming earnings in security_events shape.

    `value` (the actual EPS) is NaN because nothing is reported yet: these rows are for
    showing what is scheduled, and the loader would quarantine them from the raw table.
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        check_payload(json.loads(stripped), function="EARNINGS_CALENDAR")
        return empty_frame(EVENTS)
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return empty_frame(EVENTS)
    return table_frame(
        EVENTS,
        {
            "symbol": [r.get("symbol") for r in rows],
            "event_date": dates([r.get("reportDate") for r in rows]),
            "event_type": ["earnings"] * len(rows),
            "value": numeric([None] * len(rows)),
            "consensus": numeric([r.get("estimate") for r in rows]),
            "details": [
                ";".join(
                    f"{k}={r[k]}"
                    for k in ("fiscalDateEnding", "currency", "timeOfTheDay")
                    if r.get(k)
                )
                + ";scheduled"
                for r in rows
            ],
        },
        source=VENDOR,
    )


# --- the source ---------------------------------------------------------------------------


class AlphaVantageSource:
    """Alpha Vantage as a `Source`: ohlcv and security_events (earnings; dividends/splits on premium).

    `symbol_map` maps canonical symbols to Alpha Vantage symbols (universe
    `vendor_symbols.alphavantage`); a symbol mapped to None is skipped (see `skipped`).
    """

    name = VENDOR

    def __init__(
        self,
        api_key: str,
        *,
        symbol_map: Mapping[str, str | None] | None = None,
        premium: bool = False,
        base_url: str = BASE_URL,
        client: httpx.Client | None = None,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        today: Any = None,
    ):
        if not api_key:
            raise AuthError(
                VENDOR, "bad or missing API key for alphavantage (set ALPHAVANTAGE_API_KEY)"
            )
        self._key = api_key
        self.symbol_map = dict(symbol_map or {})
        self.premium = premium
        self.http = VendorHTTP(
            VENDOR,
            base_url,
            rate_limit,
            client=client,
            clock=clock,
            sleep=sleep,
            log=log,
            secrets=(api_key,),
        )
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self.skipped: list[str] = []

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def _query(self, function: str, canonical: str | None, params: Mapping[str, Any]) -> Any:
        """GET /query; `canonical` names the symbol in errors and the log."""
        symbol = canonical
        params = {"function": function, **params, "apikey": self._key}

        def check(payload: Any) -> None:
            check_payload(payload, symbol=symbol, function=function)

        return self.http.get_json("/query", params, symbol=symbol, check=check)

    def _symbols(self, symbols: Sequence[str]) -> dict[str, str]:
        out = {}
        for s in symbols:
            vendor = self.symbol_map.get(s, s)
            if vendor is None:
                self.skipped.append(s)
            else:
                out[s] = vendor
        return out

    def _daily(self, vendor_symbol: str, symbol: str, start: dt.date) -> Mapping[str, Any]:
        # compact = latest 100 sessions; ask for full history only when start is older.
        sessions_back = len(pd.bdate_range(start, self._today()))
        size = "compact" if sessions_back <= _COMPACT_DAYS - 5 else "full"
        function = "TIME_SERIES_DAILY_ADJUSTED" if self.premium else "TIME_SERIES_DAILY"
        return self._query(function, symbol, {"symbol": vendor_symbol, "outputsize": size})

    # Source protocol

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        frames = []
        for symbol, vendor in self._symbols(symbols).items():
            frame = parse_daily(self._daily(vendor, symbol, start), symbol)
            frames.append(frame[frame["date"].map(lambda d: d is None or start <= d <= end)])
        return concat(frames, OHLCV)

    @payload_shape(VENDOR)
    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Earnings on their report date (with consensus); dividends and splits if premium."""
        frames = []
        for symbol, vendor in self._symbols(symbols).items():
            frames.append(
                parse_earnings(self._query("EARNINGS", symbol, {"symbol": vendor}), symbol)
            )
            if self.premium:
                frames.append(parse_adjusted_events(self._daily(vendor, symbol, start), symbol))
        out = concat(frames, EVENTS)
        return out[out["event_date"].map(lambda d: d is None or start <= d <= end)].reset_index(
            drop=True
        )

    @payload_shape(VENDOR)
    def upcoming_earnings(
        self, symbols: Sequence[str] | None = None, horizon: str = "3month"
    ) -> pd.DataFrame:
        """Scheduled earnings (EARNINGS_CALENDAR, CSV); value is NaN until reported."""
        wanted = self._symbols(symbols) if symbols else None
        vendor_symbol = next(iter(wanted.values())) if wanted and len(wanted) == 1 else None
        text = self.http.get_text(
            "/query",
            {
                "function": "EARNINGS_CALENDAR",
                "horizon": horizon,
                "symbol": vendor_symbol,
                "apikey": self._key,
            },
            symbol=vendor_symbol,
            check=lambda t: parse_earnings_calendar(t) if t.lstrip().startswith("{") else None,
        )
        frame = parse_earnings_calendar(text)
        if wanted is not None:
            to_canonical = {v: s for s, v in wanted.items()}
            frame = frame[frame["symbol"].isin(to_canonical)].assign(
                symbol=lambda f: f["symbol"].map(to_canonical)
            )
        return frame.reset_index(drop=True)

    @payload_shape(VENDOR)
    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "economic calendar not served; use fred")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no geopolitical events; use gdelt")

    @payload_shape(VENDOR)
    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        raise NotSupported(VENDOR, "macro series not served; use fred or worldbank")

    @payload_shape(VENDOR)
    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "news not served by this adapter; use polygon or newsapi")
