"""Partitions of the raw layer.

Listed assets partition by weekday (exchange holidays are empty partitions, not errors);
crypto and the calendar-free domains partition by every day. Weekday partitions include
the current day (end_offset=1) so the after-close refresh can load today's bars.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.settings import get_settings

_START = get_settings().sample_start.isoformat()

weekday_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5", start=_START, fmt="%Y-%m-%d", timezone="UTC", end_offset=1
)
daily_partitions = dg.DailyPartitionsDefinition(start_date=_START, timezone="UTC")
