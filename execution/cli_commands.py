"""`quant kill-switch on|off|status [--reason ...]`: the operator's stop button for every order.

`on` and `off` write the switch's own store (a file under the data directory, or Redis),
which never waits for the warehouse; the change (who, when, why) is then copied to
`execution.kill_switch` if the warehouse is free, else by the next run that opens it.
`status` prints the state, toggles nothing and never opens the warehouse. `off` exits 1 while QUANT_KILL_SWITCH keeps the
switch on anyway, so a script cannot mistake it for trading resumed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from execution import kill_switch
from quant_assets.settings import Settings, mask_secrets


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quant kill-switch",
        description="Stop (on) or allow (off) every order; status prints the state.",
    )
    parser.add_argument("action", choices=["on", "off", "status"])
    parser.add_argument("--reason", help="why, kept with the toggle (on/off only)")
    parser.add_argument("--by", help="who toggled it (default: the login name)")
    return parser


def kill_switch_command(argv: list[str]) -> int:
    """Run the command; 0 when the switch is in the state asked for, 1 if not, 2 on bad input."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad input (2)
        return int(exc.code or 0)

    from quant_assets.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"quant: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.action == "status" and args.reason:
        print("quant kill-switch: --reason goes with on or off", file=sys.stderr)
        return 2
    try:
        if args.action == "on":
            state = kill_switch.turn_on(by=args.by, reason=args.reason, settings=settings)
        elif args.action == "off":
            state = kill_switch.turn_off(by=args.by, reason=args.reason, settings=settings)
        else:
            state = kill_switch.status(settings=settings)  # never opens the warehouse
    except kill_switch.KillSwitchError as exc:
        print(f"quant kill-switch: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1
    print(state.describe())
    if args.action != "status":
        _copy_history(settings)
    if args.action == "off" and state.active:
        print(
            "quant kill-switch: still ON because QUANT_KILL_SWITCH=true; unset it to trade",
            file=sys.stderr,
        )
        return 1
    if args.action == "on" and state.store_error:
        return 1
    return 0


def _copy_history(settings: Settings) -> None:
    """Copy the change into `execution.kill_switch` if the warehouse is free right now.

    The switch has already changed (its store is independent of the warehouse); a busy
    warehouse only delays the copy to the next run that opens it.
    """
    from quant_assets.warehouse import connect

    try:
        wh = connect(settings.warehouse_url, lock_timeout=0)  # busy: copy later, never wait
    except Exception as exc:  # locked by a run, server down
        print(
            "quant kill-switch: the warehouse is busy or unreachable "
            f"({type(exc).__name__}), so the change is kept in the switch's journal and "
            "copied to execution.kill_switch by the next run that opens it",
            file=sys.stderr,
        )
        return
    try:
        wh.migrate()
        kill_switch.record_history(wh, settings)
    finally:
        wh.close()


def _orders_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quant orders",
        description="The day's order set: list it, approve it or reject it (recorded: who, when).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("list", "orders of the date with their state and the decisions taken"),
        ("approve", "approve the date's pending orders (all, or --id ...)"),
        ("reject", "reject (cancel) the date's pending orders (all, or --id ...)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--date", type=_date, help="trade date (default: latest with orders)")
        if name != "list":
            p.add_argument("--id", action="append", dest="ids", help="one client order id (repeat)")
            p.add_argument("--by", help="who decides (default: the login name)")
            p.add_argument("--reason", help="why, kept with the decision")
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--date {text!r}: use YYYY-MM-DD") from None


def orders_command(argv: list[str]) -> int:
    """`quant orders list|approve|reject`; 0 done, 1 nothing to decide, 2 bad input."""
    try:
        args = _orders_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)

    from execution import approval
    from execution.oms import OMS
    from quant_assets.schemas.tables import EXECUTION_ORDERS
    from quant_assets.settings import SettingsError, get_settings
    from quant_assets.warehouse import connect

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"quant: invalid configuration: {exc}", file=sys.stderr)
        return 2
    wh = connect(settings.warehouse_url, read_only=args.action == "list")
    try:
        if args.action != "list":
            wh.migrate()
        day = args.date
        if day is None:
            dates = wh.read_table(EXECUTION_ORDERS.fqn, columns=["trade_date"])
            if dates.empty:
                print("quant orders: no orders in the warehouse yet", file=sys.stderr)
                return 1
            day = dates["trade_date"].max().date()
        if args.action == "list":
            print(
                _render(OMS(wh).orders(trade_date=day), approval.decisions(wh, day), day, settings)
            )
            return 0
        by = args.by or getpass.getuser()
        decide = approval.approve if args.action == "approve" else approval.reject
        try:
            rec = decide(wh, day, by=by, channel="cli", order_ids=args.ids, reason=args.reason)
        except approval.ApprovalError as exc:
            print(f"quant orders {args.action}: {exc}", file=sys.stderr)
            return 1
    finally:
        wh.close()
    print(
        f"{rec['decision']} {rec['n_orders']} order(s) of {day} by {rec['decided_by']} at {rec['decided_at']:%Y-%m-%d %H:%M:%S} UTC"
    )
    return 0


def _render(orders: list, decided, day: dt.date, settings) -> str:
    from execution import approval

    lines = [f"orders of {day} (approval {settings.approval_policy}, broker mode {settings.broker_mode}; "
             f"unapproved orders expire {approval.expires_at(day, settings):%Y-%m-%d %H:%M %Z})"]  # fmt: skip
    approved = approval.approved_ids_from(decided)
    for o in sorted(orders, key=lambda o: (o.parent_id or "", o.symbol)):
        mark = "approved" if o.client_order_id in approved else ""
        pkg = f" [{o.parent_id} {o.leg}]" if o.parent_id else ""
        why = f" ({o.reason})" if o.reason else ""
        lines.append(
            f"  {o.client_order_id}  {o.describe():<28} {o.status.value:<16} {mark:<8}{pkg}{why}"
        )
    if not orders:
        lines.append("  (none)")
    for r in decided.itertuples() if len(decided) else ():
        lines.append(f"  decision: {r.decision} of {r.n_orders} by {r.decided_by} via {r.channel} at {r.decided_at}"
                     + (f": {r.reason}" if isinstance(r.reason, str) and r.reason else ""))  # fmt: skip
    return "\n".join(lines)
