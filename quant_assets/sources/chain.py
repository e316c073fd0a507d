"""Several vendors serving one data domain, in priority order, each filling what the
earlier ones lack.

One vendor rarely covers a whole domain: Polygon has dividends and splits but no
earnings (Alpha Vantage has them), a crypto exchange lists some coins and not others, a
vendor can be down. `ChainSource` asks the vendors in order and keeps, for each key of the
domain (a symbol's bars, a symbol's event type, a macro series), the rows of the first
vendor that answered for it. A vendor that fails is passed over for the next; if every
vendor fails, the first error is raised, so a total outage is never a silent empty load.
Rows keep their own vendor in `source`, and `names` lists every vendor for the loader's
slice (one vendor's re-load never deletes another's rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pandas as pd

from quant_assets.sources.base import NotSupported, Source, SourceError


class ChainSource:
    """Vendors of one domain in priority order (see module doc)."""

    def __init__(self, sources: Sequence[Source]):
        if not sources:
            raise ValueError("a vendor chain needs at least one source")
        self.sources = list(sources)
        self.names = [s.name for s in self.sources]
        self.name = "+".join(self.names)
        self.passed_over: list[str] = []  # "<vendor>: <error>" of the last call, for logs

    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._fill(lambda s, want: s.ohlcv(want, start, end), list(symbols), ["symbol"])

    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        # Keyed by (symbol, event_type): Alpha Vantage's earnings join Polygon's dividends.
        return self._union(
            lambda s: s.security_events(symbols, start, end), ["symbol", "event_type"]
        )

    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._union(lambda s: s.economic_events(start, end), ["event_code"])

    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._first(lambda s: s.geopolitical_events(start, end))

    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        return self._fill(
            lambda s, want: s.macro_observations(want, start, end), list(series_ids), ["series_id"]
        )

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        # Keyed by symbol: Polygon's ticker news rarely covers coins, NewsAPI fills them.
        return self._fill(
            lambda s, want: s.news(want, start, end), list(symbols), ["symbols"], _listed
        )

    # --- strategies ---------------------------------------------------------------------
    def _fill(
        self,
        call: Callable[[Source, list[str]], pd.DataFrame],
        wanted: list[str],
        key: list[str],
        keys_of: Callable[[pd.Series], set[str]] = lambda column: set(column.dropna()),
    ) -> pd.DataFrame:
        """Ask each vendor only for the keys no earlier vendor answered."""
        self.passed_over = []
        frames, errors, missing = [], [], list(wanted)
        for source in self.sources:
            if not missing:
                break
            try:
                frame = call(source, missing)
            except SourceError as exc:
                errors.append(exc)
                self.passed_over.append(f"{source.name}: {exc}")
                continue
            frames.append(frame)
            answered = keys_of(frame[key[0]]) if len(frame) else set()
            missing = [w for w in missing if w not in answered]
        return self._result(frames, errors)

    def _union(self, call: Callable[[Source], pd.DataFrame], key: list[str]) -> pd.DataFrame:
        """Every vendor's rows for the keys no earlier vendor had."""
        self.passed_over = []
        frames, errors = [], []
        seen: set[tuple] = set()
        for source in self.sources:
            try:
                frame = call(source)
            except SourceError as exc:
                errors.append(exc)
                self.passed_over.append(f"{source.name}: {exc}")
                continue
            if len(frame):
                keys = list(frame[key].itertuples(index=False, name=None))
                keep = [k not in seen for k in keys]
                frames.append(frame[keep])
                seen.update(keys)
        return self._result(frames, errors)

    def _first(self, call: Callable[[Source], pd.DataFrame]) -> pd.DataFrame:
        """The first vendor that answers with rows (or the last empty answer)."""
        self.passed_over = []
        frames, errors = [], []
        for source in self.sources:
            try:
                frame = call(source)
            except SourceError as exc:
                errors.append(exc)
                self.passed_over.append(f"{source.name}: {exc}")
                continue
            frames = [frame]
            if len(frame):
                break
        return self._result(frames, errors)

    def _result(self, frames: list[pd.DataFrame], errors: list[SourceError]) -> pd.DataFrame:
        if not frames:
            served = [e for e in errors if not isinstance(e, NotSupported)]
            raise (served or errors)[0]
        frames = [f for f in frames if len(f)] or frames[:1]
        return pd.concat(frames, ignore_index=True)


def _listed(column: pd.Series) -> set[str]:
    """The symbols of comma-separated lists (news.articles.symbols)."""
    return {s for cell in column.dropna() for s in str(cell).split(",") if s}
