"""`Panel`: daily bars as dates x symbols numpy arrays, one per field, and how it is built.

A panel read returns one long result (day offset `d`, symbol index `i`, the fields) that
is laid out here into a single (field, symbol, date) block; each field is a view of it.
Bars are stored symbol by symbol with dates ascending, so a dense result arrives as runs
of consecutive cells (DuckDB keeps the order inside a row group, not across its threads):
then each run is copied once into place, fields on parallel threads, with no scatter and
no NaN fill. Anything else (missing bars, other orders, unknown symbols) takes a scatter
into a NaN-filled block, which also detects two bars for one (symbol, date).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.schemas.frames import DATE_DTYPE
from quant_assets.warehouse.errors import AmbiguousPanelError

_THREADS = min(4, os.cpu_count() or 1)
_THREADED_CELLS = 1 << 20  # below this a thread pool costs more than it saves


@dataclass(frozen=True)
class Panel:
    """Bars of `symbols` on `dates`: ``fields[f][t, s]`` is field f of symbols[s] on dates[t].

    `dates` (datetime64[us]) holds every date on which at least one requested symbol has a
    bar, ascending; `symbols` keeps the requested order (duplicates dropped); each
    ``fields[f]`` has shape (len(dates), len(symbols)), NaN where a symbol has no bar, and is
    column-major (one symbol's history is contiguous). All fields are views of one block, so
    `to_frame()` costs no copy.
    """

    dates: np.ndarray
    symbols: list[str]
    fields: dict[str, np.ndarray]
    _block: np.ndarray = field(repr=False)  # (n_fields, n_symbols, n_dates)

    @property
    def shape(self) -> tuple[int, int]:
        """(dates, symbols)."""
        return len(self.dates), len(self.symbols)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def to_frame(self) -> pd.DataFrame:
        """A dates x (field, symbol) frame sharing this panel's memory (index `date`)."""
        cols = pd.MultiIndex.from_product(
            [list(self.fields), self.symbols], names=["field", "symbol"]
        )
        index = pd.DatetimeIndex(self.dates, name="date")
        nf, ns, nd = self._block.shape
        return pd.DataFrame(
            self._block.reshape(nf * ns, nd).T, index=index, columns=cols, copy=False
        )


def empty_panel(symbols: list[str], fields: list[str], dtype: np.dtype) -> Panel:
    block = np.empty((len(fields), len(symbols), 0), dtype=dtype)
    return Panel(
        np.empty(0, dtype=DATE_DTYPE),
        symbols,
        {f: block[j].T for j, f in enumerate(fields)},
        block,
    )


def assemble_panel(
    batches: Iterable[Mapping[str, np.ndarray]],
    fields: Sequence[str],
    symbols: list[str],
    start: dt.date,
    *,
    dtype: np.dtype | type = np.float64,
    check_unique: bool = True,
) -> Panel:
    """Lay out result batches (arrays `d`: days since `start`, `i`: symbol index, fields).

    With `check_unique`, two rows for one (symbol, date) raise `AmbiguousPanelError`.
    """
    fields = list(fields)
    dtype = np.dtype(dtype)
    batches = [b for b in batches if len(b["d"])]
    nsym, nf = len(symbols), len(fields)
    if not batches or not nsym:
        return empty_panel(symbols, fields, dtype)
    present = np.zeros(max(int(b["d"].max()) for b in batches) + 1, dtype=bool)
    for b in batches:
        present[b["d"]] = True
    days = np.flatnonzero(present)
    nd = len(days)
    itype = np.int32 if nsym * nd < 2**31 else np.int64  # half the memory traffic
    row_of_day = (np.cumsum(present) - 1).astype(itype)
    parallel = nsym * nd >= _THREADED_CELLS

    def cells_of(b: Mapping[str, np.ndarray]) -> np.ndarray:
        # cell = symbol * n_dates + date row: the position in a (symbol, date) plane
        return b["i"].astype(itype, copy=False) * itype(nd) + row_of_day[b["d"]]

    cells = _pmap(cells_of, batches, parallel)
    runs = _tiling(cells, nsym * nd, parallel)
    if runs is not None:  # every cell exactly once, in runs: copy slices, no scatter
        block = np.empty((nf, nsym, nd), dtype=dtype)
        planes = block.reshape(nf, nsym * nd)

        def copy_field(j: int) -> None:
            for k, lo, hi, first in runs:
                planes[j, first : first + hi - lo] = batches[k][fields[j]][lo:hi]

        _pmap(copy_field, list(range(nf)), parallel)
    else:
        block = _scatter(batches, cells, fields, nsym, nd, dtype, check_unique)
    dates = (days.astype("timedelta64[D]") + np.datetime64(start, "D")).astype(DATE_DTYPE)
    return Panel(dates, symbols, {f: block[j].T for j, f in enumerate(fields)}, block)


def _pmap(fn: Callable[[Any], Any], items: list[Any], parallel: bool) -> list[Any]:
    """`map` over threads when the arrays are large (numpy's loops run without the GIL)."""
    if not parallel or len(items) < 2 or _THREADS < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(len(items), _THREADS)) as pool:
        return list(pool.map(fn, items))


def _tiling(
    cells: list[np.ndarray], ncells: int, parallel: bool = False
) -> list[tuple[int, int, int, int]] | None:
    """Runs (batch, lo, hi, first cell) of consecutive cells tiling all cells once, else None.

    Bars are stored symbol by symbol, dates ascending, so a dense result arrives as runs of
    consecutive cells: DuckDB keeps the order within a row group (122,880 rows) but its
    threads may hand row groups over in any order.
    """
    if sum(len(c) for c in cells) != ncells:
        return None
    runs = []
    all_breaks = _pmap(lambda c: np.flatnonzero(np.diff(c) != 1) + 1, cells, parallel)
    for k, (c, breaks) in enumerate(zip(cells, all_breaks, strict=True)):
        if len(breaks) > max(16, len(c) // 1024):  # scattered rows, not a few long runs
            return None
        edges = [0, *breaks.tolist(), len(c)]
        runs += [(k, lo, hi, int(c[lo])) for lo, hi in itertools.pairwise(edges)]
    runs.sort(key=lambda r: r[3])
    at = 0
    for _k, lo, hi, first in runs:  # sorted runs must follow each other, no gap, no overlap
        if first != at:
            return None
        at += hi - lo
    return runs


def _scatter(
    batches: list[Mapping[str, np.ndarray]],
    cells: list[np.ndarray],
    fields: list[str],
    nsym: int,
    nd: int,
    dtype: np.dtype,
    check_unique: bool,
) -> np.ndarray:
    """General layout: a NaN-filled block, each row placed at its (symbol, date) cell."""
    if check_unique:
        seen = np.zeros(nsym * nd, dtype=bool)
        for c in cells:
            seen[c] = True
        if np.count_nonzero(seen) < sum(len(c) for c in cells):
            raise AmbiguousPanelError(
                "read_panel: several bars share a (symbol, date), probably from two sources; "
                "pass source="
            )
    block = np.full((len(fields), nsym, nd), np.nan, dtype=dtype)
    planes = block.reshape(len(fields), nsym * nd)
    for j, f in enumerate(fields):
        for b, c in zip(batches, cells, strict=True):
            planes[j][c] = b[f]
    return block
