"""What the EOD report needs from execution: packages (not loose legs) and reconciliation breaks.

`package_lines` says, per multi-leg package of the day, its legs, state and legging cost;
`break_lines` says, per symbol where a broker and the OMS disagree in the day's latest
reconciliation run at each broker (run on that UTC date), both quantities.
`packaged_order_ids` lets the report list the day's fills without the legs that the
package lines already cover. `fills_pnl` is the day's PnL of what the brokers actually
did, from execution.fills and the session's closes (formula on the function).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from execution.packages import FLATTEN, PACKAGES
from quant_assets.schemas.tables import (
    EXECUTION_FILLS,
    EXECUTION_ORDERS,
    EXECUTION_RECONCILIATION_BREAKS,
    OHLCV_DAILY,
)
from quant_assets.warehouse import Warehouse


def _packages(wh: Warehouse, day: dt.date) -> pd.DataFrame:
    return wh.read_table(PACKAGES, start=day, end=day)


def packaged_order_ids(wh: Warehouse, client_order_ids: list[str]) -> set[str]:
    """Those of `client_order_ids` that are package legs or unwinds (they have a parent id)."""
    if not client_order_ids:
        return set()
    orders = wh.read_table(EXECUTION_ORDERS.fqn, where={"client_order_id": list(client_order_ids)},
                           columns=["client_order_id", "parent_id"])  # fmt: skip
    return set(orders.loc[orders["parent_id"].notna(), "client_order_id"])


def package_lines(wh: Warehouse, day: dt.date) -> list[str]:
    """`fly SPY*1/QQQ*-2/IWM*1 (fly): flattened: leg fly1 (QQQ) rejected: ...; legging cost 12.34`."""
    out = []
    for r in _packages(wh, day).sort_values("parent_id").to_dict("records"):
        orders = wh.read_table(EXECUTION_ORDERS.fqn, where={"parent_id": r["parent_id"]})
        unwinds = int((orders["intent"] == FLATTEN).sum()) if len(orders) else 0
        cost = r["legging_cost"]
        cost_text = "n/a (no fill prices)" if pd.isna(cost) else f"{cost:,.2f}"
        reason = "" if pd.isna(r["reason"]) or not r["reason"] else f" ({r['reason']})"
        out.append(
            f"package {r['kind']} {r['legs']} [{r['strategy']}, {r['broker']}, {r['mode']}]: "
            f"{r['status']}{reason}; {unwinds} unwind order(s); legging cost {cost_text}"
        )
    return out


def break_lines(wh: Warehouse, day: dt.date) -> list[str]:
    """One line per break of each broker's latest reconciliation run on `day` (UTC)."""
    df = wh.read_table(EXECUTION_RECONCILIATION_BREAKS.fqn)
    if df.empty:
        return []
    times = pd.to_datetime(df["run_time"], utc=True)
    df = df[times.dt.date == day].assign(_t=times[times.dt.date == day])
    out = []
    for broker, rows in df.groupby("broker"):
        latest = rows[rows["run_id"] == rows.sort_values("_t")["run_id"].iloc[-1]]
        for r in latest.sort_values("symbol").to_dict("records"):
            out.append(
                f"reconciliation break at {broker}: {r['symbol']} OMS {r['oms_qty']:g} vs broker "
                f"{r['broker_qty']:g} (diff {r['diff']:+g})"
            )
    return out


FILLS_PNL_COLUMNS = ["symbol", "held_qty", "prev_close", "traded_qty", "close", "commission", "pnl"]


def _closes(
    wh: Warehouse, symbols: list[str], day: dt.date, lookback_days: int = 10
) -> pd.DataFrame:
    """Daily closes of `symbols` up to `day` (one vendor per symbol: the one with most bars,
    as the paper broker prices fills)."""
    bars = wh.read_table(OHLCV_DAILY.fqn, start=day - dt.timedelta(days=lookback_days), end=day,
                         where={"symbol": symbols}, columns=["symbol", "date", "close", "source"])  # fmt: skip
    if bars.empty:
        return bars
    n = bars.groupby(["symbol", "source"])["date"].transform("size")
    top = n == n.groupby(bars["symbol"]).transform("max")
    bars = bars[top].assign(date=pd.to_datetime(bars["date"]).dt.date)
    return bars.drop_duplicates(["symbol", "date"]).sort_values(["symbol", "date"])


def fills_pnl(wh: Warehouse, day: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """The day's PnL per symbol from the brokers' fills, marked to the session's close.

    For each symbol, with q the signed quantity of a fill (buy +, sell -), p its price and
    c its commission:
        pnl = H * (close_day - close_prev) + sum over the day's fills of q * (close_day - p) - c
    where H is the position held into the day (the signed sum of all earlier fills) and
    close_prev the last close before the day. A symbol with no close on the day has no PnL
    (a note says so; the bar may come later, e.g. a crypto day still open).
    """
    fills = wh.read_table(EXECUTION_FILLS.fqn, end=day)
    if fills.empty:
        return pd.DataFrame(columns=FILLS_PNL_COLUMNS), []
    fills = fills.assign(
        trade_date=pd.to_datetime(fills["trade_date"]).dt.date,
        signed=fills["qty"].where(fills["side"] == "buy", -fills["qty"]),
    )
    today = fills[fills["trade_date"] == day]
    before = fills[fills["trade_date"] < day]
    held = before.groupby("symbol")["signed"].sum()
    held = held[held.abs() > 1e-12]
    symbols = sorted(set(today["symbol"]) | set(held.index))
    closes = _closes(wh, symbols, day)
    rows, notes = [], []
    for symbol in symbols:
        bars = closes[closes["symbol"] == symbol] if len(closes) else closes
        now = bars[bars["date"] == day]
        prev = bars[bars["date"] < day]
        h = float(held.get(symbol, 0.0))
        if now.empty or (h and prev.empty):
            notes.append(f"fills PnL: no close of {day} (or before it) for {symbol}; left out")
            continue
        close = float(now["close"].iloc[0])
        prev_close = float(prev["close"].iloc[-1]) if len(prev) else float("nan")
        mine = today[today["symbol"] == symbol]
        pnl = float((mine["signed"] * (close - mine["price"])).sum() - mine["commission"].sum())
        if h:
            pnl += h * (close - prev_close)
        rows.append(
            {"symbol": symbol, "held_qty": h, "prev_close": prev_close,
             "traded_qty": float(mine["signed"].sum()), "close": close,
             "commission": float(mine["commission"].sum()), "pnl": pnl}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=FILLS_PNL_COLUMNS), notes
