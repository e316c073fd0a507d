"""Interactive Brokers historical daily bars -> market_data.ohlcv_daily.

IBKRSource takes any object with an `ib_async.IB`-like `reqHistoricalData(contract,
endDateTime, durationStr, barSizeSetting, whatToShow, useRTH, formatDate)` returning bars
with `date, open, high, low, close, volume, average`; `ib_async` itself (optional extra
`ibkr`) is imported only by `IBKRSource.connect` and the default contract factory, so the
rest of the platform and the tests run without it.

IB's pacing rules are enforced client-side, because a violation costs a pacing penalty
rather than a clean error: at most 60 historical requests in 10 minutes, no identical
request within 15 seconds, and no more than 5 requests for one contract within 2 seconds.
On error `reqHistoricalData` returns an empty list (the reason goes to IB's error event),
so an empty answer means "no bars", not a failure. Volume IB reports as -1 (no volume for
the instrument) becomes NaN so the bar is quarantined, not stored with a fake volume.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.http import (
    Clock,
    PayloadError,
    RateLimit,
    RateLimiter,
    RequestLog,
    RequestRecord,
    Sleep,
)
from quant_assets.sources.parsing import concat, empty_frame, numeric, table_frame
from quant_assets.sources.shapes import payload_shape

VENDOR = "ibkr"
OHLCV = "market_data.ohlcv_daily"
PACING = (RateLimit(60, 600),)
PER_CONTRACT = RateLimit(5, 2)
IDENTICAL_GAP_S = 15.0
_INSTALL_HINT = "ib_async is not installed: install the optional extra (uv sync --extra ibkr, or pip install 'quant-platform[ibkr]')"


def _ib_async():
    try:
        import ib_async
    except ImportError as exc:
        raise SourceError(VENDOR, _INSTALL_HINT) from exc
    return ib_async


def default_contract(symbol: str) -> Any:
    """A SMART-routed USD stock/ETF contract (needs ib_async)."""
    return _ib_async().Stock(symbol, "SMART", "USD")


_BAR_FIELDS = ("date", "open", "high", "low", "close")


@payload_shape(VENDOR)
def parse_bars(bars: Iterable[Any], symbol: str) -> pd.DataFrame:
    """ib_async BarData (or dicts with the same fields) -> ohlcv_daily rows.

    Daily bars carry a `datetime.date` (formatDate=1) or a 'YYYYMMDD' string; anything
    else becomes a null date. `average` (IB's WAP) is the vwap when positive.
    """
    rows = [
        b
        if isinstance(b, dict)
        else {
            k: getattr(b, k, None)
            for k in ("date", "open", "high", "low", "close", "volume", "average")
            if hasattr(b, k)
        }
        for b in bars
    ]
    for row in rows:
        missing = [k for k in _BAR_FIELDS if k not in row]
        if missing:
            raise PayloadError(
                VENDOR,
                f"a bar lacks {', '.join(missing)}: {str(row)[:80]}",
                symbol=symbol,
                field=missing[0],
            )
    if not rows:
        return empty_frame(OHLCV)
    frame = pd.DataFrame(rows)
    volume = numeric(frame.get("volume"))
    average = numeric(frame.get("average")) if "average" in frame else numeric([None] * len(frame))
    return table_frame(
        OHLCV,
        {
            "symbol": [symbol] * len(frame),
            "date": [_bar_date(v) for v in frame["date"]],
            **{c: numeric(frame.get(c)) for c in ("open", "high", "low", "close")},
            "volume": volume.where(volume >= 0),
            "vwap": average.where(average > 0),
        },
        source=VENDOR,
    )


def _bar_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        parsed = pd.to_datetime(
            value.strip()[:10].replace("-", ""), format="%Y%m%d", errors="coerce"
        )
        return None if pd.isna(parsed) else parsed.date()
    return None


def duration_str(start: dt.date, end: dt.date) -> str:
    """IB duration covering start..end: 'N D' up to a year, whole years beyond."""
    days = (end - start).days + 1
    if days <= 0:
        raise ValueError(f"start {start} is after end {end}")
    return f"{days} D" if days <= 365 else f"{math.ceil(days / 365.25)} Y"


class IBKRSource:
    """IB as a `Source` for daily bars, paced by IB's historical-data rules."""

    name = VENDOR

    def __init__(
        self,
        ib_client: Any,
        *,
        contract_factory: Callable[[str], Any] = default_contract,
        what_to_show: str = "TRADES",
        use_rth: bool = True,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.ib = ib_client
        self.contract_factory = contract_factory
        self.what_to_show, self.use_rth = what_to_show, use_rth
        self.log = log if log is not None else RequestLog()
        limits = PACING if rate_limit is None else rate_limit
        self.limiter = (
            limits
            if isinstance(limits, RateLimiter)
            else RateLimiter(limits, clock=clock, sleep=sleep)
        )
        self.clock, self.sleep = clock, sleep
        self._per_contract: dict[str, RateLimiter] = {}
        self._last_identical: dict[tuple, float] = {}

    @classmethod
    def connect(
        cls, host: str = "127.0.0.1", port: int = 7497, client_id: int = 1, **kwargs: Any
    ) -> IBKRSource:
        """Connect to TWS / IB Gateway with ib_async (7497 is TWS paper trading)."""
        ib = _ib_async().IB()
        try:
            ib.connect(host, port, clientId=client_id, readonly=True)
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise SourceError(VENDOR, f"cannot reach TWS/Gateway at {host}:{port}: {exc}") from exc
        return cls(ib, **kwargs)

    def _pace(self, symbol: str, key: tuple) -> None:
        last = self._last_identical.get(key)
        if last is not None:
            wait = last + IDENTICAL_GAP_S - self.clock()
            if wait > 0:
                self.sleep(wait)
        limiter = self._per_contract.setdefault(
            symbol, RateLimiter(PER_CONTRACT, clock=self.clock, sleep=self.sleep)
        )
        limiter.acquire()
        self.limiter.acquire()
        self._last_identical[key] = self.clock()

    def bars(self, symbol: str, start: dt.date, end: dt.date) -> list[Any]:
        """Raw daily bars ending on `end` and reaching back to `start`."""
        request = {
            "endDateTime": f"{end:%Y%m%d}-23:59:59",
            "durationStr": duration_str(start, end),
            "barSizeSetting": "1 day",
            "whatToShow": self.what_to_show,
            "useRTH": self.use_rth,
            "formatDate": 1,
        }
        key = (symbol, *request.values())
        self._pace(symbol, key)
        started, error = self.clock(), None
        try:
            return list(self.ib.reqHistoricalData(self.contract_factory(symbol), **request) or [])
        except (ConnectionError, OSError, TimeoutError) as exc:
            error = exc
            raise SourceError(
                VENDOR, f"historical data request failed: {exc}", symbol=symbol
            ) from exc
        finally:
            self.log.add(
                RequestRecord(
                    vendor=VENDOR,
                    url=f"reqHistoricalData:{symbol}:{request['durationStr']}:{request['endDateTime']}",
                    status=None,
                    attempts=1,
                    elapsed_s=self.clock() - started,
                    symbol=symbol,
                    error=type(error).__name__ if error is not None else None,
                )
            )

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        frames = [parse_bars(self.bars(s, start, end), s) for s in symbols]
        out = concat(frames, OHLCV)
        return out[out["date"].map(lambda d: d is None or start <= d <= end)].reset_index(drop=True)

    @payload_shape(VENDOR)
    def security_events(self, symbols, start, end):
        raise NotSupported(VENDOR, "IB corporate events are not served; use polygon")

    @payload_shape(VENDOR)
    def economic_events(self, start, end):
        raise NotSupported(VENDOR, "IB has no economic calendar")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start, end):
        raise NotSupported(VENDOR, "IB has no geopolitical events")

    @payload_shape(VENDOR)
    def macro_observations(self, series_ids, start, end):
        raise NotSupported(VENDOR, "IB has no macro series")

    @payload_shape(VENDOR)
    def news(self, symbols, start, end):
        raise NotSupported(VENDOR, "IB news needs a news subscription; not served")
