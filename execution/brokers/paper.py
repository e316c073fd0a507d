"""The paper broker (default): fills from warehouse bars with the backtester's cost model.

Fill rules, per order, on the symbol's daily bars in `market_data.ohlcv_daily`. An order's
trade date is the session it is for (the decision partition's key), decided on the bars
before it, so the bar it trades on is the trade date's (or the next one present):
- `fill="next_open"` (default, as the backtester: the open after the decision bar): a
  market order fills at that bar's open. `fill="same_close"`: at that bar's close.
- limit buy: at the open if open <= limit, else at the limit if low <= limit (next_open);
  at the close if close <= limit (same_close). Sells mirror. Stops trigger the same way
  through the high/low, then fill like a market (stop) or a limit (stop-limit) order.
- market and stop fills pay the cost model's half-spread and slippage; limit fills are
  capped at the limit. Commission is charged on every fill.
- a DAY order that does not fill on its bar expires (cancelled); GTC keeps trying.
A bar that is not loaded yet leaves the order open: every call to the broker first tries
to fill open orders against the bars present, as time passing would at a real broker.
State (orders, positions, cash) lives in the `execution` schema, so it survives restarts.
Its one-row reads and writes use the warehouse's row path (`read_rows`, `write_rows`), which
skips the DataFrame conversions a one-row statement does not need.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any, Literal

import numpy as np
import pandas as pd

from execution.brokers.base import AccountInfo, BrokerOrder, DuplicateClientOrderId
from execution.fill_costs import price_fill
from execution.models import Fill, Order, OrderStatus, OrderType, Position, Side, TimeInForce
from quant_assets.schemas.tables import (
    EXECUTION_ACCOUNTS,
    EXECUTION_PAPER_ORDERS,
    EXECUTION_POSITIONS,
    OHLCV_DAILY,
)
from quant_assets.sim.costs import CostModel
from quant_assets.warehouse import RowWrite, Warehouse

FillAt = Literal["next_open", "same_close"]
PAPER_ORDERS = EXECUTION_PAPER_ORDERS.fqn
POSITIONS = EXECUTION_POSITIONS.fqn
ACCOUNTS = EXECUTION_ACCOUNTS.fqn


def _opt(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _day(value: Any) -> dt.date | None:
    """A stored date column's value: rows read as frames hold Timestamps (NaT for none)."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _match(row: dict[str, Any], bar: pd.Series, fill: FillAt) -> tuple[float, bool] | None:
    """(base price, is_limit_fill) if the order trades on this bar, else None."""
    buy = row["side"] == "buy"
    otype = OrderType(row["order_type"])
    o, h, lo, c = (float(bar[k]) for k in ("open", "high", "low", "close"))
    ref = o if fill == "next_open" else c
    limit, stop = _opt(row["limit_price"]), _opt(row["stop_price"])
    if otype in (OrderType.STOP, OrderType.STOP_LIMIT):
        if fill == "next_open":
            if (ref >= stop) if buy else (ref <= stop):
                trigger = ref
            elif (h >= stop) if buy else (lo <= stop):
                trigger = stop
            else:
                return None
        else:
            if not ((c >= stop) if buy else (c <= stop)):
                return None
            trigger = c
        if otype is OrderType.STOP:
            return trigger, False
        ok = trigger <= limit if buy else trigger >= limit
        return (trigger, True) if ok else None
    if otype is OrderType.MARKET:
        return ref, False
    if (ref <= limit) if buy else (ref >= limit):
        return ref, True
    if fill == "next_open" and ((lo <= limit) if buy else (h >= limit)):
        return limit, True
    return None


class PaperBroker:
    """Simulated broker over the warehouse; see the module docstring for its fill rules."""

    dry_run = False

    def __init__(
        self,
        warehouse: Warehouse,
        *,
        account: str = "paper",
        costs: CostModel | None = None,
        fill: FillAt = "next_open",
        initial_cash: float = 100_000.0,
        price_source: str | None = None,
        history_days: int = 120,
        name: str = "paper",
    ):
        self.wh = warehouse
        self.account_id = account
        self.costs = costs or CostModel()
        self.fill = fill
        self.initial_cash = float(initial_cash)
        self.price_source = price_source
        self.history_days = history_days
        self.name = name

    # --- protocol --------------------------------------------------------------------------

    def submit(self, order: Order) -> BrokerOrder:
        if self._row(order.client_order_id) is not None:
            raise DuplicateClientOrderId(f"client order id {order.client_order_id} already used")
        self._ensure_account()
        now = pd.Timestamp.now(tz="UTC")
        row = {
            "account": self.account_id,
            "client_order_id": order.client_order_id,
            "broker_order_id": f"paper-{uuid.uuid4().hex[:16]}",
            "symbol": order.symbol,
            "side": str(order.side),
            "qty": order.qty,
            "order_type": str(order.order_type),
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "time_in_force": str(order.time_in_force),
            "trade_date": pd.Timestamp(order.trade_date),
            "status": str(OrderStatus.SUBMITTED),
            "filled_qty": 0.0,
            "fill_price": None,
            "commission": None,
            "spread_cost": None,
            "slippage_cost": None,
            "fill_date": None,
            "reason": None,
            "submitted_at": now,
            "updated_at": now,
        }
        if self._bars(order.symbol, None).empty:
            row.update(status=str(OrderStatus.REJECTED), reason=f"no prices for {order.symbol}")
            self._save_order(row)
        else:
            self._save_order(row)
            row = self._try_fill(row)
        return self._report(row)

    def cancel(self, client_order_id: str, symbol: str | None = None) -> BrokerOrder | None:
        self._advance()
        row = self._row(client_order_id)
        if row is None:
            return None
        if row["status"] == OrderStatus.SUBMITTED:
            row.update(status=str(OrderStatus.CANCELLED), updated_at=pd.Timestamp.now(tz="UTC"))
            self._save_order(row)
        return self._report(row)

    def open_orders(self) -> list[BrokerOrder]:
        self._advance()
        return [self._report(r) for r in self._rows(status=OrderStatus.SUBMITTED)]

    def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> BrokerOrder | None:
        self._advance()
        row = self._row(client_order_id)
        return None if row is None else self._report(row)

    def positions(self) -> list[Position]:
        self._advance()
        df = self.wh.read_table(POSITIONS, where={"account": self.account_id})
        return [
            Position(symbol=r["symbol"], qty=float(r["qty"]), avg_price=_opt(r["avg_price"]))
            for r in df.to_dict("records")
            if abs(r["qty"]) > 1e-12
        ]

    def account(self) -> AccountInfo:
        self._advance()
        cash = self._cash()
        equity = cash
        for p in self.positions():
            bars = self._bars(p.symbol, None)
            equity += p.qty * float(bars["close"].iloc[-1])
        return AccountInfo(cash=cash, equity=equity, buying_power=None)

    def fills(self, since: dt.datetime | None = None) -> list[Fill]:
        self._advance()
        out = []
        for r in self._rows(status=OrderStatus.FILLED):
            fill_time = pd.Timestamp(r["fill_date"]).tz_localize("UTC").to_pydatetime()
            if since is not None and fill_time < since:
                continue
            out.append(
                Fill(
                    broker=self.name,
                    fill_id=f"{r['client_order_id']}-1",
                    client_order_id=r["client_order_id"],
                    symbol=r["symbol"],
                    side=Side(r["side"]),
                    qty=float(r["filled_qty"]),
                    price=float(r["fill_price"]),
                    commission=float(r["commission"]),
                    spread_cost=float(r["spread_cost"]),
                    slippage_cost=float(r["slippage_cost"]),
                    fill_time=fill_time,
                    trade_date=pd.Timestamp(r["fill_date"]).date(),
                )
            )
        return out

    # --- filling ---------------------------------------------------------------------------

    def _advance(self) -> None:
        for row in self._rows(status=OrderStatus.SUBMITTED):
            self._try_fill(row)

    def _try_fill(self, row: dict[str, Any]) -> dict[str, Any]:
        trade_date = pd.Timestamp(row["trade_date"])
        bars = self._bars(row["symbol"], trade_date - pd.Timedelta(days=self.history_days))
        # the trade date's bar, or the first one after it if that day has none
        eligible = np.flatnonzero((bars["date"] >= trade_date).to_numpy())
        if row["time_in_force"] == TimeInForce.DAY:
            eligible = eligible[:1]
        for i in eligible:
            hit = _match(row, bars.iloc[i], self.fill)
            if hit is not None:
                return self._book_fill(row, bars.iloc[: i + 1], *hit)
        if row["time_in_force"] == TimeInForce.DAY and len(eligible):
            row.update(status=str(OrderStatus.CANCELLED), reason="day order expired unfilled",
                       updated_at=pd.Timestamp.now(tz="UTC"))  # fmt: skip
            self._save_order(row)
        return row

    def _book_fill(
        self, row: dict[str, Any], history: pd.DataFrame, base: float, at_limit: bool
    ) -> dict[str, Any]:
        sign = 1 if row["side"] == "buy" else -1
        qty = float(row["qty"])
        priced = price_fill(
            self.costs,
            sign=sign,
            qty=qty,
            base=base,
            high=history["high"].to_numpy(),
            low=history["low"].to_numpy(),
            close=history["close"].to_numpy(),
            lag=1 if self.fill == "next_open" else 0,
        )
        price, spread_cost, slip_cost, commission = (
            priced.price,
            priced.spread_cost,
            priced.slippage_cost,
            priced.commission,
        )
        if at_limit:  # a limit order never pays beyond its limit
            limit = float(row["limit_price"])
            price = min(price, limit) if sign > 0 else max(price, limit)
            spread_cost = slip_cost = 0.0
            commission = float(self.costs.commission.amount(np.array([qty]), np.array([price]))[0])
        row.update(
            status=str(OrderStatus.FILLED),
            filled_qty=qty,
            fill_price=price,
            commission=commission,
            spread_cost=spread_cost,
            slippage_cost=slip_cost,
            fill_date=history["date"].iloc[-1],
            updated_at=pd.Timestamp.now(tz="UTC"),
        )
        self._save_order(row)
        self._apply_to_book(row["symbol"], sign * qty, price, commission)
        return row

    def _apply_to_book(self, symbol: str, dq: float, price: float, commission: float) -> None:
        now = pd.Timestamp.now(tz="UTC")
        rows = self.wh.read_rows(POSITIONS, where={"account": self.account_id, "symbol": symbol})
        q0 = float(rows[0]["qty"]) if rows else 0.0
        avg0 = _opt(rows[0]["avg_price"]) if rows else None
        q1 = q0 + dq
        if abs(q1) < 1e-12:
            q1, avg1 = 0.0, None
        elif q0 == 0 or q0 * q1 < 0:
            avg1 = price  # opened or flipped
        elif abs(q1) > abs(q0):
            avg1 = (abs(q0) * (avg0 or price) + abs(dq) * price) / abs(q1)
        else:
            avg1 = avg0  # reduced: the cost basis of what remains is unchanged
        pos = {
            "account": self.account_id,
            "symbol": symbol,
            "qty": q1,
            "avg_price": avg1,
            "updated_at": now,
        }
        self.wh.write_rows(RowWrite(POSITIONS, [pos], upsert=True))
        cash = self._cash() - dq * price - commission
        acct = {
            "account": self.account_id,
            "cash": cash,
            "initial_cash": self.initial_cash,
            "updated_at": now,
        }
        self.wh.write_rows(RowWrite(ACCOUNTS, [acct], upsert=True))

    # --- storage ---------------------------------------------------------------------------

    def _ensure_account(self) -> None:
        if not self.wh.read_rows(ACCOUNTS, where={"account": self.account_id}):
            row = {"account": self.account_id, "cash": self.initial_cash, "initial_cash": self.initial_cash,
                   "updated_at": pd.Timestamp.now(tz="UTC")}  # fmt: skip
            self.wh.write_rows(RowWrite(ACCOUNTS, [row], upsert=True))

    def _cash(self) -> float:
        rows = self.wh.read_rows(ACCOUNTS, where={"account": self.account_id}, columns=["cash"])
        return float(rows[0]["cash"]) if rows else self.initial_cash

    def _bars(self, symbol: str, start: pd.Timestamp | None) -> pd.DataFrame:
        where: dict[str, Any] = {"symbol": symbol}
        if self.price_source is not None:
            where["source"] = self.price_source
        kw: dict[str, Any] = {
            "where": where,
            "columns": ["date", "open", "high", "low", "close", "source"],
        }
        if start is not None:
            kw.update(start=start.date(), end=dt.date(9999, 12, 31))
        df = self.wh.read_table(OHLCV_DAILY.fqn, **kw)
        if df["source"].nunique() > 1:  # several vendors: use the one with the most bars
            df = df[df["source"] == df["source"].value_counts().idxmax()]
        return df.sort_values("date").reset_index(drop=True)

    def _rows(self, status: OrderStatus | None = None) -> list[dict[str, Any]]:
        where: dict[str, Any] = {"account": self.account_id}
        if status is not None:
            where["status"] = str(status)
        return self.wh.read_table(PAPER_ORDERS, where=where).to_dict("records")

    def _row(self, client_order_id: str) -> dict[str, Any] | None:
        rows = self.wh.read_rows(
            PAPER_ORDERS, where={"account": self.account_id, "client_order_id": client_order_id}
        )
        return rows[0] if rows else None

    def _save_order(self, row: dict[str, Any]) -> None:
        stored = {**row, "trade_date": _day(row["trade_date"]), "fill_date": _day(row["fill_date"])}
        self.wh.write_rows(RowWrite(PAPER_ORDERS, [stored], upsert=True))

    def _report(self, row: dict[str, Any]) -> BrokerOrder:
        return BrokerOrder(
            client_order_id=row["client_order_id"],
            broker_order_id=row["broker_order_id"],
            symbol=row["symbol"],
            side=row["side"],
            qty=float(row["qty"]),
            status=OrderStatus(row["status"]),
            filled_qty=float(row["filled_qty"]),
            avg_fill_price=_opt(row["fill_price"]),
            reason=_opt(row["reason"]),
        )
