"""From approved recommendations to checked orders, the steps the orders asset wires.

Each step is testable on its own. Conventions this layer decides:
- Approval: every row of `strategies.recommendations` for the date is approved (the table
  has no approval column; the risk module upstream is the gate), unless
  `approved_strategies` names the strategies allowed to trade. Sample-data rows never
  reach a live broker.
- A recommendation is a target position: `side` is its direction (buy = long, sell =
  short, close = flat, hold = leave as is, no order) and `quantity` its size (its sign is
  ignored). Symbols a strategy holds but does not mention are left alone.
- The book the targets are diffed against is the OMS's per-strategy book at the brokers of
  the routes (execution.routing) before the trade date: filled quantities plus what is still working at the broker
  (submitted or partially filled). So re-running a day gives the same orders and ids.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from execution.models import Order, OrderStatus, Rejection, Side
from execution.oms import OMS
from execution.packages import group_legs
from execution.risk_checks import RiskCheck, RiskContext, first_rejection, with_kill_switch
from execution.targets import diff_targets, orders_from_targets
from quant_assets.schemas.tables import EXECUTION_ORDERS, OHLCV_DAILY, RECOMMENDATIONS
from quant_assets.warehouse import Warehouse

TARGET_COLUMNS = ["strategy", "symbol", "leg", "target_qty", "price"]
SKIP_COLUMNS = ["strategy", "symbol", "leg", "reason"]
_DIRECTION = {"buy": 1.0, "sell": -1.0, "close": 0.0}
_WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True)
class Targets:
    """Target positions per (strategy, symbol), and the recommendation rows that give none."""

    frame: pd.DataFrame  # TARGET_COLUMNS
    skipped: pd.DataFrame  # SKIP_COLUMNS


def read_recommendations(wh: Warehouse, day: dt.date) -> pd.DataFrame:
    return wh.read_table(RECOMMENDATIONS.fqn, start=day, end=day)


def targets_from_recommendations(
    recs: pd.DataFrame,
    *,
    approved_strategies: Collection[str] | None = None,
    allow_sample: bool = True,
) -> Targets:
    """Approved recommendation rows as target quantities; the rest with the reason why not."""
    keep, skipped = [], []
    for r in recs.to_dict("records"):
        side = str(r["side"]).lower()
        reason = None
        if approved_strategies and r["strategy"] not in approved_strategies:
            reason = "strategy not approved for execution"
        elif not allow_sample and bool(r.get("is_sample")):
            reason = "sample data never trades at a live broker"
        elif side == "hold":
            reason = "hold: no order"
        elif side not in _DIRECTION:
            reason = f"unknown side {r['side']!r} (buy, sell, hold or close)"
        if reason is not None:
            skipped.append({"strategy": r["strategy"], "symbol": r["symbol"], "leg": r["leg"],
                            "reason": reason})  # fmt: skip
            continue
        qty = float(r["quantity"]) if r["quantity"] is not None else math.nan
        keep.append(
            {
                "strategy": r["strategy"],
                "symbol": r["symbol"],
                "leg": r["leg"],
                "target_qty": 0.0 if side == "close" else _DIRECTION[side] * abs(qty),
                "price": r["entry_price"],
            }
        )
    frame = pd.DataFrame(keep, columns=TARGET_COLUMNS)
    if frame.duplicated(["strategy", "symbol"]).any():
        # two legs of one strategy on one symbol: one net target (the ids name both legs)
        frame = (
            frame.groupby(["strategy", "symbol"], as_index=False, sort=False)
            .agg(
                leg=("leg", lambda s: "+".join(sorted(map(str, s)))),
                target_qty=("target_qty", "sum"),
                price=("price", "first"),
            )
            .loc[:, TARGET_COLUMNS]
        )
    return Targets(frame, pd.DataFrame(skipped, columns=SKIP_COLUMNS))


def strategy_book(wh: Warehouse, broker: str | Collection[str], before: dt.date) -> pd.DataFrame:
    """Per (strategy, symbol) quantity at `broker` (or brokers) from orders dated before `before`.

    Filled quantities plus the unfilled rest of orders still working at the broker;
    orders never sent (`new`, e.g. dry runs) count for nothing.
    """
    cols = ["strategy", "symbol", "side", "qty", "filled_qty", "status"]
    df = wh.read_table(
        EXECUTION_ORDERS.fqn,
        end=before - dt.timedelta(days=1),
        where={"broker": [broker] if isinstance(broker, str) else sorted(broker)},
        columns=cols,
    )
    if df.empty:
        return pd.DataFrame({"strategy": [], "symbol": [], "qty": []}).astype(
            {"strategy": object, "symbol": object, "qty": float}
        )
    working = df["status"].isin([str(s) for s in _WORKING])
    qty = df["filled_qty"] + (df["qty"] - df["filled_qty"]).where(working, 0.0)
    signed = qty.where(df["side"] == str(Side.BUY), -qty)
    book = signed.groupby([df["strategy"], df["symbol"]]).sum().rename("qty").reset_index()
    return book[book["qty"].abs() > 1e-12].reset_index(drop=True)


def last_prices(
    wh: Warehouse,
    symbols: Iterable[str],
    on: dt.date,
    *,
    fallback: Mapping[str, float] | None = None,
    lookback_days: int = 10,
) -> dict[str, float]:
    """Latest close on or before `on` per symbol; `fallback` (entry prices) where no bar."""
    symbols = sorted(set(symbols))
    prices = {s: float(p) for s, p in (fallback or {}).items() if p is not None and p > 0}
    if not symbols:
        return prices
    bars = wh.read_table(
        OHLCV_DAILY.fqn,
        start=on - dt.timedelta(days=lookback_days),
        end=on,
        where={"symbol": symbols},
        columns=["symbol", "date", "close"],
    )
    if len(bars):
        latest = bars.sort_values("date").groupby("symbol")["close"].last()
        prices.update({str(s): float(p) for s, p in latest.items() if p > 0})
    return prices


def lot_sizes(symbols: Iterable[str], crypto: Collection[str], *, stock_lot: float,
              crypto_lot: float) -> dict[str, float]:  # fmt: skip
    """Whole shares for listed symbols, fractional coins for crypto."""
    return {s: crypto_lot if s in crypto else stock_lot for s in symbols}


@dataclass(frozen=True)
class Checked:
    order: Order
    rejection: Rejection | None


def pre_trade(
    orders: Sequence[Order], checks: Sequence[RiskCheck], context: RiskContext
) -> list[Checked]:
    """Each order checked against the book as the orders approved before it leave it."""
    out, ctx = [], context
    for order in orders:
        rejection = first_rejection(order, checks, ctx)
        if rejection is None:
            ctx = ctx.after(order)
        out.append(Checked(order, rejection))
    return out


# --- the orders asset's flow ---------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What the execution policy resource configures, without Dagster."""

    checks: Sequence[RiskCheck] = ()
    approved_strategies: Collection[str] = ()
    min_order_notional: float = 0.0
    stock_lot: float = 1.0
    crypto_lot: float = 1e-8


@dataclass(frozen=True)
class OrdersPlan:
    """The day's orders as the OMS now holds them, and what was decided on the way."""

    day: dt.date
    orders: list[Order]  # the OMS's state of every order of the plan
    created: list[str]  # client ids recorded by this run
    superseded: list[str]  # unsent orders of the day that this plan replaced (cancelled)
    skipped: pd.DataFrame  # SKIP_COLUMNS: recommendation rows or diffs that give no order
    prices: dict[str, float]
    broker: str  # the book's broker names, comma-separated
    kill_switch: bool

    @property
    def rejected(self) -> list[Order]:
        return [o for o in self.orders if o.status is OrderStatus.REJECTED]

    @property
    def accepted(self) -> list[Order]:
        return [o for o in self.orders if o.status is not OrderStatus.REJECTED]

    def gross_notional(self) -> float:
        return float(sum(o.qty * self.prices.get(o.symbol, math.nan) for o in self.accepted))


def book_broker_name(broker: object) -> str:
    """The broker whose book a dry run diffs against: the wrapped one if any."""
    inner = getattr(broker, "inner", None) if getattr(broker, "dry_run", False) else None
    return str(getattr(inner, "name", None) or getattr(broker, "name", "unknown"))


def book_brokers(broker: object) -> list[object]:
    """The brokers a plan diffs against: each route's broker of a `Router`, else `broker`.

    A symbol routes to one broker, so the book of every route's broker is the whole book.
    """
    routed = getattr(broker, "brokers", None)
    return list(routed.values()) if isinstance(routed, Mapping) else [broker]


def _same(a: Order, b: Order) -> bool:
    return (
        a.side is b.side
        and a.order_type is b.order_type
        and abs(a.qty - b.qty) <= 1e-9 * max(1.0, a.qty)
    )


def _never_sent(order: Order) -> bool:
    return order.broker is None and order.broker_order_id is None


def _revision(order: Order, k: int) -> Order:
    """The order under a new client id (intent `<intent>-r<k>`), for a re-plan of the day."""
    if k == 1:
        return order
    return Order.create(
        **order.model_dump(
            include={
                "strategy",
                "trade_date",
                "symbol",
                "side",
                "qty",
                "leg",
                "order_type",
                "time_in_force",
                "limit_price",
                "stop_price",
                "parent_id",
                "ratio",
            }
        ),
        intent=f"{order.intent}-r{k}",
    )


def _settle(
    oms: OMS, order: Order, checks: Sequence[RiskCheck], ctx: RiskContext
) -> tuple[Order | None, bool, str | None, list[str]]:
    """Record `order` once: (OMS order, created now, skip reason, ids cancelled as superseded).

    A re-run finds the same id and keeps it; a changed plan supersedes an unsent order
    with a revision under a new id; an order already sent is never re-planned the same day.
    """
    cancelled: list[str] = []
    for k in range(1, 100):
        cand = _revision(order, k)
        found = oms.get(cand.client_order_id)
        if found is None:
            rejection = first_rejection(cand, checks, ctx)
            oms.create(cand)
            if rejection is not None:
                return (
                    oms.transition(cand.client_order_id, OrderStatus.REJECTED, reason=str(rejection)),
                    True, None, cancelled,
                )  # fmt: skip
            return cand, True, None, cancelled
        same = _same(found, cand)
        if not _never_sent(found):
            if same:
                return found, False, None, cancelled
            return (
                None,
                False,
                f"already sent today as {found.describe()}; not re-planned",
                cancelled,
            )
        if found.status is OrderStatus.NEW:
            if same:
                return found, False, None, cancelled
            oms.transition(found.client_order_id, OrderStatus.CANCELLED,
                           reason=f"superseded by {cand.describe()}")  # fmt: skip
            cancelled.append(found.client_order_id)
            continue
        still_refused = same and found.status is OrderStatus.REJECTED
        if still_refused and first_rejection(cand, checks, ctx) is not None:
            return found, False, None, cancelled  # keep the first record of the refusal
        # unsent and cancelled (superseded), or rejected but now passing: a new revision
    raise RuntimeError(f"too many revisions of {order.client_order_id}")


def plan_orders(
    wh: Warehouse,
    broker: object,  # one broker, or a Router (every route's broker)
    *,
    day: dt.date,
    policy: Policy,
    kill_switch_on: bool,
    allow_sample: bool,
    crypto: Collection[str] = (),
    package_kinds: Mapping[str, str] | None = None,
) -> OrdersPlan:
    """Recommendations of `day` -> target positions -> checked orders recorded in the OMS (not sent)."""
    oms = OMS(wh)
    recs = read_recommendations(wh, day)
    targets = targets_from_recommendations(
        recs, approved_strategies=policy.approved_strategies, allow_sample=allow_sample
    )
    brokers = book_brokers(broker)
    names = sorted({book_broker_name(b) for b in brokers})
    book = strategy_book(wh, names, day)
    symbols = set(targets.frame["symbol"]) | set(book["symbol"])
    entry = dict(zip(targets.frame["symbol"], targets.frame["price"], strict=True))
    prices = last_prices(wh, symbols, day, fallback=entry)
    sized = targets.frame.assign(price=[prices.get(s, math.nan) for s in targets.frame["symbol"]])
    kw = {
        "equity": None,
        "lot_sizes": lot_sizes(
            symbols, set(crypto), stock_lot=policy.stock_lot, crypto_lot=policy.crypto_lot
        ),
        "min_notional": policy.min_order_notional or None,
    }
    diff = diff_targets(sized, book, **kw)
    skips = diff[diff["skip_reason"].notna() & (diff["skip_reason"] != "no change")]
    skipped = [targets.skipped, skips.rename(columns={"skip_reason": "reason"})[SKIP_COLUMNS]]
    planned = orders_from_targets(sized, book, trade_date=day, **kw)
    if package_kinds:  # legs of a pair/switch/fly strategy go out as one package
        planned = group_legs(planned, package_kinds)
    positions: dict[str, float] = {}
    for b in brokers:
        for p in b.positions():  # type: ignore[attr-defined]
            positions[p.symbol] = positions.get(p.symbol, 0.0) + p.qty
    ctx = RiskContext(positions=positions, last_prices=prices, kill_switch=kill_switch_on)
    checks = with_kill_switch(list(policy.checks))
    kept, created, superseded, late = [], [], [], []
    for order in planned:
        stored, new, reason, cancelled = _settle(oms, order, checks, ctx)
        superseded += cancelled
        if stored is None:
            late.append({"strategy": order.strategy, "symbol": order.symbol, "leg": order.leg,
                         "reason": reason})  # fmt: skip
            continue
        kept.append(stored)
        if new:
            created.append(stored.client_order_id)
        if stored.status is not OrderStatus.REJECTED:
            ctx = ctx.after(stored)
    keep_ids = {o.client_order_id for o in kept}
    for stale in oms.orders(status=OrderStatus.NEW, trade_date=day):
        if stale.client_order_id not in keep_ids:
            oms.transition(stale.client_order_id, OrderStatus.CANCELLED,
                           reason="superseded: not in the latest plan of the day")  # fmt: skip
            superseded.append(stale.client_order_id)
    skipped.append(pd.DataFrame(late, columns=SKIP_COLUMNS))
    return OrdersPlan(
        day=day,
        orders=kept,
        created=created,
        superseded=superseded,
        skipped=pd.concat([s for s in skipped if len(s)] or [skipped[0]], ignore_index=True),
        prices=prices,
        broker=", ".join(names),
        kill_switch=kill_switch_on,
    )
