"""One session's orders from the OMS to the brokers: approval, routing, packages, reconciliation.

`submit_session` is what the execution step of the daily graph calls once the day's orders
are planned (state `new` in the OMS). In order:
1. the approval gate (execution.approval): auto-approve, or send only what a human
   approved; expire what waited past the deadline;
2. routing (execution.routing): each order to its asset class's broker; an order with no
   route is rejected in the OMS with a reason naming the instrument;
3. single orders through `submit_orders` per broker, packages (legs sharing a parent id)
   through `execute_package`; the kill switch and the pre-trade checks apply on both;
4. per broker: sync open orders and fills into the OMS, advance working packages,
   reconcile positions (breaks stored in execution.reconciliation_breaks).
Idempotent by client order id: running it twice (a sensor tick evaluated twice, a restart)
sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from execution import approval, kill_switch
from execution.models import MultiLegOrder, Order, OrderStatus
from execution.oms import OMS
from execution.packages import PackageResult, advance_package, execute_package, package_of
from execution.reconcile import BREAK_COLUMNS, reconcile, sync_orders
from execution.risk_checks import RiskCheck, RiskContext
from execution.routing import NoRoute, Router
from execution.submit import SubmitResult, submit_orders
from quant_assets.schemas.tables import EXECUTION_PACKAGES
from quant_assets.settings import Settings
from quant_assets.warehouse import Warehouse


@dataclass(frozen=True)
class SessionResult:
    day: dt.date
    gate: approval.Gate
    results: list[SubmitResult] = field(default_factory=list)
    packages: list[PackageResult] = field(default_factory=list)
    no_route: list[SubmitResult] = field(default_factory=list)
    breaks: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["broker", *BREAK_COLUMNS])
    )
    problems: list[str] = field(default_factory=list)
    kill_switch: bool = False

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.every_result()))

    @property
    def sent(self) -> int:
        return self.outcomes().get("sent", 0)

    def every_result(self) -> list[SubmitResult]:
        """Single orders, refused ones and package legs: one row per order handled."""
        return [*self.results, *self.no_route, *(r for p in self.packages for r in p.legs)]

    @property
    def auth_failure(self) -> SubmitResult | None:
        """The first order a broker's authentication failure stopped, if any."""
        return next((r for r in self.every_result() if r.outcome == "not_attempted"), None)


def split_packages(orders: Sequence[Order]) -> tuple[list[Order], list[MultiLegOrder]]:
    """Single orders, and the legs sharing a parent id as packages."""
    singles, groups = [], {}
    for o in orders:
        if o.parent_id is None:
            singles.append(o)
        else:
            groups.setdefault(o.parent_id, []).append(o)
    # legs go out in their declared order (pair0, pair1, ...), as MultiLegOrder.build made them
    return singles, [
        package_of(sorted(legs, key=lambda o: o.leg or "")) for legs in groups.values()
    ]


def submit_session(
    wh: Warehouse,
    router: Router,
    *,
    day: dt.date,
    settings: Settings,
    checks: Sequence[RiskCheck] = (),
    last_prices: Mapping[str, float] | None = None,
    now: dt.datetime | None = None,
    package_timeout: float | None = None,
    package_wait: float = 0.0,
    run_id: str | None = None,
) -> SessionResult:
    """Send the day's approved orders to their routed brokers once, then sync and reconcile."""
    oms = OMS(wh)
    gate = approval.gate(wh, day, settings, now=now)
    switch = kill_switch.is_active(wh, settings)
    todo = [o for o in approval.pending(oms, day) if o.client_order_id in gate.approved]
    # sells first (they free cash), then by symbol: the same order on every run
    todo.sort(key=lambda o: (o.side.value == "buy", o.symbol, o.strategy, o.leg or ""))
    singles, packages = split_packages(todo)
    no_route: list[SubmitResult] = []

    def refuse(order: Order, why: str) -> None:
        oms.transition(order.client_order_id, OrderStatus.REJECTED, reason=f"no route: {why}")
        no_route.append(SubmitResult(order.client_order_id, order.symbol, "rejected_pre_trade",
                                     OrderStatus.REJECTED, why))  # fmt: skip

    by_route, refused = router.split(singles)
    for order, why in refused:
        refuse(order, why)
    routable = []
    for pkg in packages:
        mine = {leg.client_order_id for leg in pkg.legs}
        refused = [o for o in oms.orders(parent_id=pkg.parent_id) if o.client_order_id not in mine
                   and o.status is OrderStatus.REJECTED]  # fmt: skip
        if refused:  # a leg refused at planning: the rest must not go out alone
            for leg in pkg.legs:
                why = f"package {pkg.parent_id} incomplete: leg {refused[0].leg} ({refused[0].symbol}) was refused: {refused[0].reason}"
                oms.transition(leg.client_order_id, OrderStatus.CANCELLED, reason=why)
                no_route.append(SubmitResult(leg.client_order_id, leg.symbol, "rejected_pre_trade",
                                             OrderStatus.CANCELLED, why))  # fmt: skip
            continue
        try:
            for leg in pkg.legs:
                router.route_of(leg.symbol)
            routable.append(pkg)
        except NoRoute as exc:
            for leg in pkg.legs:
                refuse(leg, f"{exc} (leg {leg.leg} of package {pkg.parent_id})")
    positions: dict[str, float] = {}
    for broker in router.brokers.values():
        for p in broker.positions():
            positions[p.symbol] = positions.get(p.symbol, 0.0) + p.qty
    ctx = RiskContext(positions=positions, last_prices=dict(last_prices or {}), kill_switch=switch)
    results: list[SubmitResult] = []
    for route, orders in by_route.items():
        broker = router.brokers[route]
        results += submit_orders(orders, broker, checks, oms, ctx, settings=settings)
        for o in orders:
            ctx = ctx.after(o)
    timeout = settings.package_timeout_s if package_timeout is None else package_timeout
    pkg_results = [
        execute_package(
            pkg,
            router.broker_for,
            oms,
            checks=checks,
            context=ctx,
            settings=settings,
            timeout=timeout,
            wait=package_wait,
        )
        for pkg in routable
    ]
    problems, breaks = reconcile_session(
        wh, router, day=day, timeout=timeout, settings=settings, run_id=run_id
    )
    return SessionResult(
        day=day,
        gate=gate,
        results=results,
        packages=pkg_results,
        no_route=no_route,
        breaks=breaks,
        problems=problems,
        kill_switch=switch,
    )


def reconcile_session(
    wh: Warehouse,
    router: Router,
    *,
    day: dt.date,
    timeout: float,
    settings: Settings | None = None,
    run_id: str | None = None,
) -> tuple[list[str], pd.DataFrame]:
    """Sync every broker's orders and fills, move the day's packages on, compare positions."""
    oms = OMS(wh)
    problems: list[str] = []
    frames = []
    live = {name: b for name, b in router.brokers.items() if not getattr(b, "dry_run", False)}
    for broker in live.values():
        problems += sync_orders(oms, broker)
    pk = wh.read_table(EXECUTION_PACKAGES.fqn, start=day, end=day)
    for pid in pk.loc[pk["status"].isin(["working", "flattening"]), "parent_id"] if len(pk) else ():
        advance_package(pid, router.broker_for, oms, timeout=timeout, settings=settings)
    for broker in live.values():
        b = reconcile(oms, broker, sync=False, run_id=run_id)
        if len(b):
            frames.append(b.assign(broker=broker.name))
    cols = ["broker", *BREAK_COLUMNS]
    breaks = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    return problems, breaks
