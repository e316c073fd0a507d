"""Cost of one fill under the backtester's `CostModel`, so paper trading pays what backtests pay.

The historical simulator prices a fill at the bar's base price (next open or same close)
plus a per-share concession (half-spread + slippage) in the trade's direction, and charges
the commission on the resulting fill price. This module calls the same model objects on a
single symbol's bars, so a paper fill and a backtest fill of the same trade cost the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_assets.sim.costs import CostModel


@dataclass(frozen=True)
class PricedFill:
    base: float  # mid price before costs
    price: float  # what the trade pays / receives per unit
    commission: float
    spread_cost: float
    slippage_cost: float


def price_fill(
    costs: CostModel,
    *,
    sign: int,
    qty: float,
    base: float,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    lag: int,
) -> PricedFill:
    """Price a fill of `qty` (positive) in direction `sign` at base price `base`.

    `high`, `low`, `close` are the symbol's bars up to and including the fill bar (oldest
    first); slippage models read them with the same `lag` the backtester uses (1 for
    next-open fills: only bars before the fill bar count).
    """
    n = len(close)
    if n == 0:
        raise ValueError("price_fill needs at least the fill bar")
    col = lambda a: np.asarray(a, dtype=np.float64).reshape(n, 1)  # noqa: E731
    base_col = np.full((n, 1), float(base))
    spread = float(costs.spread.per_share(np.array([[float(base)]]))[0, 0])
    slip_all = costs.slippage.per_share(base_col, col(high), col(low), col(close), lag)
    slip = float(np.broadcast_to(slip_all, (n, 1))[-1, 0])
    price = float(base) + sign * (spread + slip)
    commission = float(costs.commission.amount(np.array([qty]), np.array([price]))[0])
    return PricedFill(
        base=float(base),
        price=price,
        commission=commission,
        spread_cost=spread * abs(qty),
        slippage_cost=slip * abs(qty),
    )
