"""The data a strategy run reads, loaded once from the warehouse: features and price panels.

Prices for signals and backtests are the point-in-time total-return bars (unadjusted OHLC
rescaled onto `tr_index`, as the indicators are): continuous across splits and dividends
and known at their own date, so no look-ahead. Orders and reports quote the unadjusted
close (`last_close`), and ATR is converted to price units by the same ratio.

Listed symbols have bars on NYSE sessions, crypto every day: `prices(symbols)` keeps the
rows where at least one of the requested symbols has a bar, so a listed strategy's rolling
windows never see weekend gaps and a crypto strategy keeps its weekends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_assets.sim.historical import Prices
from quant_assets.warehouse import Warehouse
from quant_assets.warehouse import strategy_reads as reads

PRICE_FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Panels:
    """Features (long) and total-return bars (wide per field) up to `as_of`."""

    as_of: dt.date
    features: pd.DataFrame  # symbol, date, mart + indicator columns
    bars: pd.DataFrame  # symbol, date, open, high, low, close (unadjusted), volume, tr_index
    _wide: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        b = self.bars
        if b.empty:
            return
        scale = b["tr_index"] / b["close"]
        for f in PRICE_FIELDS:
            self._wide[f] = (
                (b[f] * scale)
                .to_frame("v")
                .assign(symbol=b["symbol"].to_numpy(), date=pd.to_datetime(b["date"]).to_numpy())
                .pivot_table(index="date", columns="symbol", values="v", aggfunc="last")
                .sort_index()
            )
        self._wide["raw_close"] = b.pivot_table(
            index=pd.to_datetime(b["date"]), columns="symbol", values="close", aggfunc="last"
        ).sort_index()

    @property
    def symbols(self) -> list[str]:
        return [str(c) for c in self._wide["close"].columns] if self._wide else []

    def prices(self, symbols: Sequence[str]) -> Prices:
        """Total-return OHLC of `symbols` on the dates where any of them has a bar."""
        missing = [s for s in symbols if s not in self.symbols]
        if missing:
            raise KeyError(f"no bars for {missing}")
        close = self._wide["close"][list(symbols)]
        keep = close.notna().any(axis=1)
        frames = {f: self._wide[f][list(symbols)][keep] for f in PRICE_FIELDS}
        return Prices.from_frames(frames["close"], frames["open"], frames["high"], frames["low"])

    def closes(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Total-return closes (dates x symbols)."""
        c = self._wide["close"]
        return c if symbols is None else c[list(symbols)]

    def last_close(self) -> pd.Series:
        """Each symbol's last unadjusted close on or before as_of (what an order is priced at)."""
        return self._wide["raw_close"].ffill().iloc[-1]

    def last_bar_date(self) -> pd.Series:
        raw = self._wide["raw_close"]
        return raw.apply(lambda s: s.last_valid_index())

    def last_feature(self, name: str) -> pd.Series:
        """A feature's last non-null value per symbol."""
        f = self.features[["symbol", "date", name]].dropna(subset=[name])
        return f.sort_values("date").groupby("symbol")[name].last()

    def atr_price(self) -> pd.Series:
        """ATR(14) in unadjusted price units: tr_atr_14 (total-return bars) x close / tr_index
        (the ratio ATR / price does not depend on the scale)."""
        f = self.features.dropna(subset=["tr_atr_14"]).sort_values("date").groupby("symbol").last()
        ratio = f["tr_atr_14"].astype(float) / f["tr_index"].astype(float)
        return (ratio * self.last_close().reindex(ratio.index)).astype(float)

    def is_sample(self) -> bool:
        return bool(self.features["is_sample"].fillna(False).astype(bool).any())


def load_panels(wh: Warehouse, as_of: dt.date, symbols: Sequence[str], history_days: int) -> Panels:
    """Features and bars of `symbols` over the `history_days` calendar days up to as_of."""
    start = as_of - dt.timedelta(days=history_days)
    symbols = list(dict.fromkeys(symbols))
    features = reads.features_panel(wh, symbols, start, as_of)
    bars = reads.bars_with_tr_index(wh, symbols, start, as_of)
    bars = bars[np.isfinite(bars["tr_index"].astype(float)) & (bars["close"] > 0)]
    return Panels(as_of, features, bars.reset_index(drop=True))


def as_of_date(
    wh: Warehouse, override: str | dt.date | None = None, *, before: dt.date | None = None
) -> dt.date:
    """The run's date: `override` if given, else the latest bar in derived.fct_features_daily
    (strictly before `before` when given: what was known on the morning of that day)."""
    if override:
        return override if isinstance(override, dt.date) else dt.date.fromisoformat(override)
    day = reads.latest_feature_date(wh, before=before)
    if day is None:
        where = f" before {before}" if before is not None else ""
        raise LookupError(
            f"derived.fct_features_daily has no bar{where}: build the derived layer first"
        )
    return day
