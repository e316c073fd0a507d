"""PnL attribution by position, group and strategy, and contribution to return.

Daily PnL of a position is what marking it to market earns:
    holding_t = q_{t-1} x (P_t - P_{t-1})        (quantity held over the bar, close to close)
    trading_t = sum over fills on t of qty x (P_t - fill price) - commission
so holding + trading summed over positions is exactly the change in equity of a book
that trades at those fills (cash moves by -qty x fill price - commission; positions are
marked at the close). Financing (interest, borrow) is not a position's PnL: compare with
the equity curve and the difference is the `unattributed` column of `reconcile`.
Prices are marked with the last known close (as the engine marks them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PnL:
    """Daily PnL per position key (symbol, or (strategy, symbol)): holding and trading."""

    holding: pd.DataFrame
    trading: pd.DataFrame

    @property
    def total(self) -> pd.DataFrame:
        return self.holding + self.trading


def _wide_prices(prices: pd.DataFrame) -> pd.DataFrame:
    if {"date", "symbol", "close"} <= set(prices.columns):
        prices = prices.pivot_table(index="date", columns="symbol", values="close", aggfunc="last")
    return prices.sort_index().astype(np.float64)


def _wide_positions(positions: pd.DataFrame) -> pd.DataFrame:
    if {"date", "symbol", "quantity"} <= set(positions.columns):
        keys = ["strategy", "symbol"] if "strategy" in positions.columns else ["symbol"]
        return positions.pivot_table(
            index="date", columns=keys, values="quantity", aggfunc="sum", fill_value=0.0
        )
    return positions


def _symbols_of(columns: pd.Index) -> pd.Index:
    return columns.get_level_values(-1) if isinstance(columns, pd.MultiIndex) else columns


def position_pnl(
    positions: pd.DataFrame, prices: pd.DataFrame, *, fills: pd.DataFrame | None = None
) -> PnL:
    """Daily holding and trading PnL per position.

    positions: quantities held at each date's close, wide (dates x symbols) or long with
    columns date, symbol, quantity and optionally strategy (then keys are (strategy,
    symbol)); a missing row or NaN means flat. prices: closes, wide or long (date, symbol,
    close), on the dates the PnL is wanted. fills (optional): date, symbol, qty (signed),
    price, optional commission and strategy.
    """
    px = _wide_prices(prices)
    pos = _wide_positions(positions)
    extra = pos.index.difference(px.index)
    if len(extra):
        raise KeyError(f"positions on dates without prices: {list(extra[:3])}")
    pos = pos.reindex(px.index).fillna(0.0)
    keyed = isinstance(pos.columns, pd.MultiIndex)
    if fills is not None and len(fills):
        f = fills.copy()
        if keyed and "strategy" not in f:
            raise ValueError("positions carry strategies: fills need a strategy column")
        mark = px.ffill()
        sym_col = px.columns.get_indexer(f["symbol"])
        row = px.index.get_indexer(f["date"])
        if np.any(sym_col < 0) or np.any(row < 0):
            raise KeyError("fills on symbols or dates without prices")
        close = mark.to_numpy()[row, sym_col]
        comm = f["commission"].to_numpy(float) if "commission" in f else 0.0
        f["pnl"] = f["qty"].to_numpy(float) * (close - f["price"].to_numpy(float)) - comm
        keys = ["strategy", "symbol"] if keyed else ["symbol"]
        trading = f.pivot_table(index="date", columns=keys, values="pnl", aggfunc="sum")
        pos = pos.reindex(columns=pos.columns.union(trading.columns), fill_value=0.0)
        trading = trading.reindex(index=px.index, columns=pos.columns).fillna(0.0)
    else:
        trading = pd.DataFrame(0.0, index=px.index, columns=pos.columns)
    cols = px.columns.get_indexer(_symbols_of(pos.columns))
    if np.any(cols < 0):
        raise KeyError("positions in symbols without prices")
    change = px.ffill().diff().fillna(0.0).to_numpy()[:, cols]
    held = pos.shift(1).fillna(0.0).to_numpy()
    holding = pd.DataFrame(held * change, index=px.index, columns=pos.columns)
    return PnL(holding, trading)


def attribute(
    pnl: pd.DataFrame,
    by: Mapping[str, str] | str,
    *,
    other: str = "other",
) -> pd.DataFrame:
    """Sum position PnL columns into buckets: `by` a mapping symbol -> group (unmapped
    symbols go to `other`), or "strategy" / "symbol" for keyed columns. Columns of the
    result sum to the input's row totals exactly (each position is in one bucket)."""
    cols = pnl.columns
    if isinstance(by, str):
        if not isinstance(cols, pd.MultiIndex):
            if by != "symbol":
                raise ValueError("PnL columns carry no strategy level")
            return pnl.copy()
        labels = cols.get_level_values(by)
    else:
        labels = pd.Index([by.get(s, other) for s in _symbols_of(cols)])
    return pnl.T.groupby(np.asarray(labels), sort=True).sum().T


def pnl_summary(pnl: pd.DataFrame) -> pd.DataFrame:
    """Per column: total PnL, share of the total, mean and std per bar, hit rate (share of
    bars with a gain among bars with any PnL), best and worst bar."""
    total = pnl.sum()
    active = pnl.ne(0.0)
    return pd.DataFrame(
        {
            "total": total,
            "share_of_total": total / total.sum() if total.sum() != 0 else np.nan,
            "mean": pnl.mean(),
            "std": pnl.std(ddof=1),
            "hit_rate": pnl.gt(0.0).sum() / active.sum().replace(0, np.nan),
            "best": pnl.max(),
            "worst": pnl.min(),
        }
    )


def reconcile(pnl: pd.DataFrame, equity: pd.Series, initial: float) -> pd.DataFrame:
    """Attributed PnL per bar against the equity change; `unattributed` is what positions
    do not explain (financing, or positions and fills that were left out)."""
    change = equity.diff()
    change.iloc[0] = equity.iloc[0] - initial
    attributed = pnl.sum(axis=1).reindex(equity.index).fillna(0.0)
    return pd.DataFrame(
        {"equity_change": change, "attributed": attributed, "unattributed": change - attributed}
    )


def contribution_to_return(pnl: pd.DataFrame, equity: pd.Series, initial: float) -> pd.DataFrame:
    """Per bar, each column's PnL over the previous bar's equity: columns sum to the
    portfolio's simple return on that bar when the PnL explains the whole equity change."""
    prev = equity.shift(1)
    prev.iloc[0] = initial
    return pnl.reindex(equity.index).fillna(0.0).div(prev, axis=0)


def linked_contributions(contributions: pd.DataFrame, returns: pd.Series) -> pd.Series:
    """Carino-linked total contribution of each column over the period.

    Daily contributions do not add up to a compounded return; Carino scales bar t by
    k_t / K with k_t = ln(1 + r_t) / r_t and K = ln(1 + R) / R (R the compounded return,
    k = 1 at r = 0), so the linked contributions sum to R exactly when each row of
    `contributions` sums to `returns`.
    """
    r = returns.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(r != 0, np.log1p(r) / r, 1.0)
        total = np.expm1(np.log1p(r).sum())
        big_k = np.log1p(total) / total if total != 0 else 1.0
    return contributions.mul(k / big_k, axis=0).sum()
