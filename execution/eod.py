"""What the EOD report needs from execution: packages (not loose legs) and reconciliation breaks.

`package_lines` says, per multi-leg package of the day, its legs, state and legging cost;
`break_lines` says, per symbol where a broker and the OMS disagree in the day's latest
reconciliation run at each broker (run on that UTC date), both quantities.
`packaged_order_ids` lets the report list the day's fills without the legs that the
package lines already cover.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from execution.packages import FLATTEN, PACKAGES
from quant_assets.schemas.tables import EXECUTION_ORDERS, EXECUTION_RECONCILIATION_BREAKS
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
