"""Ragged panels: each symbol's bars as one column, aligned on bar number, not on date.

Rolling windows in the dbt marts run over a symbol's own rows ("rows between n preceding"),
so stocks on the NYSE calendar and crypto trading every day never mix. Laying a long frame
sorted by (symbol, date) out as (bar number x symbol) arrays keeps that meaning while every
rolling operation runs column-wise in C (pandas / numpy) instead of once per symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class Ragged:
    """Map between a long frame sorted by (symbol, date) and (max bars x symbols) arrays."""

    def __init__(self, symbols: pd.Series | np.ndarray) -> None:
        codes, uniques = pd.factorize(np.asarray(symbols, dtype=object), sort=False)
        if len(codes) and np.any(np.diff(codes) < 0):
            raise ValueError("rows must be sorted by symbol (then date)")
        self.codes = codes
        self.symbols = [str(s) for s in uniques]
        counts = np.bincount(codes, minlength=len(uniques))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.pos = np.arange(len(codes)) - starts[codes]
        self.counts = counts
        self.n_bars = int(counts.max()) if len(counts) else 0

    def wide(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """(n_bars, n_symbols) float array; cells past a symbol's last bar are NaN."""
        out = np.full((self.n_bars, len(self.symbols)), np.nan)
        out[self.pos, self.codes] = np.asarray(values, dtype=np.float64)
        return out

    def long(self, wide: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Back to the long frame's row order."""
        return np.asarray(wide)[self.pos, self.codes]

    def shift_index(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers of each row's bar k ahead (k > 0) or behind (k < 0), and validity."""
        n = len(self.codes)
        target = np.arange(n) + k
        ok = (self.pos + k >= 0) & (self.pos + k < self.counts[self.codes])
        return np.where(ok, target, 0), ok


def sort_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy sorted by (symbol, date) with a fresh index; dates as datetime64."""
    out = frame.copy()
    out["date"] = pd.to_datetime(out["date"])
    out["symbol"] = out["symbol"].astype(str)
    if out.duplicated(["symbol", "date"]).any():
        raise ValueError("duplicate (symbol, date) rows")
    return out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
