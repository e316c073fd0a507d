"""The submit loop: pre-trade checks, then the broker, with the OMS as the memory of what was sent.

Idempotency: an order enters the OMS (state `new`) before its request leaves, under a client
id derived from what it is. So on a re-run:
- an order the OMS holds past `new` was already sent: it is skipped;
- an order still `new` may have reached the broker before a crash: the broker is asked by
  client id first and only an unknown order is sent.
A timeout on the send itself is answered the same way: look the order up, never resend
blindly. Legs of a multi-leg order are checked together: one refusal refuses them all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from execution import kill_switch
from execution.brokers.base import (
    AuthError,
    Broker,
    BrokerError,
    BrokerTimeout,
    DuplicateClientOrderId,
    OrderRejected,
)
from execution.models import MultiLegOrder, Order, OrderStatus, Rejection
from execution.oms import OMS
from execution.risk_checks import RiskCheck, RiskContext, first_rejection, with_kill_switch
from quant_assets.settings import Settings

log = logging.getLogger(__name__)

Outcome = Literal[
    "sent",  # the broker accepted it now
    "recovered",  # the broker already had it (earlier run, or a timeout after acceptance)
    "skipped_duplicate",  # the OMS shows it was sent before: nothing sent
    "rejected_pre_trade",
    "rejected_by_broker",
    "dry_run",  # would have been sent; nothing sent, nothing stored
    "pending",  # outcome unknown or broker busy: still `new`, the next run looks it up again
    "not_attempted",  # the batch stopped early (authentication failed)
]


@dataclass(frozen=True)
class SubmitResult:
    client_order_id: str
    symbol: str
    outcome: Outcome
    status: OrderStatus
    detail: str = ""


def _expand(orders: Iterable[Order | MultiLegOrder]) -> list[list[Order]]:
    """Groups checked as one: each multi-leg order (legs sharing a parent id) or a single order."""
    groups: dict[str, list[Order]] = {}
    for item in orders:
        legs = list(item.legs) if isinstance(item, MultiLegOrder) else [item]
        for leg in legs:
            key = leg.parent_id or leg.client_order_id
            groups.setdefault(key, []).append(leg)
    return list(groups.values())


def _check_group(
    legs: list[Order], checks: Sequence[RiskCheck], ctx: RiskContext
) -> tuple[Rejection | None, RiskContext]:
    running = ctx
    for leg in legs:
        rejection = first_rejection(leg, checks, running)
        if rejection is not None:
            if len(legs) > 1:
                rejection = Rejection(
                    check=rejection.check,
                    reason=f"{rejection.reason} (leg {leg.leg} of {leg.parent_id})",
                )
            return rejection, ctx
        running = running.after(leg)
    return None, running


def submit_orders(
    orders: Iterable[Order | MultiLegOrder],
    broker: Broker,
    checks: Sequence[RiskCheck],
    oms: OMS,
    context: RiskContext | None = None,
    *,
    settings: Settings | None = None,
) -> list[SubmitResult]:
    """Check and send each order once; return what happened to each, in order.

    The kill switch (setting or persisted toggle) is always applied, whatever `checks` holds,
    and read again right before each order (or multi-leg group) is sent.
    A broker with `dry_run = True` gets nothing: the orders that pass the checks are logged
    and returned as `dry_run`, and the OMS is left untouched.
    """
    ctx = context or RiskContext()
    if kill_switch.is_active(oms.warehouse, settings):
        ctx = replace(ctx, kill_switch=True)
    held = ctx.kill_switch  # on at the start (or in the caller's context): stays on
    all_checks = with_kill_switch(checks)
    dry_run = bool(getattr(broker, "dry_run", False))
    results: list[SubmitResult] = []
    stop: str | None = None
    for legs in _expand(orders):
        if stop is not None:
            results += [
                SubmitResult(o.client_order_id, o.symbol, "not_attempted", o.status, stop)
                for o in legs
            ]
            continue
        fresh = []
        for order in legs:
            stored = oms.get(order.client_order_id)
            if stored is not None and stored.status is not OrderStatus.NEW:
                results.append(
                    SubmitResult(order.client_order_id, order.symbol, "skipped_duplicate", stored.status,
                                 "already sent in an earlier run")
                )  # fmt: skip
                continue
            fresh.append((order, stored))
        if not fresh:
            continue
        # An order still `new` may have reached the broker before a crash: ask first.
        to_send = []
        for order, stored in fresh:
            found = None
            if stored is not None and not dry_run:
                found = broker.get_order_by_client_id(order.client_order_id, order.symbol)
            if found is not None:
                synced = oms.sync(order.client_order_id, found, broker=broker.name)
                results.append(
                    SubmitResult(
                        order.client_order_id,
                        order.symbol,
                        "recovered",
                        synced.status,
                        "found at broker",
                    )
                )
                ctx = ctx.after(order)
            else:
                to_send.append(order)
        # Read the switch again right before sending: an operator may flip it mid-batch.
        ctx = replace(ctx, kill_switch=held or kill_switch.is_active(settings=settings))
        rejection, after = _check_group(to_send, all_checks, ctx)
        if rejection is not None:
            for order in to_send:
                if not dry_run:
                    oms.create(order)
                    oms.transition(
                        order.client_order_id, OrderStatus.REJECTED, reason=str(rejection)
                    )
                results.append(
                    SubmitResult(order.client_order_id, order.symbol, "rejected_pre_trade", OrderStatus.REJECTED,
                                 str(rejection))
                )  # fmt: skip
            continue
        ctx = after
        for order in to_send:
            if dry_run:
                log.info(
                    "dry run: would send %s (%s) to %s",
                    order.describe(),
                    order.client_order_id,
                    broker.name,
                )
                results.append(
                    SubmitResult(order.client_order_id, order.symbol, "dry_run", OrderStatus.NEW,
                                 f"would send {order.describe()}")
                )  # fmt: skip
                continue
            oms.create(order)
            result = _send(order, broker, oms)
            results.append(result)
            if result.outcome == "not_attempted":
                stop = result.detail
    return results


def _send(order: Order, broker: Broker, oms: OMS) -> SubmitResult:
    cid = order.client_order_id
    try:
        ack = broker.submit(order)
    except (BrokerTimeout, DuplicateClientOrderId) as exc:
        found = broker.get_order_by_client_id(cid, order.symbol)
        if found is None:
            return SubmitResult(
                cid, order.symbol, "pending", OrderStatus.NEW, f"{exc}; not found by client id"
            )
        synced = oms.sync(cid, found, broker=broker.name)
        return SubmitResult(
            cid, order.symbol, "recovered", synced.status, f"{exc}; found by client id"
        )
    except OrderRejected as exc:
        oms.transition(cid, OrderStatus.REJECTED, broker=broker.name, reason=f"broker: {exc}")
        return SubmitResult(cid, order.symbol, "rejected_by_broker", OrderStatus.REJECTED, str(exc))
    except AuthError as exc:
        return SubmitResult(
            cid, order.symbol, "not_attempted", OrderStatus.NEW, f"authentication failed: {exc}"
        )
    except BrokerError as exc:  # rate limit, broker down: nothing was created
        return SubmitResult(
            cid, order.symbol, "pending", OrderStatus.NEW, f"{type(exc).__name__}: {exc}"
        )
    synced = oms.sync(cid, ack, broker=broker.name)
    if synced.status is OrderStatus.REJECTED:
        return SubmitResult(
            cid, order.symbol, "rejected_by_broker", synced.status, ack.reason or ""
        )
    return SubmitResult(cid, order.symbol, "sent", synced.status, ack.broker_order_id or "")
