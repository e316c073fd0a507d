"""FRED and ALFRED: macro series with every vintage, and the release calendar.

ALFRED is FRED's API queried over a real-time period, so one adapter serves both. It uses
the JSON API through `VendorHTTP` rather than `fredapi`: fredapi reads XML over urllib and
turns every HTTP error into a bare `ValueError` (no status, no Retry-After), so our retry
policy could not tell a bad key from throttling, and httpx's MockTransport tests it offline.

Vintages without look-ahead: FRED clips `realtime_start` to the requested start, so a value
published long ago would look new. We ask from the day before `start` and keep only rows
whose `realtime_start` is in start..end: a clipped row carries the day before and drops out,
and every kept row's `realtime_start` is the true first day the value was known. Asking up
to 9999-12-31 keeps `realtime_end` true too (not clipped to `end`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.expectations import MODEL_PRINTS, Headline, fill_expectations
from quant_assets.sources.http import (
    AuthError,
    Clock,
    NotFoundError,
    RateLimit,
    RateLimiter,
    RequestLog,
    Sleep,
    VendorHTTP,
)
from quant_assets.sources.parsing import OPEN_END, concat, dates, empty_frame, numeric, table_frame
from quant_assets.sources.shapes import payload_shape, records

VENDOR = "fred"
BASE_URL = "https://api.stlouisfed.org/fred"
MACRO, ECON = "macro.observations", "events.economic_events"
_EARLIEST = dt.date(1776, 7, 4)  # FRED's earliest real-time date
_MAX_PAGES = 200


@dataclass(frozen=True)
class Release:
    """A FRED release we turn into economic_events rows; FRED gives dates, not times."""

    release_id: int
    event_code: str
    name: str
    local_time: dt.time = dt.time(8, 30)  # BLS/BEA/Census headline releases: 8:30 ET
    tz: str = "America/New_York"
    headline: Headline | None = None  # the series the expectation model reads (None: no model)


RELEASES: dict[int, Release] = {
    r.release_id: r
    for r in (
        Release(10, "CPI", "Consumer Price Index", headline=Headline("CPIAUCSL", "pct", "% m/m")),
        Release(
            50, "NFP", "Employment Situation", headline=Headline("PAYEMS", "diff", "thousands m/m")
        ),
        Release(53, "GDP", "Gross Domestic Product", headline=Headline("GDP", "pct", "% q/q")),
        Release(
            54, "PCE", "Personal Income and Outlays", headline=Headline("PCEPI", "pct", "% m/m")
        ),
        Release(
            9,
            "RETAIL_SALES",
            "Advance Monthly Sales for Retail and Food Services",
            headline=Headline("RSAFS", "pct", "% m/m"),
        ),
    )
}


# --- parsers -----------------------------------------------------------------------------


@payload_shape(VENDOR)
def parse_observations(payload: Mapping[str, Any], series_id: str) -> pd.DataFrame:
    """`series/observations` -> macro.observations rows, one per (date, vintage period).

    Values are strings; "." (FRED's missing) and anything unparseable become NaN, which
    the nullable `value` column accepts.
    """
    obs = records(payload, "observations", VENDOR, symbol=series_id)
    if not obs:
        return empty_frame(MACRO)
    return table_frame(
        MACRO,
        {
            "series_id": [series_id] * len(obs),
            "date": dates([o.get("date") for o in obs]),
            "realtime_start": dates([o.get("realtime_start") for o in obs]),
            "realtime_end": dates([o.get("realtime_end") for o in obs]),
            "value": numeric([o.get("value") for o in obs]),
        },
        source=VENDOR,
    )


@payload_shape(VENDOR)
def parse_release_dates(payload: Mapping[str, Any], release: Release) -> pd.DataFrame:
    """`release/dates` -> economic_events rows at the release's local time, in UTC.

    FRED has no consensus, actual or previous values here: those columns are null.
    """
    rows = records(payload, "release_dates", VENDOR)
    if not rows:
        return empty_frame(ECON)
    days = dates([r.get("date") for r in rows])
    tz = ZoneInfo(release.tz)
    stamps = pd.Series(
        [
            pd.NaT
            if d is None
            else pd.Timestamp(dt.datetime.combine(d, release.local_time, tz)).tz_convert("UTC")
            for d in days
        ],
        dtype="datetime64[ns, UTC]",
    )
    return table_frame(
        ECON,
        {
            "event_code": [release.event_code] * len(rows),
            "name": [release.name] * len(rows),
            "country": ["US"] * len(rows),
            "release_time": stamps,
            "release_date": days,
        },
        source=VENDOR,
    )


def is_worldbank_id(series_id: str) -> bool:
    """True for a World Bank indicator id (`NY.GDP.MKTP.KD.ZG:USA`): FRED ids have no dot."""
    return "." in series_id.partition(":")[0]


def _status_hook(status: int, body: str, symbol: str | None) -> SourceError | None:
    """FRED answers a bad key and an unknown series with HTTP 400 and a message."""
    if status != 400:
        return None
    text = body.lower()
    if "api_key" in text:
        return AuthError(
            VENDOR, f"bad or missing API key for fred: {body[:200]}", symbol=symbol, status=400
        )
    if "does not exist" in text:
        return NotFoundError(
            VENDOR, f"unknown series or release: {body[:200]}", symbol=symbol, status=400
        )
    return None


# --- the source ---------------------------------------------------------------------------


class FredSource:
    """FRED/ALFRED as a `Source`: macro_observations (all vintages) and economic_events."""

    name = VENDOR

    def __init__(
        self,
        api_key: str,
        *,
        releases: Mapping[int, Release] | None = None,
        base_url: str = BASE_URL,
        client: httpx.Client | None = None,
        log: RequestLog | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        if not api_key:
            raise AuthError(VENDOR, "bad or missing API key for fred (set FRED_API_KEY)")
        self._key = api_key
        self.releases = dict(releases or RELEASES)
        self.http = VendorHTTP(
            VENDOR,
            base_url,
            rate_limit,
            client=client,
            clock=clock,
            sleep=sleep,
            log=log,
            secrets=(api_key,),
            status_hook=_status_hook,
        )

    @property
    def log(self) -> RequestLog:
        return self.http.log

    def _pages(
        self, path: str, params: dict[str, Any], symbol: str | None, key: str
    ) -> Iterator[Mapping[str, Any]]:
        """FRED pages by offset/limit; stop when `count` rows have been read."""
        offset = 0
        for _ in range(_MAX_PAGES):
            payload = self.http.get_json(
                path,
                {**params, "api_key": self._key, "file_type": "json", "offset": offset},
                symbol=symbol,
            )
            yield payload
            got = len(payload.get(key) or [])
            offset += got
            if got == 0 or offset >= int(payload.get("count", 0)):
                return
        raise SourceError(VENDOR, f"more than {_MAX_PAGES} pages", symbol=symbol, field=key)

    def _observations(self, series_id: str, **window: str) -> pd.DataFrame:
        """Every page of /series/observations for `series_id` in `window` (FRED's realtime_*
        and observation_* parameters), parsed into MACRO rows."""
        params = {"series_id": series_id, **window, "limit": 100000}
        pages = self._pages("/series/observations", params, series_id, "observations")
        return concat([parse_observations(p, series_id) for p in pages], MACRO)

    # Source protocol

    @payload_shape(VENDOR)
    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """Every vintage whose realtime_start (first day known) is in start..end."""
        frames = []
        ask_from = max(_EARLIEST, start - dt.timedelta(days=1))
        # World Bank ids (`INDICATOR:ISO3`, dotted codes) belong to another vendor of the
        # macro chain: asked here, FRED's 400 would make the chain pass FRED over entirely.
        for series_id in (s for s in series_ids if not is_worldbank_id(s)):
            frames.append(
                self._observations(
                    series_id,
                    realtime_start=ask_from.isoformat(),
                    realtime_end=OPEN_END.isoformat(),
                )
            )
        out = concat(frames, MACRO)
        keep = out["realtime_start"].map(lambda d: d is None or start <= d <= end)
        return out[keep].reset_index(drop=True)

    def latest_values(self, series_id: str, start: dt.date, end: dt.date) -> pd.Series:
        """The series as FRED shows it today (its latest vintage), start..end, by date:
        what a market series (index closes, yields) is checked against."""
        out = self._observations(
            series_id, observation_start=start.isoformat(), observation_end=end.isoformat()
        )
        values = pd.Series(
            out["value"].astype("float64").to_numpy(),
            index=pd.DatetimeIndex(pd.to_datetime(out["date"])),
            name=series_id,
        )
        return values[~values.index.duplicated(keep="last")].sort_index()

    def vintages(self, series_id: str, known_from: dt.date, observed_from: dt.date) -> pd.DataFrame:
        """Every vintage of `series_id` known on or after `known_from` (earlier ones clipped
        to it), for observations from `observed_from`: the expectation model's input."""
        return self._observations(
            series_id,
            realtime_start=known_from.isoformat(),
            realtime_end=OPEN_END.isoformat(),
            observation_start=observed_from.isoformat(),
        )

    @payload_shape(VENDOR)
    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Release dates (past and scheduled) of the configured releases in start..end, with
        actual, previous and a model consensus from the headline series' vintages
        (`quant_assets.sources.expectations`, consensus_source='model')."""
        frames = []
        for release in self.releases.values():
            params = {
                "release_id": release.release_id,
                "realtime_start": start.isoformat(),
                "realtime_end": end.isoformat(),
                "include_release_dates_with_no_data": "true",
                "sort_order": "asc",
                "limit": 10000,
            }
            for payload in self._pages(
                "/release/dates", params, release.event_code, "release_dates"
            ):
                frames.append(parse_release_dates(payload, release))
        out = concat(frames, ECON)
        keep = out["release_date"].map(lambda d: d is None or start <= d <= end)
        out = out[keep].reset_index(drop=True)
        headlines = {r.event_code: r.headline for r in self.releases.values() if r.headline}
        wanted = sorted({headlines[c].series_id for c in set(out["event_code"]) & set(headlines)})
        if not wanted:
            return out
        # vintages from the day before the first release (the model's "known the day
        # before"), observations from far enough back for MODEL_PRINTS quarterly changes
        known_from = start - dt.timedelta(days=2)
        observed_from = dt.date(start.year - (MODEL_PRINTS // 4 + 2), 1, 1)
        vintages = concat([self.vintages(s, known_from, observed_from) for s in wanted], MACRO)
        return fill_expectations(out, vintages, headlines)

    @payload_shape(VENDOR)
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no market data; use polygon or alphavantage")

    @payload_shape(VENDOR)
    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no security events")

    @payload_shape(VENDOR)
    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no geopolitical events; use gdelt")

    @payload_shape(VENDOR)
    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotSupported(VENDOR, "no news")
