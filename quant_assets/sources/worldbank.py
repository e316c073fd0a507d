"""World Bank indicators (v2 JSON API): annual macro series for countries, no key needed.

The World Bank keeps no vintages: the API serves the values of its last database update,
whose day the payload states (`lastupdated`). So `realtime_start` is that day (the fetch
date when a payload lacks it) and `realtime_end` is open (9999-12-31); an earlier date
would be look-ahead. `macro_observations(start, end)` returns rows only when that day lies
in start..end: the partition holding the update loads it, older partitions stay empty,
as no earlier vintage can be known.
It uses the JSON API via `VendorHTTP` (not `wbgapi`) for the same retry policy and offline
tests as every other adapter.

Series ids are `INDICATOR:ISO3`, e.g. `NY.GDP.MKTP.CD:USA`, so several countries of one
indicator do not collide in the table's key; an id without a country uses the source's
default countries.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import pandas as pd

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.http import (
    Clock,
    NotFoundError,
    PayloadError,
    RateLimit,
    RateLimiter,
    RequestLog,
    Sleep,
    VendorHTTP,
)
from quant_assets.sources.parsing import OPEN_END, concat, empty_frame, numeric, table_frame
from quant_assets.sources.shapes import payload_shape

VENDOR = "worldbank"
BASE_URL = "https://api.worldbank.org/v2"
MACRO = "macro.observations"
_PERIOD = re.compile(r"^(\d{4})(?:([MQ])(\d{1,2}))?$")
_MAX_PAGES = 50


def period_start(period: str | None) -> dt.date | None:
    """ "2023" -> 2023-01-01, "2023Q2" -> 2023-04-01, "2023M07" -> 2023-07-01; else None."""
    m = _PERIOD.match(str(period or "").strip())
    if not m:
        return None
    year, kind, n = int(m[1]), m[2], int(m[3] or 0)
    try:
        if kind == "Q":
            return dt.date(year, 3 * n - 2, 1) if 1 <= n <= 4 else None
        if kind == "M":
            return dt.date(year, n, 1)
        return dt.date(year, 1, 1)
    except ValueError:
        return None


def check_payload(payload: Any, *, symbol: str | None = None) -> None:
    """The API reports a bad indicator or country as HTTP 200 `[{"message": [...]}]`."""
    if (
        isinstance(payload, list)
        and payload
        and isinstance(payload[0], Mapping)
        and "message" in payload[0]
    ):
        msgs = payload[0]["message"] or [{}]
        text = "; ".join(f"{m.get('key')}: {m.get('value')}" for m in msgs)
        raise NotFoundError(VENDOR, f"bad indicator or country: {text}", symbol=symbol)
    if not (isinstance(payload, list) and len(payload) >= 1 and isinstance(payload[0], Mapping)):
        raise PayloadError(VENDOR, f"unexpected payload shape: {str(payload)[:120]}", symbol=symbol)


def known_from(meta: Mapping[str, Any], fetched: dt.date) -> dt.date:
    """The first day the payload's values were public: its `lastupdated`, else `fetched`."""
    try:
        return min(dt.date.fromisoformat(str(meta.get("lastupdated"))[:10]), fetched)
    except ValueError:
        return fetched


@payload_shape(VENDOR)
def parse_indicator(payload: Sequence[Any], *, fetched: dt.date) -> pd.DataFrame:
    """`[meta, rows]` -> macro.observations rows known from the update day (`known_from`);
    null values stay NaN (nullable)."""
    rows = payload[1] if len(payload) > 1 and payload[1] else []
    if not rows:
        return empty_frame(MACRO)
    fetched = known_from(payload[0], fetched)
    series_ids = [
        f"{(r.get('indicator') or {}).get('id')}:{r.get('countryiso3code') or (r.get('country') or {}).get('id')}"
        for r in rows
    ]
    return table_frame(
        MACRO,
        {
            "series_id": series_ids,
            "date": pd.Series([period_start(r.get("date")) for r in rows], dtype=object),
            "realtime_start": [fetched] * len(rows),
            "realtime_end": [OPEN_END] * len(rows),
            "value": numeric([r.get("value") for r in rows]),
        },
        source=VENDOR,
    )


class WorldBankSource:
    """World Bank as a `Source`: macro_observations only (snapshot, see the module doc)."""

    name = VENDOR

    def __init__(
        self,
        api_key: str | None = None,  # none needed; accepted so the registry can treat sources alike
        *,
        countries: Sequence[str] = ("USA",),
        today: Callable[[], dt.date] | None = None,
        base_url: str = BASE_URL,
        client: httpx.Client | None = None,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.countries = tuple(countries)
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self.http = VendorHTTP(
            VENDOR, base_url, rate_limit, client=client, clock=clock, sleep=sleep, log=log
        )

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def _pages(self, indicator: str, countries: str, symbol: str) -> Iterator[list[Any]]:
        page = 1
        for _ in range(_MAX_PAGES):
            payload = self.http.get_json(
                f"/country/{countries}/indicator/{indicator}",
                {"format": "json", "per_page": 20000, "page": page},
                symbol=symbol,
                check=lambda p: check_payload(p, symbol=symbol),
            )
            yield payload
            if page >= int(payload[0].get("pages") or 1):
                return
            page += 1
        raise SourceError(VENDOR, f"more than {_MAX_PAGES} pages", symbol=symbol)

    @payload_shape(VENDOR)
    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """All periods of each indicator, known from the last update: empty unless that day
        (or today, for a payload without one) is in start..end."""
        fetched = self._today()
        if start > fetched:
            return empty_frame(MACRO)
        frames = []
        # Indicator codes are dotted (NY.GDP.MKTP.KD.ZG); other ids (FRED's CPIAUCSL) belong to
        # another vendor of the macro chain, so they are not asked for here.
        for series_id in (s for s in series_ids if "." in s.partition(":")[0]):
            indicator, _, country = series_id.partition(":")
            countries = country or ";".join(self.countries)
            for payload in self._pages(indicator, countries, series_id):
                frames.append(parse_indicator(payload, fetched=fetched))
        out = concat(frames, MACRO)
        keep = out["realtime_start"].map(lambda d: start <= d <= end)
        return out[keep].reset_index(drop=True)

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no market data")

    @payload_shape(VENDOR)
    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no security events")

    @payload_shape(VENDOR)
    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no release calendar; use fred")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no geopolitical events; use gdelt")

    @payload_shape(VENDOR)
    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no news")
