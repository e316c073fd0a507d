"""CoinGecko -> market_data.ohlcv_daily for crypto, through `pycoingecko`.

Two endpoints make one daily bar, because neither alone has OHLC *and* volume:
- `/coins/{id}/ohlc` gives candles `[[close_ms, o, h, l, c]]` with no volume. Candle width
  follows `days`: 1-2 days -> 30 min, 3-30 -> 4 h, 31+ -> 4 days (too coarse for daily bars).
  So the demo/free plan can build daily bars only for the last 30 days (six 4-hour candles
  per UTC day, aggregated here); a paid plan asks `/ohlc/range` with `interval=daily`.
  Timestamps are candle close times, so a candle closing at 00:00 UTC belongs to the day before.
- `/coins/{id}/market_chart/range` gives `prices / market_caps / total_volumes [[ms, v]]`.
  `total_volumes` is a rolling 24 h volume in the quote currency; the point nearest the
  day's end (within an hour) is the day's volume, converted to coins by dividing by the
  day's mean price (o+h+l+c)/4, an approximation stated here because CoinGecko has no
  coin-denominated daily volume.
Only complete UTC days are emitted; a day whose candles do not cover 24 h is dropped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

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
from quant_assets.sources.parsing import concat, empty_frame, table_frame
from quant_assets.sources.shapes import payload_shape

VENDOR = "coingecko"
OHLCV = "market_data.ohlcv_daily"
OHLC_DAYS = (1, 7, 14, 30, 90, 180, 365)
FREE_MAX_DAYS = 30  # largest `days` whose candles (4 h) still fit inside a UTC day
_DAY = pd.Timedelta(days=1)
_VOLUME_TOLERANCE = pd.Timedelta(hours=1)


@payload_shape(VENDOR)
def parse_market_chart(payload: Any, *, symbol: str | None = None) -> pd.DataFrame:
    """`prices / market_caps / total_volumes [[ms, v]]` -> one frame indexed by UTC time."""
    if not isinstance(payload, Mapping) or "prices" not in payload:
        raise PayloadError(
            VENDOR, "market_chart payload lacks 'prices'", symbol=symbol, field="prices"
        )
    series = {}
    for key, col in (
        ("prices", "price"),
        ("market_caps", "market_cap"),
        ("total_volumes", "total_volume"),
    ):
        pairs = _pairs(payload.get(key) or [], 2)
        ts = pd.to_datetime(pd.to_numeric(pairs[0], errors="coerce"), unit="ms", utc=True)
        series[col] = pd.Series(
            pd.to_numeric(pairs[1], errors="coerce").to_numpy(dtype="float64"), index=ts
        )
    frames = [s[~s.index.isna()].groupby(level=0).last().rename(name) for name, s in series.items()]
    out = pd.concat(frames, axis=1).sort_index()
    out.index.name = "time"
    return out


@payload_shape(VENDOR)
def parse_ohlc(payload: Any, *, symbol: str | None = None) -> pd.DataFrame:
    """`[[close_ms, o, h, l, c]]` candles -> frame with UTC `close_time` and float prices."""
    if not isinstance(payload, list):
        raise PayloadError(
            VENDOR,
            f"ohlc payload is {type(payload).__name__}, expected a list",
            symbol=symbol,
            field="ohlc",
        )
    pairs = _pairs(payload, 5)
    out = pd.DataFrame(
        {
            "close_time": pd.to_datetime(
                pd.to_numeric(pairs[0], errors="coerce"), unit="ms", utc=True
            )
        }
    )
    for i, col in enumerate(("open", "high", "low", "close"), start=1):
        out[col] = pd.to_numeric(pairs[i], errors="coerce").astype("float64")
    return out


def daily_bars(
    ohlc: pd.DataFrame, chart: pd.DataFrame, symbol: str, *, source: str = VENDOR
) -> pd.DataFrame:
    """ohlcv_daily rows from parsed candles plus market_chart volumes (see module doc).

    A NaN inside any candle of a day makes that day's field NaN (not skipped), so the
    loader quarantines the bar instead of storing a high/low computed from part of the day.
    """
    candles = ohlc.dropna(subset=["close_time"]).sort_values("close_time")
    if candles.empty:
        return empty_frame(OHLCV)
    width = candles["close_time"].diff().median()
    if pd.isna(width):
        width = _DAY
    if width > _DAY:
        raise PayloadError(
            VENDOR,
            f"candles are {width} wide; daily bars need days<={FREE_MAX_DAYS} or a paid plan's interval=daily",
            symbol=symbol,
            field="ohlc",
        )
    day = (candles["close_time"] - pd.Timedelta(milliseconds=1)).dt.floor("D")
    grouped = candles.groupby(day, sort=True)
    bars = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        n=("close", "size"),
    )
    # first/max/min/last skip NaN: put it back where any candle of the day had one.
    prices = ["open", "high", "low", "close"]
    bars[prices] = bars[prices].mask(candles[prices].isna().groupby(day).any())
    bars = bars[bars["n"] * width >= _DAY]  # complete days only

    vols = chart["total_volume"].dropna() if "total_volume" in chart else pd.Series(dtype="float64")
    day_end = pd.DataFrame({"day_end": bars.index + _DAY}, index=bars.index)
    if len(vols):
        matched = pd.merge_asof(
            day_end.sort_values("day_end"),
            vols.rename("quote_volume").rename_axis("day_end").reset_index().sort_values("day_end"),
            on="day_end",
            direction="nearest",
            tolerance=_VOLUME_TOLERANCE,
        )
        quote_volume = matched["quote_volume"].to_numpy()
    else:
        quote_volume = np.full(len(bars), np.nan)
    typical = bars[["open", "high", "low", "close"]].mean(axis=1, skipna=False).to_numpy()
    return table_frame(
        OHLCV,
        {
            "symbol": [symbol] * len(bars),
            "date": list(bars.index.date),
            **{c: bars[c].astype("float64") for c in ("open", "high", "low", "close")},
            "volume": pd.Series(quote_volume / typical, dtype="float64"),
        },
        source=source,
    )


def map_error(exc: BaseException, symbol: str | None = None) -> BaseException | None:
    """pycoingecko raises ValueError(json_body) chained to the requests HTTPError: map both."""
    http_err = exc.__context__ if isinstance(exc, ValueError) else exc
    resp = getattr(http_err, "response", None)
    status = getattr(resp, "status_code", None)
    body = exc.args[0] if isinstance(exc, ValueError) and exc.args else None
    # Not str(exc): a requests HTTPError's text carries the URL, and with it the key.
    message = _error_message(body) or (f"HTTP {status}" if status else type(exc).__name__)
    if status == 429 or "rate limit" in message.lower():
        retry_after = _retry_after_seconds(resp.headers) if resp is not None else None
        return Throttled(f"CoinGecko: {message}", retry_after=retry_after)
    if status in (401, 403) or "api key" in message.lower():
        return AuthError(
            VENDOR, f"bad or missing CoinGecko key: {message}", symbol=symbol, status=status
        )
    if status == 404 or "not found" in message.lower():
        return NotFoundError(
            VENDOR, f"unknown coin id: {message}", symbol=symbol, status=status, field="id"
        )
    if status is not None and status >= 500:
        return Transient(f"CoinGecko HTTP {status}: {message}", status=status)
    if status is not None and status >= 400:
        return BadRequestError(VENDOR, f"HTTP {status}: {message}", symbol=symbol, status=status)
    return None


def _error_message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        if isinstance(body.get("status"), Mapping):
            return str(body["status"].get("error_message"))
        if "error" in body:
            err = body["error"]
            return (
                str(err.get("status", {}).get("error_message", err))
                if isinstance(err, Mapping)
                else str(err)
            )
    return None


class CoinGeckoSource:
    """CoinGecko as a `Source` for daily crypto bars, wrapping a `pycoingecko.CoinGeckoAPI`.

    `id_map` maps canonical symbols to coin ids (universe `vendor_symbols.coingecko`, BTC ->
    bitcoin); a symbol mapped to None is skipped and listed in `skipped`.
    """

    name = VENDOR

    def __init__(
        self,
        client: Any,
        *,
        id_map: Mapping[str, str | None] | None = None,
        plan: Literal["demo", "paid"] = "demo",
        vs_currency: str = "usd",
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
    ):
        self.client = client
        self.id_map = dict(id_map or {})
        base_url = getattr(client, "api_base_url", "https://api.coingecko.com/api/v3/")
        # pycoingecko puts the key in the query string: scrub it from every error message.
        secrets = tuple(str(v) for v in (getattr(client, "extra_params", None) or {}).values())
        self.http = VendorHTTP(
            VENDOR, base_url, rate_limit, clock=clock, sleep=sleep, log=log, secrets=secrets
        )
        self.plan, self.vs_currency, self.today = plan, vs_currency, today
        self.skipped: list[str] = []

    @classmethod
    def from_key(
        cls,
        api_key: str | None = None,
        *,
        plan: Literal["demo", "paid"] = "demo",
        base_url: str | None = None,
        **kwargs: Any,
    ) -> CoinGeckoSource:
        """Build the pycoingecko client (its own urllib3 retries off: ours apply);
        `base_url` replaces the plan's public API root (a proxy or mirror)."""
        from pycoingecko import CoinGeckoAPI

        key = api_key or ""
        client = CoinGeckoAPI(
            api_key=key if plan == "paid" else "",
            demo_api_key=key if plan == "demo" else "",
            retries=0,
        )
        if base_url:
            client.api_base_url = base_url.rstrip("/") + "/"  # pycoingecko appends paths
        return cls(client, plan=plan, **kwargs)

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def coin_id(self, symbol: str) -> str | None:
        try:
            return self.id_map[symbol]
        except KeyError:
            raise NotFoundError(
                VENDOR,
                "no CoinGecko id mapped for symbol",
                symbol=symbol,
                field="vendor_symbols.coingecko",
            ) from None

    def _call(self, fn, symbol: str, **kwargs) -> Any:
        return self.http.call(
            fn, symbol=symbol, error_map=partial(map_error, symbol=symbol), **kwargs
        )

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        frames = []
        for symbol in symbols:
            cid = self.coin_id(symbol)
            if cid is None:
                self.skipped.append(symbol)
                continue
            lo = int(pd.Timestamp(start, tz="UTC").timestamp())
            hi = int((pd.Timestamp(end, tz="UTC") + _DAY + _VOLUME_TOLERANCE).timestamp())
            if self.plan == "paid":
                candles = self._call(
                    self.client.get_coin_ohlc_by_id_range,
                    symbol,
                    id=cid,
                    vs_currency=self.vs_currency,
                    from_timestamp=lo,
                    to_timestamp=hi,
                    interval="daily",
                )
            else:
                days = self._days_for(start, symbol)
                candles = self._call(
                    self.client.get_coin_ohlc_by_id,
                    symbol,
                    id=cid,
                    vs_currency=self.vs_currency,
                    days=days,
                )
            chart = self._call(
                self.client.get_coin_market_chart_range_by_id,
                symbol,
                id=cid,
                vs_currency=self.vs_currency,
                from_timestamp=lo,
                to_timestamp=hi,
            )
            bars = daily_bars(
                parse_ohlc(candles, symbol=symbol), parse_market_chart(chart, symbol=symbol), symbol
            )
            frames.append(bars[bars["date"].between(start, end)])
        return concat(frames, OHLCV)

    def _days_for(self, start: dt.date, symbol: str) -> int:
        """Smallest allowed `days` reaching back to `start`; beyond 30 the candles are too coarse."""
        need = (self.today() - start).days + 1
        if need > FREE_MAX_DAYS:
            raise SourceError(
                VENDOR,
                f"daily OHLC on the demo plan reaches back {FREE_MAX_DAYS} days, {start} is {need} days ago; use plan='paid' or another crypto source (binance)",
                symbol=symbol,
                field="days",
            )
        return next(d for d in OHLC_DAYS if d >= need)

    @payload_shape(VENDOR)
    def security_events(self, symbols, start, end):
        raise NotSupported(VENDOR, "CoinGecko has no corporate events")

    @payload_shape(VENDOR)
    def economic_events(self, start, end):
        raise NotSupported(VENDOR, "CoinGecko has no economic calendar")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start, end):
        raise NotSupported(VENDOR, "CoinGecko has no geopolitical events")

    @payload_shape(VENDOR)
    def macro_observations(self, series_ids, start, end):
        raise NotSupported(VENDOR, "CoinGecko has no macro series")

    @payload_shape(VENDOR)
    def news(self, symbols, start, end):
        raise NotSupported(VENDOR, "CoinGecko news is not served")


def _pairs(rows: Any, width: int) -> list[pd.Series]:
    """Columns of a list of fixed-width arrays; short or non-list rows become None cells."""
    fixed = [
        (list(r) + [None] * width)[:width] if isinstance(r, list | tuple) else [None] * width
        for r in rows
    ]
    frame = pd.DataFrame(fixed, columns=range(width), dtype=object)
    return [frame[i] for i in range(width)]
