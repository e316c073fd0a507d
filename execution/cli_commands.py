"""`quant kill-switch on|off|status [--reason ...]`: the operator's stop button for every order.

`on` and `off` write the switch's own store (a file under the data directory, or Redis),
which never waits for the warehouse; the change (who, when, why) is then copied to
`execution.kill_switch` if the warehouse is free, else by the next run that opens it.
`status` prints the state, toggles nothing and never opens the warehouse. `off` exits 1 while QUANT_KILL_SWITCH keeps the
switch on anyway, so a script cannot mistake it for trading resumed.
"""

from __future__ import annotations

import argparse
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
