"""Plumbing shared by the offline sample generator: seeded streams, calendars, frame helpers.

Why streams: a value for (symbol, date) must not depend on which range or which symbols were
asked for. Every random quantity therefore comes from its own generator, keyed by
(seed, stream name, symbol ...), and each generator is drawn from exactly once, with a size
that only grows with the horizon. numpy fills arrays element by element, so a longer draw
starts with the shorter one: extending the horizon never changes earlier values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from quant_assets.calendars import CRYPTO_CALENDAR, sessions
from quant_assets.schemas.tables import Table

SOURCE_NAME = "sample"
DEFAULT_START = dt.date(2005, 1, 3)
# Generated through the end of this year at least; later requests extend the horizon by years.
DEFAULT_END_YEAR = 2030
OPEN_END = dt.date(9999, 12, 31)
NY_TZ = "America/New_York"


def stream(seed: int, *keys: object) -> np.random.Generator:
    """An independent generator for (seed, keys); stable across processes (no hash())."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).digest()
    spawn_key = tuple(int(w) for w in np.frombuffer(digest[:16], dtype="<u4"))
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=spawn_key))


def horizon_end(end: dt.date) -> dt.date:
    """Last generated day for a request ending at `end`: a whole year, never before the default."""
    return dt.date(max(end.year, DEFAULT_END_YEAR), 12, 31)


@lru_cache(maxsize=16)
def trading_days(calendar: str, start: dt.date, end: dt.date) -> np.ndarray:
    """Session dates as datetime64[D]; NYSE holidays have no session, crypto has every day."""
    cal = CRYPTO_CALENDAR if calendar == CRYPTO_CALENDAR else "NYSE"
    days = sessions(cal, start, end).to_numpy().astype("datetime64[D]")
    days.setflags(write=False)
    return days


def next_session(days: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Index of the first session on or after each datetime64[D] in `when` (len(days) if none)."""
    return np.searchsorted(days, when, side="left")


def as_dates(values: np.ndarray) -> np.ndarray:
    """datetime64[D] -> object array of datetime.date (what the `date` columns hold)."""
    values = np.asarray(values, dtype="datetime64[D]")
    if values.size == 0:
        return np.empty(0, dtype=object)
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq.astype(object)[inverse]


def local_to_utc(days: np.ndarray, hour: int, minute: int = 0, tz: str = NY_TZ) -> pd.DatetimeIndex:
    """Wall-clock time `hour:minute` in `tz` on each day, as UTC timestamps (DST-aware)."""
    naive = pd.DatetimeIndex(np.asarray(days, dtype="datetime64[D]").astype("datetime64[ns]"))
    local = naive + pd.Timedelta(hours=hour, minutes=minute)
    return local.tz_localize(tz).tz_convert("UTC")


def finish(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Exactly the table's columns in order, labelled as sample data."""
    frame = frame.assign(source=SOURCE_NAME, is_sample=True)
    return frame.loc[:, table.column_names].reset_index(drop=True)


def date_mask(values: pd.Series, start: dt.date, end: dt.date) -> np.ndarray:
    """Rows whose datetime64 value lies in start..end inclusive."""
    v = values.to_numpy(dtype="datetime64[D]")
    return (v >= np.datetime64(start, "D")) & (v <= np.datetime64(end, "D"))


@dataclass(frozen=True)
class Garch:
    """GARCH(1,1) on a unit-variance process with Student-t innovations."""

    alpha: float
    beta: float
    df: float

    def innovations(self, gen: np.random.Generator, n: int, k: int | None = None) -> np.ndarray:
        """Unit-variance Student-t draws, one draw call (shape n or n x k)."""
        size = n if k is None else (n, k)
        return gen.standard_t(self.df, size=size) * np.sqrt((self.df - 2.0) / self.df)


def garch_path(
    eta: np.ndarray,
    alpha: np.ndarray | float,
    beta: np.ndarray | float,
    shock: np.ndarray | None = None,
    shock_var: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals e_t = sqrt(h_t) * eta_t + shock_t and variances h_t.

    h_t+1 = omega + alpha * e_t^2 + beta * h_t. Shocks feed the recursion (a crash raises
    volatility for weeks); omega = (1 - alpha - beta) - shock_var * (1 - beta) keeps the
    unconditional E[e^2] at one when shock_var is E[shock^2].

    Loops over time with vector operations across columns; only +, * and sqrt are used, so
    each column's values do not depend on which other columns are in the batch.
    """
    eta = np.atleast_2d(eta.T).T if eta.ndim == 1 else eta
    n, k = eta.shape
    a = np.broadcast_to(np.asarray(alpha, dtype=float), (k,))
    b = np.broadcast_to(np.asarray(beta, dtype=float), (k,))
    omega = 1.0 - a - b - shock_var * (1.0 - b)
    if np.any(omega <= 0):
        raise ValueError("shock variance too large for the GARCH parameters")
    e = np.empty((n, k))
    h = np.empty((n, k))
    h_t = np.ones(k)
    shocks = np.zeros((n, k)) if shock is None else np.broadcast_to(shock.reshape(n, -1), (n, k))
    for t in range(n):
        h[t] = h_t
        e_t = np.sqrt(h_t) * eta[t] + shocks[t]
        e[t] = e_t
        h_t = omega + a * (e_t * e_t) + b * h_t
    return e, h
