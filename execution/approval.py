"""Approval of a day's order set: auto in dry-run and paper, a human's decision for live.

QUANT_APPROVAL picks the policy (unset: `auto` for dry_run/paper, `manual` for live; `auto`
with live is a settings error). Under `manual`, only orders a recorded approval names are
sent: an approval covers the exact client ids pending when it was given, so a re-plan
after it (new ids) needs a new approval. A rejection cancels the pending orders. Orders
still unapproved at QUANT_APPROVAL_EXPIRY (local time in QUANT_APPROVAL_TIMEZONE) of the
next session after their trade date expire (cancelled). Every decision, automatic ones
included, is a row of `execution.approvals`: who, when, through what, which orders.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd

from execution.models import Order, OrderStatus
from execution.oms import OMS
from quant_assets.schemas.tables import EXECUTION_APPROVALS
from quant_assets.settings import Settings
from quant_assets.warehouse import Warehouse

APPROVALS = EXECUTION_APPROVALS.fqn
Decision = Literal["approved", "rejected", "expired"]
Channel = Literal["cli", "api", "streamlit", "auto", "system"]


class ApprovalError(ValueError):
    """A decision that cannot be taken (nothing pending, unknown ids)."""


@dataclass(frozen=True)
class Gate:
    """What may be sent for a day: the approved ids, and what is waiting or expired."""

    policy: str
    approved: frozenset[str]
    waiting: list[Order]
    expired: list[str]
    expires_at: dt.datetime

    def describe(self) -> str:
        text = f"approval {self.policy}: {len(self.approved)} approved, {len(self.waiting)} waiting"
        if self.expired:
            text += f", {len(self.expired)} expired"
        return text + f" (unapproved orders expire {self.expires_at:%Y-%m-%d %H:%M %Z})"


def expires_at(day: dt.date, settings: Settings) -> dt.datetime:
    """QUANT_APPROVAL_EXPIRY on the session `day` the orders trade (their partition), as an
    aware datetime: an approval after it would send orders priced before the approval."""
    return dt.datetime.combine(day, settings.approval_expiry, ZoneInfo(settings.approval_timezone))


def pending(oms: OMS, day: dt.date) -> list[Order]:
    """The day's order set awaiting sending: orders still `new` (rejected ones are not)."""
    return oms.orders(status=OrderStatus.NEW, trade_date=day)


def decisions(wh: Warehouse, day: dt.date | None = None) -> pd.DataFrame:
    kw = {} if day is None else {"start": day, "end": day}
    df = wh.read_table(APPROVALS, **kw)
    return df.sort_values("decided_at").reset_index(drop=True) if len(df) else df


def approved_ids(wh: Warehouse, day: dt.date) -> frozenset[str]:
    return approved_ids_from(decisions(wh, day))


def approved_ids_from(df: pd.DataFrame) -> frozenset[str]:
    """Client ids named by the approvals among `decisions` rows."""
    ids: set[str] = set()
    for row in df[df["decision"] == "approved"].itertuples() if len(df) else ():
        ids.update(json.loads(row.order_ids))
    return frozenset(ids)


def _record(wh: Warehouse, day: dt.date, decision: Decision, by: str, channel: Channel,
            ids: Collection[str], reason: str | None) -> dict[str, object]:  # fmt: skip
    row = {
        "decision_id": uuid.uuid4().hex,
        "trade_date": pd.Timestamp(day),
        "decision": decision,
        "decided_by": by,
        "decided_at": pd.Timestamp.now(tz="UTC"),
        "channel": channel,
        "order_ids": json.dumps(sorted(ids)),
        "n_orders": len(ids),
        "reason": reason,
    }
    wh.bulk_load(APPROVALS, pd.DataFrame([row]))
    return row


def approve(
    wh: Warehouse,
    day: dt.date,
    *,
    by: str,
    channel: Channel,
    order_ids: Collection[str] | None = None,
    reason: str | None = None,
) -> dict[str, object]:
    """Approve the day's pending orders (or the given subset of them); returns the record."""
    return _decide(wh, day, "approved", by=by, channel=channel, order_ids=order_ids, reason=reason)


def reject(
    wh: Warehouse,
    day: dt.date,
    *,
    by: str,
    channel: Channel,
    order_ids: Collection[str] | None = None,
    reason: str | None = None,
) -> dict[str, object]:
    """Reject (cancel) the day's pending orders, or the given subset; returns the record."""
    return _decide(wh, day, "rejected", by=by, channel=channel, order_ids=order_ids, reason=reason)


def _decide(wh: Warehouse, day: dt.date, decision: Decision, *, by: str, channel: Channel,
            order_ids: Collection[str] | None, reason: str | None) -> dict[str, object]:  # fmt: skip
    if not by or not by.strip():
        raise ApprovalError("decided_by: say who decides (a name, not empty)")
    oms = OMS(wh)
    waiting = {o.client_order_id: o for o in pending(oms, day)}
    undecided = {k for k in waiting if k not in approved_ids(wh, day)}
    if decision == "approved":
        waiting = {k: v for k, v in waiting.items() if k in undecided}
    # by default a decision covers the undecided orders; naming ids may also revoke an
    # approval of an order not sent yet (reject)
    ids = set(undecided) if order_ids is None else set(order_ids)
    unknown = sorted(ids - set(waiting))
    if unknown:
        raise ApprovalError(
            f"order_ids: {', '.join(unknown)} not awaiting a decision on {day} "
            f"({len(waiting)} pending: {', '.join(sorted(waiting)) or 'none'})"
        )
    if not ids:
        raise ApprovalError(f"no orders of {day} await a decision")
    if decision != "approved":
        for cid in sorted(ids):
            why = f"{decision} by {by} ({channel})" + (f": {reason}" if reason else "")
            oms.transition(cid, OrderStatus.CANCELLED, reason=why)
    return _record(wh, day, decision, by.strip(), channel, ids, reason)


def gate(
    wh: Warehouse, day: dt.date, settings: Settings, *, now: dt.datetime | None = None
) -> Gate:
    """Apply the policy: auto-approve, or expire what waited too long; say what may be sent."""
    now = now or dt.datetime.now(dt.UTC)
    oms = OMS(wh)
    deadline = expires_at(day, settings)
    policy = settings.approval_policy
    waiting = pending(oms, day)
    done = approved_ids(wh, day)
    todo = [o for o in waiting if o.client_order_id not in done]
    expired: list[str] = []
    if todo and policy == "auto":
        _record(wh, day, "approved", "auto", "auto", [o.client_order_id for o in todo],
                f"QUANT_APPROVAL=auto in {settings.broker_mode} mode")  # fmt: skip
        done = approved_ids(wh, day)
        todo = []
    elif todo and now >= deadline:
        expired = [o.client_order_id for o in todo]
        _decide(wh, day, "expired", by="system", channel="system", order_ids=expired,
                reason=f"not approved by {deadline:%Y-%m-%d %H:%M %Z}")  # fmt: skip
        todo = []
    return Gate(policy=policy, approved=done, waiting=todo, expired=expired, expires_at=deadline)
