"""Multi-leg packages: the legs of a pair, switch or fly go out as one unit, or are unwound.

- A broker with combo orders (IBKR, `submit_combo`) gets the legs as one BAG order when
  every leg routes to it: the venue fills the package, not single legs.
- Otherwise the legs go out one after another (coordinated legs), the kill switch read
  again before each. A leg the broker rejects (or that cannot be sent) cancels the legs
  not yet sent and those still working, and flattens what filled with opposite market
  orders (intent `flatten`, same parent id), so the book ends as it began.
- Legging risk starts at the first fill: a package some of whose legs filled and others
  did not within `timeout` seconds of that fill is broken the same way. A package with
  no fill is just working (a paper order waits for its session's bar); if every leg ends
  cancelled without a fill it is `cancelled`, flat, at no cost.
- Legging cost, in money: what the package's fills (legs and unwinds) cost against the
  reference prices at decision, commissions included. For a flattened package that is
  the round trip's loss; for a filled one, its slippage against the decision prices.
State lives in `execution.packages` (one row per parent id) beside the legs in
`execution.orders`, so `advance_package` can pick a package up again after a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from execution import kill_switch
from execution.brokers.base import Broker, BrokerError, OrderRejected
from execution.client_ids import client_order_id
from execution.models import MultiLegOrder, Order, OrderStatus, Side
from execution.oms import OMS
from execution.risk_checks import RiskCheck, RiskContext, first_rejection, with_kill_switch
from execution.submit import SubmitResult, submit_orders
from quant_assets.schemas.tables import EXECUTION_FILLS, EXECUTION_PACKAGES
from quant_assets.settings import Settings

PACKAGES = EXECUTION_PACKAGES.fqn
FLATTEN = "flatten"
FINAL = frozenset({"filled", "flattened", "cancelled", "rejected"})
BrokerFor = Callable[[str], Broker]


@dataclass(frozen=True)
class PackageResult:
    parent_id: str
    kind: str
    status: str  # working | filled | flattening | flattened | cancelled | rejected | dry_run
    legs: list[SubmitResult] = field(default_factory=list)
    unwinds: list[SubmitResult] = field(default_factory=list)
    legging_cost: float | None = None
    reason: str | None = None


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def package_record(oms: OMS, parent_id: str) -> dict[str, Any] | None:
    df = oms.warehouse.read_table(PACKAGES, where={"parent_id": parent_id})
    return df.iloc[0].to_dict() if len(df) else None


def _save(oms: OMS, row: Mapping[str, Any]) -> None:
    row = {**row, "updated_at": _now()}
    for key in ("created_at", "first_fill_at"):  # read back naive from some backends
        value = _opt(row.get(key))
        row[key] = value
        if value is not None:
            ts = pd.Timestamp(value)
            row[key] = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    oms.warehouse.upsert(PACKAGES, pd.DataFrame([row], columns=EXECUTION_PACKAGES.column_names))


def package_of(legs: Sequence[Order], kind: str | None = None) -> MultiLegOrder:
    """The legs sharing one parent id as a `MultiLegOrder` (kind inferred from the ratios)."""
    parents = {leg.parent_id for leg in legs}
    if len(parents) != 1 or None in parents:
        raise ValueError(
            f"legs of one package share one parent id, got {sorted(map(str, parents))}"
        )
    if kind is None:
        kind = "fly" if len(legs) == 3 else "pair"
    return MultiLegOrder(parent_id=str(legs[0].parent_id), kind=kind, legs=tuple(legs))  # type: ignore[arg-type]


def group_legs(orders: Sequence[Order], kinds: Mapping[str, str]) -> list[Order]:
    """Give the orders of each multi-leg strategy (kinds: strategy -> pair/switch/fly) one parent id.

    A strategy's orders of one date and intent become one package when it has two or more
    of them: its legs then go out together (execute_package). The parent id is derived
    from (strategy, date, kind and symbols, intent), so a re-plan gives the same one.
    """
    groups: dict[tuple[str, dt.date, str], list[Order]] = {}
    for o in orders:
        if kinds.get(o.strategy) in ("pair", "switch", "fly") and o.parent_id is None:
            groups.setdefault((o.strategy, o.trade_date, o.intent), []).append(o)
    parents: dict[str, tuple[str, int]] = {}
    for (strategy, day, intent), legs in groups.items():
        if len(legs) < 2:
            continue
        name = f"{kinds[strategy]}:" + "/".join(sorted(leg.symbol for leg in legs))
        pid = client_order_id(strategy, day, name, None, intent)
        for i, leg in enumerate(sorted(legs, key=lambda o: o.symbol)):
            parents[leg.client_order_id] = (pid, i)
    out = []
    for o in orders:
        if o.client_order_id in parents:
            pid, i = parents[o.client_order_id]
            o = o.model_copy(
                update={"parent_id": pid, "ratio": o.signed_qty, "leg": o.leg or f"leg{i}"}
            )
        out.append(o)
    return out


def unwind_order(leg: Order, qty: float) -> Order:
    """The market order that takes back `qty` of a filled leg (deterministic client id)."""
    label = f"{leg.leg or 'leg'}-flat"
    return Order(
        client_order_id=client_order_id(
            leg.strategy, leg.trade_date, leg.symbol, f"{leg.parent_id}:{label}", FLATTEN
        ),
        strategy=leg.strategy,
        trade_date=leg.trade_date,
        symbol=leg.symbol,
        side=Side.SELL if leg.side is Side.BUY else Side.BUY,
        qty=qty,
        leg=label,
        intent=FLATTEN,
        parent_id=leg.parent_id,
    )


def legging_cost(oms: OMS, orders: Sequence[Order], reference: Mapping[str, float]) -> float | None:
    """Money the package's fills cost against the reference prices, commissions included."""
    total = 0.0
    ids = [o.client_order_id for o in orders if o.filled_qty > 0]
    fills = (
        oms.warehouse.read_table(EXECUTION_FILLS.fqn, where={"client_order_id": ids})
        if ids
        else None
    )
    commission = float(fills["commission"].sum()) if fills is not None and len(fills) else 0.0
    for o in orders:
        if o.filled_qty <= 0:
            continue
        ref = reference.get(o.symbol)
        price = o.avg_fill_price
        if price is None and fills is not None and len(fills):
            mine = fills[fills["client_order_id"] == o.client_order_id]
            if len(mine):
                price = float((mine["qty"] * mine["price"]).sum() / mine["qty"].sum())
        if ref is None or price is None or not math.isfinite(ref):
            return None  # n/a: no reference or no fill price to measure against
        total += o.side.sign * o.filled_qty * (float(price) - float(ref))
    return total + commission


def _leg_reason(result: SubmitResult, leg: Order) -> str | None:
    if result.status is OrderStatus.REJECTED:
        return f"leg {leg.leg} ({leg.symbol}) rejected: {result.detail}"
    if result.outcome in ("pending", "not_attempted"):
        return f"leg {leg.leg} ({leg.symbol}) not sent: {result.detail}"
    return None


def execute_package(
    package: MultiLegOrder,
    broker_for: BrokerFor,
    oms: OMS,
    *,
    checks: Sequence[RiskCheck] = (),
    context: RiskContext | None = None,
    settings: Settings | None = None,
    timeout: float = 30.0,
    wait: float = 0.0,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> PackageResult:
    """Send a package once (combo or coordinated legs); unwind it if a leg fails.

    `wait` seconds are spent polling the brokers for fills before returning (0: return at
    once; `advance_package` later finishes the job). Re-running is safe: legs already sent
    are skipped or looked up by client id, and a finished package is left alone.
    """
    pid, legs = package.parent_id, list(package.legs)
    ctx = context or RiskContext()
    brokers = {leg.client_order_id: broker_for(leg.symbol) for leg in legs}
    first = brokers[legs[0].client_order_id]
    if any(getattr(b, "dry_run", False) for b in brokers.values()):
        results = []
        for leg in legs:
            results += submit_orders(
                [leg], brokers[leg.client_order_id], checks, oms, ctx, settings=settings
            )
        return PackageResult(pid, package.kind, "dry_run", legs=results)
    record = package_record(oms, pid)
    if record is not None and record["status"] in FINAL:
        skipped = [SubmitResult(leg.client_order_id, leg.symbol, "skipped_duplicate",
                                (oms.get(leg.client_order_id) or leg).status, "package already done")
                   for leg in legs]  # fmt: skip
        return PackageResult(pid, package.kind, str(record["status"]), legs=skipped,
                             legging_cost=_opt(record["legging_cost"]), reason=_opt(record["reason"]))  # fmt: skip
    one_broker = len({id(b) for b in brokers.values()}) == 1
    combo = one_broker and hasattr(first, "submit_combo")
    if record is None:
        reference = {leg.symbol: ctx.price(leg) for leg in legs}
        record = {
            "parent_id": pid,
            "kind": package.kind,
            "strategy": legs[0].strategy,
            "trade_date": pd.Timestamp(legs[0].trade_date),
            "broker": ",".join(sorted({b.name for b in brokers.values()})),
            "legs": "/".join(f"{leg.symbol}*{leg.side.sign * leg.qty:g}" for leg in legs),
            "status": "working",
            "mode": "combo" if combo else "legs",
            "reference_prices": json.dumps({k: v for k, v in reference.items() if v is not None}),
            "legging_cost": None,
            "reason": None,
            "first_fill_at": None,
            "created_at": _now(),
        }
        _save(oms, record)
    # Pre-trade: the legs are checked together; one refusal refuses them all.
    fresh = [leg for leg in legs if (oms.get(leg.client_order_id) or leg).status is OrderStatus.NEW]
    if kill_switch.is_active(oms.warehouse, settings):
        ctx = replace(ctx, kill_switch=True)
    running, rejection = ctx, None
    for leg in fresh:
        rejection = first_rejection(leg, with_kill_switch(checks), running)
        if rejection is not None:
            rejection = f"{rejection} (leg {leg.leg} of {pid})"
            break
        running = running.after(leg)
    if rejection is not None:
        results = []
        for leg in fresh:
            oms.create(leg)
            oms.transition(leg.client_order_id, OrderStatus.REJECTED, reason=rejection)
            results.append(SubmitResult(leg.client_order_id, leg.symbol, "rejected_pre_trade",
                                        OrderStatus.REJECTED, rejection))  # fmt: skip
        return _finish(oms, record, "rejected", rejection, results)
    if combo:
        results = _send_combo(legs, fresh, first, oms)
    else:
        results = []
        reason = None
        for i, leg in enumerate(legs):
            broker = brokers[leg.client_order_id]
            # checks passed for the group above; the kill switch is read again per leg
            res = submit_orders([leg], broker, [], oms, ctx, settings=settings)[0]
            results.append(res)
            reason = _leg_reason(res, leg)
            if reason is not None:
                for rest in legs[i + 1 :]:
                    oms.create(rest)
                    stored = oms.get(rest.client_order_id)
                    if stored is not None and stored.status is OrderStatus.NEW:
                        oms.transition(rest.client_order_id, OrderStatus.CANCELLED,
                                       reason=f"package broken: {reason}")  # fmt: skip
                    results.append(SubmitResult(rest.client_order_id, rest.symbol, "not_attempted",
                                                OrderStatus.CANCELLED, f"package broken: {reason}"))  # fmt: skip
                record = {**record, "reason": reason}
                _save(oms, record)
                break
    start = clock()
    while True:
        out = advance_package(pid, broker_for, oms, timeout=timeout, settings=settings)
        if out.status in FINAL or clock() - start >= wait:
            return PackageResult(pid, package.kind, out.status, legs=results, unwinds=out.unwinds,
                                 legging_cost=out.legging_cost, reason=out.reason)  # fmt: skip
        sleep(poll)


def _send_combo(legs: list[Order], fresh: list[Order], broker: Any, oms: OMS) -> list[SubmitResult]:
    if not fresh:
        return [SubmitResult(leg.client_order_id, leg.symbol, "skipped_duplicate",
                             (oms.get(leg.client_order_id) or leg).status, "sent before") for leg in legs]  # fmt: skip
    for leg in legs:
        oms.create(leg)
    try:
        reports = broker.submit_combo(legs)
    except OrderRejected as exc:
        return [SubmitResult(leg.client_order_id, leg.symbol, "rejected_by_broker",
                             oms.transition(leg.client_order_id, OrderStatus.REJECTED, broker=broker.name,
                                            reason=f"broker: {exc}").status, str(exc)) for leg in legs]  # fmt: skip
    except BrokerError as exc:
        return [SubmitResult(leg.client_order_id, leg.symbol, "pending", OrderStatus.NEW, str(exc)) for leg in legs]  # fmt: skip
    out = []
    for leg, report in zip(legs, reports, strict=True):
        synced = oms.sync(leg.client_order_id, report, broker=broker.name)
        out.append(SubmitResult(leg.client_order_id, leg.symbol, "sent", synced.status, "combo"))
    return out


def _opt(value: Any) -> Any:
    return (
        None
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT
        else value
    )


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _sync(oms: OMS, order: Order, broker_for: BrokerFor, *, combo: bool = False) -> Order:
    if not order.status.is_open:
        return order
    broker = broker_for(order.symbol)
    if combo and order.parent_id and order.intent != FLATTEN:
        # a combo is one broker order under the parent id: each leg is its ratio of it
        parent = broker.get_order_by_client_id(order.parent_id, None)
        if parent is None:
            return order
        units = parent.qty or 1.0
        report = replace(parent, client_order_id=order.client_order_id, symbol=order.symbol,
                         side=order.side.value, qty=order.qty, avg_fill_price=None,
                         filled_qty=parent.filled_qty * order.qty / units)  # fmt: skip
    else:
        report = broker.get_order_by_client_id(order.client_order_id, order.symbol)
    return order if report is None else oms.sync(order.client_order_id, report, broker=broker.name)


def advance_package(
    parent_id: str,
    broker_for: BrokerFor,
    oms: OMS,
    *,
    timeout: float = 30.0,
    settings: Settings | None = None,
    now: pd.Timestamp | None = None,
) -> PackageResult:
    """Bring a package up to date from its brokers and decide: filled, broken (unwind) or working."""
    record = package_record(oms, parent_id)
    if record is None:
        raise KeyError(f"no package {parent_id!r} in {PACKAGES}")
    now = now or _now()
    kind = str(record["kind"])
    reference = json.loads(record["reference_prices"] or "{}")
    combo = record.get("mode") == "combo"
    orders = [_sync(oms, o, broker_for, combo=combo) for o in oms.orders(parent_id=parent_id)]
    _record_fills(oms, orders, broker_for)
    legs = [o for o in orders if o.intent != FLATTEN and not superseded(o)]
    unwinds = [o for o in orders if o.intent == FLATTEN]
    status, reason = str(record["status"]), _opt(record["reason"])
    if status in FINAL:
        return PackageResult(
            parent_id, kind, status, legging_cost=_opt(record["legging_cost"]), reason=reason
        )
    if status != "flattening":
        filled_any = any(o.filled_qty > 0 for o in legs)
        if all(o.status is OrderStatus.FILLED for o in legs):
            return _finish(
                oms, record, "filled", reason, [], cost=legging_cost(oms, legs, reference)
            )
        dead = [o for o in legs if o.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED)]
        if dead and not filled_any and not any(o.status.is_open for o in legs):
            state = (
                "rejected" if any(o.status is OrderStatus.REJECTED for o in legs) else "cancelled"
            )
            return _finish(oms, record, state, reason or dead[0].reason, [], cost=0.0)
        if filled_any and _opt(record["first_fill_at"]) is None:
            record = {**record, "first_fill_at": now}
            _save(oms, record)
        late = (
            filled_any
            and _opt(record["first_fill_at"]) is not None
            and (now - _utc(record["first_fill_at"])).total_seconds() > timeout
        )
        if dead or reason or late:
            if not reason:
                if dead:
                    reason = (
                        f"leg {dead[0].leg} ({dead[0].symbol}) {dead[0].status}: {dead[0].reason}"
                    )
                else:
                    slow = [o for o in legs if o.status is not OrderStatus.FILLED]
                    reason = f"leg {slow[0].leg} ({slow[0].symbol}) not filled {timeout:g}s after the first fill"
            unwinds = _break(oms, legs, unwinds, broker_for, reason, settings)
            record = {**record, "status": "flattening", "reason": reason}
            _save(oms, record)
        else:
            return PackageResult(parent_id, kind, "working", reason=reason)
    unwinds = [_sync(oms, o, broker_for) for o in unwinds]
    _record_fills(oms, unwinds, broker_for)
    unwind_results = [
        SubmitResult(o.client_order_id, o.symbol, "sent", o.status, "unwind") for o in unwinds
    ]
    legs = [oms.get(o.client_order_id) or o for o in legs]
    if _net_flat(legs, unwinds):
        cost = legging_cost(oms, legs + unwinds, reference)
        res = _finish(oms, record, "flattened", reason, [], cost=cost)
        return PackageResult(
            parent_id, kind, res.status, unwinds=unwind_results, legging_cost=cost, reason=reason
        )
    return PackageResult(parent_id, kind, "flattening", unwinds=unwind_results, reason=reason)


def superseded(order: Order) -> bool:
    """An unsent leg a re-plan of the day replaced: not part of what went out."""
    return (
        order.status is OrderStatus.CANCELLED
        and order.broker is None
        and (order.reason or "").startswith("superseded")
    )


def _record_fills(oms: OMS, orders: Sequence[Order], broker_for: BrokerFor) -> None:
    """Store the brokers' fills of these orders (commissions count in the legging cost)."""
    by_broker: dict[str, tuple[Broker, set[str]]] = {}
    for o in orders:
        if o.filled_qty > 0:
            broker = broker_for(o.symbol)
            by_broker.setdefault(broker.name, (broker, set()))[1].add(o.client_order_id)
    for broker, ids in by_broker.values():
        oms.record_fills(f for f in broker.fills() if f.client_order_id in ids)


def _net_flat(legs: Sequence[Order], unwinds: Sequence[Order]) -> bool:
    net: dict[str, float] = {}
    for o in [*legs, *unwinds]:
        net[o.symbol] = net.get(o.symbol, 0.0) + o.signed_filled
    return all(abs(q) <= 1e-9 for q in net.values()) and not any(
        o.status.is_open for o in [*legs, *unwinds]
    )


def _break(
    oms: OMS,
    legs: Sequence[Order],
    unwinds: Sequence[Order],
    broker_for: BrokerFor,
    reason: str,
    settings: Settings | None,
) -> list[Order]:
    """Cancel what still works, then send one unwind per leg with a filled quantity."""
    current = []
    for leg in legs:
        if leg.status.is_open:
            broker = broker_for(leg.symbol)
            report = broker.cancel(leg.client_order_id, leg.symbol)
            if report is not None:
                leg = oms.sync(leg.client_order_id, report, broker=broker.name)
        elif leg.status is OrderStatus.NEW:
            leg = oms.transition(
                leg.client_order_id, OrderStatus.CANCELLED, reason=f"package broken: {reason}"
            )
        current.append(leg)
    sent = {o.client_order_id: o for o in unwinds}
    for leg in current:
        if leg.filled_qty <= 0:
            continue
        flat = unwind_order(leg, leg.filled_qty)
        if flat.client_order_id in sent:
            continue
        submit_orders([flat], broker_for(leg.symbol), [], oms, RiskContext(), settings=settings)
        sent[flat.client_order_id] = oms.get(flat.client_order_id) or flat
    return list(sent.values())


def _finish(
    oms: OMS,
    record: Mapping[str, Any],
    status: str,
    reason: str | None,
    results: list[SubmitResult],
    *,
    cost: float | None = 0.0,
) -> PackageResult:
    _save(oms, {**record, "status": status, "reason": reason, "legging_cost": cost})
    return PackageResult(str(record["parent_id"]), str(record["kind"]), status, legs=results,
                         legging_cost=cost, reason=reason)  # fmt: skip


def packages_frame(oms: OMS, day: dt.date) -> pd.DataFrame:
    """The day's packages with their legs' fill state: what the EOD report shows, not loose legs."""
    pk = oms.warehouse.read_table(PACKAGES, start=day, end=day)
    if pk.empty:
        return pk.assign(legs_filled=pd.Series(dtype=object))
    states = []
    for pid in pk["parent_id"]:
        legs = [o for o in oms.orders(parent_id=pid) if o.intent != FLATTEN]
        states.append(
            ", ".join(
                f"{o.symbol} {o.side.value} {o.filled_qty:g}/{o.qty:g} {o.status.value}"
                for o in legs
            )
        )
    return pk.assign(legs_filled=states)
