"""The kill switch: `QUANT_KILL_SWITCH` (settings) or a persisted toggle stops every order.

The setting is for operators who cannot reach the database; the toggle (what
`quant kill-switch on|off|status` calls) is kept as a history of who switched it and when
in `execution.kill_switch`. Either one being on is enough; turning the toggle off cannot
override the setting.
"""

from __future__ import annotations

import datetime as dt
import getpass
import uuid
from dataclasses import dataclass

import pandas as pd

from quant_assets.schemas.tables import EXECUTION_KILL_SWITCH
from quant_assets.settings import Settings, get_settings
from quant_assets.warehouse import Warehouse

TABLE = EXECUTION_KILL_SWITCH.fqn


@dataclass(frozen=True)
class KillSwitchStatus:
    active: bool
    setting: bool  # QUANT_KILL_SWITCH
    toggle: bool  # last persisted toggle
    changed_by: str | None = None
    changed_at: dt.datetime | None = None
    reason: str | None = None

    def describe(self) -> str:
        state = "ON" if self.active else "off"
        parts = [f"kill switch {state}"]
        if self.setting:
            parts.append("QUANT_KILL_SWITCH=true")
        if self.changed_at is not None:
            toggled = "on" if self.toggle else "off"
            parts.append(
                f"toggled {toggled} by {self.changed_by} at {self.changed_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        if self.reason:
            parts.append(f"reason: {self.reason}")
        return "; ".join(parts)


def status(wh: Warehouse, settings: Settings | None = None) -> KillSwitchStatus:
    """The switch as the setting and the latest persisted toggle make it."""
    setting = bool((settings or get_settings()).kill_switch)
    df = wh.read_table(TABLE)
    if df.empty:
        return KillSwitchStatus(active=setting, setting=setting, toggle=False)
    last = df.sort_values(["changed_at", "event_id"]).iloc[-1]
    toggle = bool(last["active"])
    return KillSwitchStatus(
        active=setting or toggle,
        setting=setting,
        toggle=toggle,
        changed_by=str(last["changed_by"]),
        changed_at=pd.Timestamp(last["changed_at"]).to_pydatetime(),
        reason=None if pd.isna(last["reason"]) else str(last["reason"]),
    )


def is_active(wh: Warehouse, settings: Settings | None = None) -> bool:
    return status(wh, settings).active


def _toggle(wh: Warehouse, active: bool, by: str | None, reason: str | None) -> None:
    row = {
        "event_id": uuid.uuid4().hex,
        "changed_at": pd.Timestamp.now(tz="UTC"),
        "active": active,
        "changed_by": by or getpass.getuser(),
        "reason": reason,
    }
    wh.bulk_load(TABLE, pd.DataFrame([row]))


def turn_on(
    wh: Warehouse,
    *,
    by: str | None = None,
    reason: str | None = None,
    settings: Settings | None = None,
) -> KillSwitchStatus:
    _toggle(wh, True, by, reason)
    return status(wh, settings)


def turn_off(
    wh: Warehouse,
    *,
    by: str | None = None,
    reason: str | None = None,
    settings: Settings | None = None,
) -> KillSwitchStatus:
    """Clear the toggle; the result still says ON while QUANT_KILL_SWITCH is set."""
    _toggle(wh, False, by, reason)
    return status(wh, settings)
