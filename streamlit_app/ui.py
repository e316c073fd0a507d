"""What every page shares: page setup, the sidebar filters, banners and empty states.

Filters live in plain session-state keys (`flt_*`) and are copied into the widgets at each
render: Streamlit drops a widget's state when the user opens a page that lacks it, so the
plain keys are what carries the date range, groups and symbol from page to page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from quant_assets.settings import Settings, SettingsError
from streamlit_app import data

T = TypeVar("T")

RUN_HINT = "run `bash scripts/main.sh`"
DEFAULT_LOOKBACK_DAYS = 365
MIN_DATE = dt.date(1990, 1, 1)


@dataclass(frozen=True)
class Context:
    """What a page needs: where the warehouse is, the filters in force, the settings."""

    url: str
    settings: Settings
    start: dt.date
    end: dt.date
    groups: list[str]  # selected groups; empty = all
    symbols: list[str]  # symbols of the selected groups that have bars (all if none)
    symbol: str | None
    instruments: pd.DataFrame
    membership: pd.DataFrame

    @property
    def all_groups(self) -> list[str]:
        return sorted(self.membership["group_name"].unique())

    @property
    def groups_shown(self) -> list[str]:
        return self.groups or self.all_groups

    @property
    def reports_dir(self) -> Path:
        assert self.settings.reports_dir is not None
        return self.settings.reports_dir


def empty(what: str, hint: str = RUN_HINT) -> None:
    """The empty state of a section: what is missing and the command that produces it."""
    st.info(f"No data yet: {what}. To produce it, {hint}.", icon=":material/info:")


def fetch(fn: Callable[..., T], *args: Any, what: str, hint: str = RUN_HINT) -> T | None:
    """Call a `data` query; on a missing table or other read failure show the empty state."""
    try:
        return fn(*args)
    except data.DataUnavailable as exc:
        if exc.kind == "missing_table":
            empty(f"{what} (table {exc.table} not built)", hint)
        elif exc.kind == "no_store":
            empty(f"{what} ({exc})", hint)
        elif exc.kind == "busy":
            st.warning(str(exc), icon=":material/hourglass_top:")
        else:
            st.warning(f"{what}: {exc}", icon=":material/warning:")
        return None


def _persisted(key: str, options: list[Any] | None, default: Any) -> str:
    """Put the stored filter value (valid for `options`) into the widget's key."""
    value = st.session_state.get(key, default)
    if options is not None:
        if isinstance(value, list):
            value = [v for v in value if v in options]
        elif value not in options:
            value = default
    st.session_state[key] = value
    widget = f"_w_{key}"
    st.session_state[widget] = value
    return widget


def _store(key: str) -> None:
    st.session_state[key] = st.session_state[f"_w_{key}"]


def setup(title: str, icon: str, *, caption: str | None = None) -> Context:
    """Configure the page, draw the sidebar filters and the sample banner; return the context.

    Stops the page (with a message naming the fix) when the settings are invalid or there
    is no warehouse yet, so no page ever shows a traceback for those.
    """
    st.set_page_config(page_title=f"{title} · quant", page_icon=icon, layout="wide")
    try:
        settings = Settings.load()
    except SettingsError as exc:
        st.title(title)
        st.warning(f"Invalid configuration: {exc}", icon=":material/warning:")
        st.stop()
    url = settings.warehouse_url
    st.title(title)
    if caption:
        st.caption(caption)
    try:
        data.table_names(url)
        inst, membership, _ = data.instruments(url)
        coverage = (
            data.bar_coverage(url) if data.has_table(url, "market_data.ohlcv_daily") else None
        )
    except data.DataUnavailable as exc:
        if exc.kind == "busy":
            st.warning(str(exc), icon=":material/hourglass_top:")
        else:
            st.info(
                f"No data yet: {exc} To create the warehouse and load the offline sample "
                f"data, {RUN_HINT}. The app reads QUANT_WAREHOUSE_URL "
                f"(now {data._safe(url)}).",
                icon=":material/info:",
            )
        st.stop()
    ctx = _sidebar(url, settings, inst, membership, coverage)
    samples = data.sample_tables(url)
    if samples:
        st.warning(
            "**SAMPLE DATA** — generated offline by the sample generator, not market data "
            f"({', '.join(samples)}).",
            icon=":material/science:",
        )
    return ctx


def _sidebar(
    url: str,
    settings: Settings,
    inst: pd.DataFrame,
    membership: pd.DataFrame,
    coverage: pd.DataFrame | None,
) -> Context:
    with_bars = list(coverage["symbol"]) if coverage is not None and len(coverage) else []
    last = coverage["last_date"].max() if with_bars else None
    latest = pd.Timestamp(last).date() if last is not None else dt.date.today()
    all_groups = sorted(membership["group_name"].unique())
    with st.sidebar:
        st.header("Filters")
        end_key = _persisted("flt_end", None, latest)
        end = st.date_input(
            "As of / to",
            key=end_key,
            on_change=_store,
            args=("flt_end",),
            min_value=MIN_DATE,
            max_value=max(latest, dt.date.today()) + dt.timedelta(days=366),
        )
        start_key = _persisted("flt_start", None, latest - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS))
        start = st.date_input(
            "From",
            key=start_key,
            on_change=_store,
            args=("flt_start",),
            min_value=MIN_DATE,
            max_value=max(latest, dt.date.today()) + dt.timedelta(days=366),
        )
        groups_key = _persisted("flt_groups", all_groups, [])
        groups = st.multiselect(
            "Groups",
            all_groups,
            key=groups_key,
            on_change=_store,
            args=("flt_groups",),
            placeholder="All groups",
        )
        members = membership[membership["group_name"].isin(groups or all_groups)]["symbol"]
        in_groups = [s for s in inst["symbol"] if s in set(members)]
        symbols = [s for s in in_groups if s in set(with_bars)] if with_bars else in_groups
        default_symbol = "SPY" if "SPY" in symbols else (symbols[0] if symbols else None)
        symbol = None
        if symbols:
            sym_key = _persisted("flt_symbol", symbols, default_symbol)
            symbol = st.selectbox(
                "Symbol", symbols, key=sym_key, on_change=_store, args=("flt_symbol",)
            )
        st.caption(f"Warehouse: `{data._safe(url)}` (read-only)")
    return Context(
        url=url,
        settings=settings,
        start=min(start, end),
        end=end,
        groups=list(groups),
        symbols=symbols,
        symbol=symbol,
        instruments=inst,
        membership=membership,
    )


def pct_columns(columns: list[str]) -> dict[str, Any]:
    return {c: st.column_config.NumberColumn(c, format="percent") for c in columns}


def day(value: Any) -> dt.date | None:
    return data._day(value)
