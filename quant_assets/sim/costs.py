"""Trading cost models of the historical simulator: commission, spread and slippage.

Each model is a small frozen record with one job, as zipline keeps slippage and commission
apart: the engine asks the spread and slippage models for a per-share price concession at
each fill bar (a buy pays mid + concession, a sell receives mid - concession) and the
commission model for the cash fee of each order. Estimates that use market data (ATR,
volatility) only read bars before the fill when fills are at the next open, so the cost of
an order is known when the order is decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BPS = 1e-4


@dataclass(frozen=True)
class Commission:
    """Broker fee per order: per share plus a proportional fee, with a minimum per order.

    The proportional fee takes either unit, never both: `rate` is a fraction of notional as
    backtesting.py's and vectorbt's `commission`/`fees` (0.002 = 0.2%), `bps` is basis
    points (20 = 0.2%). `Commission(rate=0.002) == Commission(bps=20)`: a rate is stored as
    bps, so `rate` reads back as None.
    """

    per_share: float = 0.0
    bps: float = 0.0
    minimum: float = 0.0
    rate: float | None = None

    def __post_init__(self) -> None:
        for name in ("per_share", "bps", "minimum", "rate"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValueError(f"Commission.{name}={value!r}: must be a finite number >= 0")
        if self.rate is not None:
            if self.bps:
                raise ValueError(
                    f"Commission: got rate={self.rate!r} and bps={self.bps!r}; give the fee in "
                    "one unit (rate=0.002 or bps=20 for 0.2%)"
                )
            if self.rate >= 0.1:
                raise ValueError(
                    f"Commission.rate={self.rate!r}: a rate is a fraction of notional "
                    "(0.002 = 0.2%); for basis points use bps="
                )
            object.__setattr__(self, "bps", self.rate / BPS)
            object.__setattr__(self, "rate", None)

    def amount(self, qty: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Fee in cash for orders of `qty` shares (sign ignored) at `price`; zero for no trade."""
        q = np.abs(qty)
        fee = self.per_share * q + self.bps * BPS * q * np.abs(price)
        return np.where(q > 0, np.maximum(fee, self.minimum), 0.0)

    def fee_rate(self, price: np.ndarray) -> np.ndarray:
        """Fee as a fraction of notional (the minimum is ignored): used to size orders."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.bps * BPS + np.where(price > 0, self.per_share / price, 0.0)


def _bps_of(base: np.ndarray, bps: float) -> np.ndarray:
    """|base| x bps; a zero rate is a read-only zero-stride array (no panel-sized memory)."""
    if bps == 0:
        return np.broadcast_to(np.float64(0.0), np.shape(base))
    return np.abs(base) * bps * BPS


@dataclass(frozen=True)
class FixedSpread:
    """Half the bid-ask spread in basis points of the mid price, paid on every fill."""

    half_spread_bps: float = 0.0

    def per_share(self, base: np.ndarray) -> np.ndarray:
        return _bps_of(base, self.half_spread_bps)


@dataclass(frozen=True)
class FixedSlippage:
    """Market impact as a fixed number of basis points of the fill price."""

    bps: float = 0.0

    def per_share(
        self,
        base: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        lag: int,
    ) -> np.ndarray:
        return _bps_of(base, self.bps)


def _rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean along axis 0 over up to `window` rows (shorter at the start), NaN-safe."""
    v = np.nan_to_num(x, nan=0.0)
    n = np.isfinite(x).astype(np.float64)
    cv = np.cumsum(v, axis=0)
    cn = np.cumsum(n, axis=0)
    cv[window:] = cv[window:] - cv[:-window].copy()
    cn[window:] = cn[window:] - cn[:-window].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cn > 0, cv / cn, np.nan)


def _lagged(x: np.ndarray, lag: int) -> np.ndarray:
    if lag == 0:
        return x
    out = np.full_like(x, np.nan)
    out[lag:] = x[:-lag]
    return out


@dataclass(frozen=True)
class AtrSlippage:
    """Slippage per share as a fraction of the average true range over `window` bars.

    The ATR is a simple trailing mean of true range; with `lag=1` (next-open fills) the
    fill at bar t uses the ATR up to bar t-1. Bars before any ATR exists slip nothing.
    """

    fraction: float = 0.1
    window: int = 14

    def per_share(
        self,
        base: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        lag: int,
    ) -> np.ndarray:
        prev_close = np.vstack([np.full((1, close.shape[1]), np.nan), close[:-1]])
        tr = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
        atr = _lagged(_rolling_mean(tr, self.window), lag)
        return np.nan_to_num(self.fraction * atr, nan=0.0)


@dataclass(frozen=True)
class VolatilitySlippage:
    """Slippage per share as a fraction of the trailing daily return volatility times price."""

    fraction: float = 0.1
    window: int = 20

    def per_share(
        self,
        base: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        lag: int,
    ) -> np.ndarray:
        r = np.full_like(close, np.nan)
        r[1:] = close[1:] / close[:-1] - 1.0
        mean = _rolling_mean(r, self.window)
        var = _rolling_mean(r * r, self.window) - mean * mean
        vol = _lagged(np.sqrt(np.clip(var, 0.0, None)), lag)
        return np.nan_to_num(self.fraction * vol * np.abs(base), nan=0.0)


Slippage = FixedSlippage | AtrSlippage | VolatilitySlippage


@dataclass(frozen=True)
class CostModel:
    """Everything a fill costs beyond the mid price: commission, half-spread and slippage."""

    commission: Commission = field(default_factory=Commission)
    spread: FixedSpread = field(default_factory=FixedSpread)
    slippage: Slippage = field(default_factory=FixedSlippage)
