"""What to do at the open: each recommendation as one package and the action it asks for.

One definition, used by the SOD report, the Streamlit app and the API, so the three count
and word the day's recommendations the same way:

- A **recommendation** is one package: a single-leg strategy's position in one symbol, or
  a multi-leg strategy's whole package (pair, fly, switch: every leg of the strategy).
- Its **action** compares today's signed quantities (strategies.recommendations of the
  trading day: buy = +quantity, sell = -quantity, close/hold = 0) with the previous
  recommendation day's, leg by leg:
    enter    flat before, a position now
    exit     a position before, flat now (a `close` row, or a package that disappeared)
    reverse  a leg changes side
    resize   a leg's quantity changes by more than RESIZE_TOLERANCE of its previous size
    carry    held as before: nothing to trade (smaller drifts are not traded)
  With no earlier recommendation day stored, the previous book is flat: every position is
  a new entry (the `basis` says so).
- The order of a leg is its trade quantity (today - previous), signed (+ buy, - sell);
  `carry` packages trade nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

ACTIONS = ("enter", "exit", "reverse", "resize", "carry")
ACTION_LABELS = {  # singular, plural
    "enter": ("new entry", "new entries"),
    "exit": ("exit", "exits"),
    "reverse": ("reversal", "reversals"),
    "resize": ("size change", "size changes"),
    "carry": ("carried", "carried"),
}
RESIZE_TOLERANCE = 0.05
# Leg order of the multi-leg kinds (strategy.config LEGS): the first live leg gives the side.
LEG_ORDER = {"y": 0, "x": 1, "wing1": 0, "body": 1, "wing2": 2, "first": 0, "second": 1}
SIGN = {"buy": 1.0, "sell": -1.0}
TABLE = "strategies.recommendations"


def signed_qty(side: Any, quantity: Any) -> float:
    """+quantity for buy, -quantity for sell, 0 for close/hold (and a missing quantity)."""
    q = pd.to_numeric(quantity, errors="coerce")
    return float(SIGN.get(str(side), 0.0) * (0.0 if pd.isna(q) else q))


def package_ids(frame: pd.DataFrame) -> pd.Series:
    """Package id per row: 'strategy' for multi-leg strategies, 'strategy|symbol' otherwise."""
    if frame.empty:
        return pd.Series([], dtype=object, index=frame.index)
    multi = frame.groupby("strategy")["leg"].transform(lambda s: bool((s != "main").any()))
    return frame["strategy"].where(multi, frame["strategy"] + "|" + frame["symbol"])


def _leg_rank(leg: str) -> int:
    return LEG_ORDER.get(leg, 99)


@dataclass(frozen=True)
class Actions:
    """The day's packages (`packages`, one row each) and their legs (`legs`, one row each)."""

    day: dt.date | None
    previous_day: dt.date | None
    packages: pd.DataFrame
    legs: pd.DataFrame

    @property
    def basis(self) -> str:
        if self.previous_day is None:
            return "no earlier recommendation day stored: the previous book is flat"
        return f"against the recommendations of {self.previous_day.isoformat()}"

    def counts(self) -> dict[str, int]:
        """Packages per action, every action present (0 when none)."""
        got = self.packages["action"].value_counts() if len(self.packages) else {}
        return {a: int(got.get(a, 0)) for a in ACTIONS}

    def summary(self) -> str:
        """'12 recommendations: 3 new entries, 1 exit, 0 reversals, 2 size changes, 6 carried'."""
        n = len(self.packages)
        parts = [f"{k} {ACTION_LABELS[a][k != 1]}" for a, k in self.counts().items()]
        return f"{n} recommendation{'s' if n != 1 else ''}: " + ", ".join(parts)


def order_text(symbol: str, trade_qty: float) -> str:
    """'BUY 144 BRK.B' / 'SELL 0.25 BTC' / '' when nothing trades."""
    if not trade_qty:
        return ""
    verb = "BUY" if trade_qty > 0 else "SELL"
    return f"{verb} {abs(trade_qty):,.8g} {symbol}"


def classify(
    current: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    *,
    day: dt.date | None = None,
    previous_day: dt.date | None = None,
    tolerance: float = RESIZE_TOLERANCE,
) -> Actions:
    """Packages and legs of `current` (strategies.recommendations rows of one day) against
    `previous` (the rows of the previous recommendation day; None or empty = flat)."""
    cols = ["strategy", "symbol", "leg"]
    cur = current.copy()
    prev = previous.copy() if previous is not None else cur.iloc[0:0].copy()
    for frame in (cur, prev):
        frame["qty_signed"] = [
            signed_qty(s, q) for s, q in zip(frame["side"], frame["quantity"], strict=True)
        ]
    merged = cur.merge(
        prev[[*cols, "qty_signed", "side"]].rename(
            columns={"qty_signed": "prev_qty", "side": "prev_side"}
        ),
        on=cols,
        how="outer",
        indicator=True,
    )
    gone = merged["_merge"] == "right_only"  # held yesterday, no row today: an exit
    merged.loc[gone, "side"] = "close"
    merged.loc[gone, "qty_signed"] = 0.0
    for c in ("quantity", "notional", "target_weight"):
        if c in merged:
            merged.loc[gone, c] = 0.0
    merged["prev_qty"] = merged["prev_qty"].fillna(0.0).astype(float)
    merged["qty_signed"] = merged["qty_signed"].fillna(0.0).astype(float)
    merged["trade_qty"] = merged["qty_signed"] - merged["prev_qty"]
    merged["package"] = package_ids(merged)
    merged["leg_rank"] = merged["leg"].map(_leg_rank)
    merged = merged.sort_values(["package", "leg_rank", "symbol"], kind="stable")
    rows = []
    for pid, g in merged.groupby("package", sort=True):
        now, before = g["qty_signed"].to_numpy(float), g["prev_qty"].to_numpy(float)
        live_now, live_before = bool((now != 0).any()), bool((before != 0).any())
        if (g["side"] == "close").all() or (live_before and not live_now):
            action = "exit"
        elif live_now and not live_before:
            action = "enter"
        elif bool(((np.sign(now) * np.sign(before)) < 0).any()):
            action = "reverse"
        elif bool((np.abs(now - before) > tolerance * np.abs(before)).any()):
            action = "resize"
        else:
            action = "carry"
        notional = pd.to_numeric(g.get("notional"), errors="coerce").fillna(0.0)
        weight = pd.to_numeric(g.get("target_weight"), errors="coerce").fillna(0.0)
        legs = g["symbol"].tolist()
        orders = (
            []
            if action == "carry"
            else [order_text(s, q) for s, q in zip(g["symbol"], g["trade_qty"], strict=True)]
        )
        rows.append(
            {
                "package": pid,
                "strategy": g["strategy"].iloc[0],
                "symbol": "/".join(legs),
                "n_legs": len(legs),
                "multi_leg": bool((g["leg"] != "main").any()),
                "action": action,
                "orders": "; ".join(o for o in orders if o),
                "gross_notional": float(notional.abs().sum()),
                "net_notional": float(notional.sum()),
                "net_weight": float(weight.sum()),
            }
        )
    packages = pd.DataFrame(
        rows,
        columns=["package", "strategy", "symbol", "n_legs", "multi_leg", "action", "orders",
                 "gross_notional", "net_notional", "net_weight"],
    )  # fmt: skip
    if len(packages):
        order = {a: i for i, a in enumerate(ACTIONS)}
        packages = packages.sort_values(
            ["action", "strategy", "symbol"],
            key=lambda s: s.map(order) if s.name == "action" else s,
        ).reset_index(drop=True)
        merged["action"] = merged["package"].map(packages.set_index("package")["action"])
        merged.loc[merged["action"] == "carry", "trade_qty"] = 0.0  # drifts are not traded
    else:
        merged["action"] = pd.Series(dtype=object)
    legs_out = merged.drop(columns=["_merge", "leg_rank", "prev_side"]).reset_index(drop=True)
    return Actions(day, previous_day, packages, legs_out)


def previous_day(wh: Any, day: dt.date) -> dt.date | None:
    """The last recommendation day before `day` (None when there is none)."""
    d = wh.query(f"select max(date) as d from {TABLE} where date < ?", [day])
    if d.empty or pd.isna(d["d"].iloc[0]):
        return None
    return pd.Timestamp(d["d"].iloc[0]).date()


def read_actions(wh: Any, day: dt.date, current: pd.DataFrame | None = None) -> Actions:
    """classify() of `day`'s stored recommendations against the previous day's."""
    cur = current if current is not None else wh.read_table(TABLE, start=day, end=day)
    before = previous_day(wh, day)
    prev = wh.read_table(TABLE, start=before, end=before) if before is not None else None
    return classify(cur, prev, day=day, previous_day=before)


JSON_COLUMNS = ("conditions", "stats", "events", "scenario_pnl")


def parse_json_columns(
    frame: pd.DataFrame, columns: tuple[str, ...] = JSON_COLUMNS
) -> pd.DataFrame:
    """The recommendation table's JSON text columns as Python objects (None stays None)."""
    out = frame.copy()
    for c in columns:
        if c in out:
            out[c] = [_loads(v, c) for v in out[c]]
    return out


def _loads(value: Any, column: str) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{TABLE}.{column}: not valid JSON ({exc}): {value[:80]!r}") from None


def package_records(actions: Actions) -> list[dict[str, Any]]:
    """Packages with their legs, as plain dicts (the API's and the app's shape)."""
    out = []
    legs = actions.legs
    for p in actions.packages.to_dict("records"):
        mine = legs[legs["package"] == p["package"]]
        out.append(
            {
                **p,
                "legs": [
                    {
                        "symbol": r["symbol"],
                        "leg": r["leg"],
                        "side": r["side"],
                        "quantity": _float(r.get("quantity")),
                        "previous_quantity": abs(float(r["prev_qty"])),
                        "trade_quantity": float(r["trade_qty"]),
                        "order": order_text(r["symbol"], float(r["trade_qty"])),
                        "entry_price": _float(r.get("entry_price")),
                        "notional": _float(r.get("notional")),
                        "target_weight": _float(r.get("target_weight")),
                    }
                    for r in mine.to_dict("records")
                ],
            }
        )
    return out


def _float(x: Any) -> float | None:
    v = pd.to_numeric(x, errors="coerce")
    return None if pd.isna(v) or not np.isfinite(v) else float(v)


def counts_by_action(records: list[Mapping[str, Any]]) -> dict[str, int]:
    """Packages per action from package records (every action present)."""
    return {a: sum(1 for r in records if r["action"] == a) for a in ACTIONS}
