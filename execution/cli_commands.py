"""`quant kill-switch on|off|status [--reason ...]`: the operator's stop button for every order.

`on` and `off` append a toggle (who, when, why) to `execution.kill_switch`; every action
first creates the warehouse tables if they are missing, so the switch works on a fresh
install. `status` prints the state and toggles nothing. `off` exits 1 while QUANT_KILL_SWITCH keeps the
switch on anyway, so a script cannot mistake it for trading resumed.
"""

from __future__ import annotations

import argparse
import sys

from execution import kill_switch


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
    from quant_assets.warehouse import connect

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"quant: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.action == "status" and args.reason:
        print("quant kill-switch: --reason goes with on or off", file=sys.stderr)
        return 2
    wh = connect(settings.warehouse_url)
    try:
        wh.migrate()
        if args.action == "on":
            state = kill_switch.turn_on(wh, by=args.by, reason=args.reason, settings=settings)
        elif args.action == "off":
            state = kill_switch.turn_off(wh, by=args.by, reason=args.reason, settings=settings)
        else:
            state = kill_switch.status(wh, settings)
    finally:
        wh.close()
    print(state.describe())
    if args.action == "off" and state.active:
        print(
            "quant kill-switch: still ON because QUANT_KILL_SWITCH=true; unset it to trade",
            file=sys.stderr,
        )
        return 1
    return 0
