"""The offline `sample` source: a seeded, realistic synthetic market for the whole universe.

Nothing here touches the network, so every capability of the platform runs for a new user
without API keys. Every row carries source='sample' and is_sample=True.

Determinism: the whole history (from `start` through at least the end of 2030) is generated
once per process and cached; requests only slice it. A value for (symbol, date) depends on
the seed, the symbol, the instrument's kind and `start`, never on the requested range or
symbol subset. What lives where:

- sample_market: factor-model returns (market + sector + idiosyncratic, GARCH, Student-t),
  unadjusted OHLCV, splits, dividends, earnings.
- sample_macro: economy, FOMC decisions, 10-year yield, vintages, economic calendar.
- sample_events: geopolitical events and their market shocks.
- sample_news: headlines whose tone forecasts the next session's return a little.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from quant_assets.schemas.tables import OHLCV_DAILY, SECURITY_EVENTS
from quant_assets.sources.base import SourceError
from quant_assets.sources.sample_common import (
    DEFAULT_START,
    SOURCE_NAME,
    finish,
    horizon_end,
    trading_days,
)
from quant_assets.sources.sample_events import geopolitical_frame, geopolitics
from quant_assets.sources.sample_macro import (
    MACRO_SERIES,
    economic_events_frame,
    economy,
    macro_frame,
)
from quant_assets.sources.sample_market import (
    InstrumentSpec,
    SymbolPath,
    factors,
    market,
    spec_from,
)
from quant_assets.sources.sample_news import news_frame, news_world

__all__ = ["MACRO_SERIES", "SampleSource", "clear_caches", "demo_instruments"]

# A small universe for tests, docs and benchmarks that must not depend on universe.yaml:
# broad, bond, commodity and sector ETFs, megacaps in three sectors, growth names, crypto.
_DEMO = (
    ("SPY", "SPDR S&P 500 ETF Trust", "etf", "broad_market", "etf_core"),
    ("IVV", "iShares Core S&P 500 ETF", "etf", "broad_market", "etf_core"),
    ("VTI", "Vanguard Total Stock Market ETF", "etf", "broad_market", "etf_core"),
    ("TLT", "iShares 20+ Year Treasury Bond ETF", "etf", "fixed_income", "etf_core"),
    ("AGG", "iShares Core US Aggregate Bond ETF", "etf", "fixed_income", "etf_core"),
    ("BND", "Vanguard Total Bond Market ETF", "etf", "fixed_income", "etf_core"),
    ("GLD", "SPDR Gold Shares", "etf", "commodities", "etf_core"),
    ("XLK", "Technology Select Sector SPDR Fund", "etf", "technology", "etf_core"),
    ("QTUM", "Defiance Quantum ETF", "etf", "technology", "etf_quantum"),
    ("AAPL", "Apple", "stock", "technology", "us_megacap"),
    ("MSFT", "Microsoft", "stock", "technology", "us_megacap"),
    ("NVDA", "Nvidia", "stock", "technology", "us_megacap"),
    ("JPM", "JPMorgan Chase", "stock", "financials", "us_megacap"),
    ("BAC", "Bank of America", "stock", "financials", "us_megacap"),
    ("WFC", "Wells Fargo", "stock", "financials", "us_megacap"),
    ("XOM", "Exxon Mobil", "stock", "energy", "us_megacap"),
    ("CVX", "Chevron", "stock", "energy", "us_megacap"),
    ("IONQ", "IonQ", "stock", "technology", "growth_quantum"),
    ("RGTI", "Rigetti Computing", "stock", "technology", "growth_quantum"),
    ("KTOS", "Kratos Defense", "stock", "industrials", "growth_defense"),
    ("PLTR", "Palantir", "stock", "technology", "growth_ai_infra"),
    ("BTC", "Bitcoin", "crypto", "crypto", "crypto_top10"),
    ("ETH", "Ethereum", "crypto", "crypto", "crypto_top10"),
    ("SOL", "Solana", "crypto", "crypto", "crypto_top10"),
    ("XRP", "XRP", "crypto", "crypto", "crypto_top10"),
    ("USDT", "Tether", "crypto", "crypto", "crypto_top10"),
)


def demo_instruments() -> list[dict[str, object]]:
    """A 26-instrument universe in the shape `SampleSource` accepts."""
    return [
        {
            "symbol": s,
            "name": n,
            "asset_class": a,
            "sector": sec,
            "groups": [g],
            "calendar": "24/7" if a == "crypto" else "NYSE",
        }
        for s, n, a, sec, g in _DEMO
    ]


def clear_caches() -> None:
    """Forget every generated history (tests prove results do not come from the cache)."""
    for fn in (market, factors, economy, geopolitics, news_world, trading_days):
        fn.cache_clear()


class SampleSource:
    """Source protocol implementation over generated data (see module docstring)."""

    name = SOURCE_NAME

    def __init__(
        self,
        instruments: Iterable[object] | None = None,
        seed: int = 42,
        start: dt.date = DEFAULT_START,
    ):
        if instruments is None:
            from quant_assets.universe import load_universe

            instruments = load_universe().instruments
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.start = start
        self.specs: tuple[InstrumentSpec, ...] = tuple(spec_from(i) for i in instruments)
        self._by_symbol = {s.symbol: s for s in self.specs}
        if len(self._by_symbol) != len(self.specs):
            raise ValueError("instruments contain duplicate symbols")

    # -- helpers ---------------------------------------------------------------------------
    def _paths(self, end: dt.date) -> dict[str, SymbolPath]:
        return market(self.seed, self.start, horizon_end(end), self.specs)

    def _check_symbols(self, symbols: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(symbols))
        for s in wanted:
            if s not in self._by_symbol:
                raise SourceError(self.name, "symbol is not in the sample universe", symbol=s)
        return wanted

    def _window(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        start = max(start, self.start)
        return (start, end) if start <= end else None

    # -- Source protocol -------------------------------------------------------------------
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily unadjusted bars; NYSE sessions for listed instruments, every day for crypto."""
        wanted = self._check_symbols(symbols)
        window = self._window(start, end)
        cols: dict[str, list[np.ndarray]] = {
            c: [] for c in ("symbol", "date", "open", "high", "low", "close", "volume", "vwap")
        }
        if window:
            paths = self._paths(window[1])
            lo_d, hi_d = np.datetime64(window[0], "D"), np.datetime64(window[1], "D")
            for sym in wanted:
                p = paths[sym]
                lo, hi = np.searchsorted(p.days, lo_d), np.searchsorted(p.days, hi_d, side="right")
                cols["symbol"].append(np.full(hi - lo, sym, dtype=object))
                cols["date"].append(p.dates[lo:hi])
                for c in ("open", "high", "low", "close", "volume", "vwap"):
                    cols[c].append(getattr(p, c)[lo:hi])
        frame = pd.DataFrame(
            {c: _concat(v, object if c in ("symbol", "date") else float) for c, v in cols.items()}
        )
        return finish(frame, OHLCV_DAILY)

    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Earnings (EPS actual vs consensus, after the close), cash dividends and splits."""
        wanted = self._check_symbols(symbols)
        window = self._window(start, end)
        parts: list[pd.DataFrame] = []
        if window:
            paths = self._paths(window[1])
            for sym in wanted:
                parts.append(_events_of(paths[sym], *window))
        frame = pd.concat(parts, ignore_index=True) if parts else _events_of(None, start, end)
        frame = frame.sort_values(["symbol", "event_date", "event_type"], kind="stable")
        return finish(frame, SECURITY_EVENTS)

    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """US calendar: CPI, NFP, unemployment, retail sales, PCE, GDP, FOMC."""
        window = self._window(start, end) or (start, start - dt.timedelta(days=1))
        econ = economy(self.seed, self.start, horizon_end(max(window[1], self.start)))
        return economic_events_frame(econ, *window)

    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """GDELT-like events with category, severity and tone."""
        window = self._window(start, end) or (start, start - dt.timedelta(days=1))
        geo = geopolitics(self.seed, self.start, horizon_end(max(window[1], self.start)))
        return geopolitical_frame(geo, *window)

    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """Every vintage whose realtime_start is in start..end (revisions included)."""
        unknown = [s for s in series_ids if s not in MACRO_SERIES]
        if unknown:
            raise SourceError(
                self.name, f"unknown macro series; known: {list(MACRO_SERIES)}", field=unknown[0]
            )
        window = self._window(start, end) or (start, start - dt.timedelta(days=1))
        econ = economy(self.seed, self.start, horizon_end(max(window[1], self.start)))
        return macro_frame(econ, list(series_ids), *window)

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Headlines naming any of `symbols`, published (UTC date) in start..end."""
        wanted = set(self._check_symbols(symbols))
        window = self._window(start, end) or (start, start - dt.timedelta(days=1))
        world = news_world(
            self.seed, self.start, horizon_end(max(window[1], self.start)), self.specs
        )
        return news_frame(world, wanted, *window)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _events_of(path: SymbolPath | None, start: dt.date, end: dt.date) -> pd.DataFrame:
    """security_events rows of one instrument inside start..end."""
    columns = ["symbol", "event_date", "event_type", "value", "consensus", "details"]
    if path is None:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=object if c not in ("value", "consensus") else float)
                for c in columns
            }
        )
    sym = path.profile.spec.symbol
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    frames = []

    def add(
        idx: np.ndarray,
        etype: str,
        value: np.ndarray,
        consensus: np.ndarray | None,
        details: list[str],
    ):
        idx = np.asarray(idx, dtype=int)
        days = path.days[idx] if len(idx) else np.empty(0, dtype="datetime64[D]")
        keep = (days >= lo) & (days <= hi)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "event_date": path.dates[idx[keep]],
                    "event_type": etype,
                    "value": np.asarray(value, dtype=float)[keep],
                    "consensus": (
                        np.full(len(idx), np.nan)
                        if consensus is None
                        else np.asarray(consensus, dtype=float)
                    )[keep],
                    "details": np.asarray(details, dtype=object)[keep]
                    if len(details)
                    else np.empty(0, dtype=object),
                }
            )
        )

    e = path.earnings
    if e:
        details = [
            f"quarterly EPS reported after the close; surprise {a - c:+.2f}"
            for a, c in zip(e["actual"], e["consensus"], strict=True)
        ]
        add(e["idx"], "earnings", e["actual"], e["consensus"], details)
    d = path.dividends
    if len(d.get("idx", [])):
        add(
            d["idx"],
            "dividend",
            d["amount"],
            None,
            ["quarterly cash dividend per share"] * len(d["idx"]),
        )
    s = path.splits
    if len(s.get("idx", [])):
        add(
            s["idx"], "split", s["ratio"], None, [f"{int(r)}-for-1 stock split" for r in s["ratio"]]
        )
    if not frames:
        return _events_of(None, start, end)
    return pd.concat(frames, ignore_index=True)
