"""Target positions -> orders: the difference between what the book should hold and what it holds.

Strategy output reaches execution as a frame, never as strategy objects:

    symbol, strategy, [leg], target_qty            (shares or coins), or
    symbol, strategy, [leg], target_weight, price  (fraction of `equity`)

Current positions are a frame (symbol, qty[, strategy]) or a mapping symbol -> qty. With a
`strategy` column the diff is per (strategy, symbol); without, targets must name each symbol
once. Deltas are rounded toward zero to whole lots (never past the target) and dropped when
their notional is under the minimum; `diff_targets` keeps the dropped rows with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from execution.models import Order, OrderType, Side, TimeInForce

DIFF_COLUMNS = [
    "strategy", "symbol", "leg", "current_qty", "target_qty", "delta", "order_qty",
    "price", "notional", "skip_reason",
]  # fmt: skip


def _per_symbol(value: float | Mapping[str, float] | None, symbol: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, Mapping):
        return float(value.get(symbol, default))
    return float(value)


def _round_to_lot(delta: float, lot: float) -> float:
    if lot <= 0:
        return delta
    lots = delta / lot
    # tolerate float noise (0.30000000000000004 / 0.1) before truncating toward zero
    lots = math.trunc(round(lots, 9))
    return round(lots * lot, 12)


def _positions_frame(positions: pd.DataFrame | Mapping[str, float] | None) -> pd.DataFrame:
    if positions is None:
        return pd.DataFrame({"symbol": pd.Series(dtype=object), "qty": pd.Series(dtype=float)})
    if isinstance(positions, Mapping):
        return pd.DataFrame(
            {"symbol": list(positions), "qty": [float(v) for v in positions.values()]}
        )
    missing = {"symbol", "qty"} - set(positions.columns)
    if missing:
        raise ValueError(f"positions frame lacks columns {sorted(missing)}")
    return positions


def diff_targets(
    targets: pd.DataFrame,
    positions: pd.DataFrame | Mapping[str, float] | None = None,
    *,
    equity: float | None = None,
    lot_sizes: float | Mapping[str, float] | None = None,
    min_notional: float | Mapping[str, float] | None = None,
    default_lot: float = 1.0,
    close_missing: bool = False,
) -> pd.DataFrame:
    """One row per target with current, target, raw and rounded delta, and why it was skipped."""
    t = targets.copy()
    for col in ("symbol", "strategy"):
        if col not in t.columns:
            raise ValueError(f"targets frame lacks column {col!r}")
    if "leg" not in t.columns:
        t["leg"] = None
    if "target_qty" not in t.columns:
        if "target_weight" not in t.columns or "price" not in t.columns:
            raise ValueError("targets need target_qty, or target_weight with price")
        if equity is None:
            raise ValueError("target_weight needs equity")
        t["target_qty"] = (
            t["target_weight"].astype(float) * float(equity) / t["price"].astype(float)
        )
    if "price" not in t.columns:
        t["price"] = np.nan
    pos = _positions_frame(positions)
    by_strategy = "strategy" in pos.columns
    keys = ["strategy", "symbol"] if by_strategy else ["symbol"]
    dup = t.duplicated(keys)
    if dup.any():
        raise ValueError(
            f"targets repeat {keys} (e.g. {t.loc[dup, keys].iloc[0].to_dict()}); "
            "pass positions with a strategy column or aggregate the targets"
        )
    current = pos.groupby(keys)["qty"].sum()
    if close_missing:
        held = current[current != 0].reset_index()
        if by_strategy:
            held = held[held["strategy"].isin(t["strategy"].unique())]
        else:
            if t["strategy"].nunique() != 1:
                raise ValueError(
                    "close_missing without position strategies needs a single strategy"
                )
            held["strategy"] = t["strategy"].iloc[0]
        extra = held.merge(t[keys], on=keys, how="left", indicator=True)
        extra = extra[extra["_merge"] == "left_only"]
        if len(extra):
            t = pd.concat(
                [
                    t,
                    pd.DataFrame(
                        {
                            "strategy": extra["strategy"].to_numpy(),
                            "symbol": extra["symbol"].to_numpy(),
                            "leg": None,
                            "target_qty": 0.0,
                            "price": np.nan,
                        }
                    ),
                ],
                ignore_index=True,
            )
    rows: list[dict[str, Any]] = []
    for r in t.itertuples(index=False):
        key = (r.strategy, r.symbol) if by_strategy else r.symbol
        cur = float(current.get(key, 0.0))
        target = float(r.target_qty)
        delta = target - cur
        lot = _per_symbol(lot_sizes, r.symbol, default_lot)
        qty = _round_to_lot(delta, lot)
        price = float(r.price) if pd.notna(r.price) else math.nan
        notional = abs(qty) * price if not math.isnan(price) else math.nan
        floor = _per_symbol(min_notional, r.symbol, 0.0)
        reason = None
        if not np.isfinite(target):
            reason = "target is not a number"
            qty = 0.0
        elif qty == 0:
            reason = (
                "no change"
                if abs(delta) < 1e-12
                else f"delta {delta:g} is under one lot of {lot:g}"
            )
        elif floor > 0 and math.isnan(notional):
            reason = f"no price to check minimum notional {floor:,.2f}"
        elif floor > 0 and notional < floor:
            reason = f"notional {notional:,.2f} < minimum {floor:,.2f}"
        rows.append(
            {
                "strategy": r.strategy,
                "symbol": r.symbol,
                "leg": None
                if r.leg is None or (isinstance(r.leg, float) and math.isnan(r.leg))
                else r.leg,
                "current_qty": cur,
                "target_qty": target,
                "delta": delta,
                "order_qty": 0.0 if reason else qty,
                "price": price,
                "notional": notional,
                "skip_reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=DIFF_COLUMNS)


def orders_from_targets(
    targets: pd.DataFrame,
    positions: pd.DataFrame | Mapping[str, float] | None = None,
    *,
    trade_date: dt.date,
    equity: float | None = None,
    lot_sizes: float | Mapping[str, float] | None = None,
    min_notional: float | Mapping[str, float] | None = None,
    default_lot: float = 1.0,
    close_missing: bool = False,
    intent: str = "rebalance",
    time_in_force: TimeInForce = TimeInForce.DAY,
) -> list[Order]:
    """Market orders that move the book to the targets: sells first (they free cash), then by symbol.

    Client ids come from (strategy, trade_date, symbol, leg, intent), so running this twice
    for the same day gives the same ids and the OMS can refuse to send a second copy.
    """
    diff = diff_targets(
        targets,
        positions,
        equity=equity,
        lot_sizes=lot_sizes,
        min_notional=min_notional,
        default_lot=default_lot,
        close_missing=close_missing,
    )
    todo = diff[diff["skip_reason"].isna()]
    orders = [
        Order.create(
            strategy=str(r.strategy),
            trade_date=trade_date,
            symbol=str(r.symbol),
            side=Side.BUY if r.order_qty > 0 else Side.SELL,
            qty=abs(float(r.order_qty)),
            leg=r.leg,
            intent=intent,
            order_type=OrderType.MARKET,
            time_in_force=time_in_force,
        )
        for r in todo.itertuples(index=False)
    ]
    return sorted(orders, key=lambda o: (o.side is Side.BUY, o.symbol, o.strategy, o.leg or ""))
