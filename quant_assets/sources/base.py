"""The one interface every data source implements, vendor or offline.

A source answers per data domain with a pandas frame whose columns are exactly the
warehouse table's (see `quant_assets.schemas.tables`). Unparseable vendor values become
NaN/None so the loader can quarantine the row with a reason; a payload that cannot be
read at all raises `SourceError` naming vendor, symbol and field.
A source that does not serve a domain raises `NotSupported`, never returns silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pandas as pd


class SourceError(RuntimeError):
    """A vendor payload or request failed; the message names vendor, symbol and field."""

    def __init__(
        self, vendor: str, message: str, *, symbol: str | None = None, field: str | None = None
    ):
        self.vendor, self.symbol, self.field = vendor, symbol, field
        where = ", ".join(f"{k}={v}" for k, v in (("symbol", symbol), ("field", field)) if v)
        super().__init__(f"[{vendor}] {message}" + (f" ({where})" if where else ""))


class NotSupported(SourceError):
    """The source does not serve this data domain."""


@runtime_checkable
class Source(Protocol):
    """Domain methods; each returns a frame with the target table's columns."""

    name: str

    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """market_data.ohlcv_daily rows for start..end inclusive."""
        ...

    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """events.security_events rows (earnings, dividends, splits)."""
        ...

    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """events.economic_events rows (calendar with actual/consensus/previous)."""
        ...

    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """events.geopolitical_events rows."""
        ...

    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """macro.observations rows, every vintage whose realtime_start is in start..end."""
        ...

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """news.articles rows."""
        ...
