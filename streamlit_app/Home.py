"""Overview: the market by group, how fresh each table is, and the last loads.

Start with `bash scripts/app.sh`; this file is the app's entry point and first page.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from streamlit_app import analytics, charts, data, ui

ctx = ui.setup("Overview", ":material/dashboard:")

# --- market snapshot ------------------------------------------------------------------------

st.subheader("Market snapshot")
# YTD needs the previous year's last bar; 1M needs a month back.
window_start = min(dt.date(ctx.end.year - 1, 12, 1), ctx.end - dt.timedelta(days=40))
found = ui.fetch(data.levels, ctx.url, tuple(ctx.symbols), window_start, ctx.end, what="prices")
if found is not None:
    wide, basis = found
    snap = analytics.snapshot(wide, ctx.end)
    if snap.empty:
        ui.empty(f"no bars on or before {ctx.end} for the selected groups")
    else:
        inst = ctx.instruments.set_index("symbol")
        snap = snap.join(inst[["name", "groups"]])
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Symbols in snapshot", len(snap))
        c2.metric("As of", str(ctx.end))
        c3.metric("Median 1D", f"{snap['1D'].median():+.2%}")
        c4.metric(
            "Advancers 1D", f"{int((snap['1D'] > 0).sum())} / {int(snap['1D'].notna().sum())}"
        )
        st.caption(
            f"Returns from the {basis}. 1W/1M compare with the last level 7 days / 1 month before."
        )
        heat = analytics.group_returns(snap, ctx.membership, ctx.groups_shown)
        left, right = st.columns([2, 3])
        with left:
            st.plotly_chart(
                charts.group_heatmap(heat), key="group_heat", config={"displayModeBar": False}
            )
        with right:
            table = snap.reset_index()[
                ["symbol", "name", "groups", "last_date", "level", *analytics.HORIZONS]
            ]
            st.dataframe(
                table,
                hide_index=True,
                height=min(38 * 12, 36 * (len(table) + 1)),
                column_config={
                    **ui.pct_columns(list(analytics.HORIZONS)),
                    "last_date": st.column_config.DateColumn("last bar"),
                    "level": st.column_config.NumberColumn(
                        "TR index" if basis.startswith("total") else "close", format="%.2f"
                    ),
                },
                key="snapshot_table",
            )

# --- freshness and runs --------------------------------------------------------------------------

st.subheader("Data freshness")
fresh = ui.fetch(data.freshness, ctx.url, what="table freshness")
if fresh is not None:
    if fresh.empty:
        ui.empty("every table is empty")
    else:
        today = pd.Timestamp(dt.date.today())
        fresh = fresh.assign(age_days=(today - fresh["latest_date"]).dt.days)
        st.dataframe(
            fresh,
            hide_index=True,
            column_config={
                "latest_date": st.column_config.DateColumn("latest date"),
                "n_rows": st.column_config.NumberColumn("rows", format="localized"),
                "age_days": st.column_config.NumberColumn("age (days)"),
                "last_load": st.column_config.DatetimeColumn("last load (UTC)"),
            },
            key="freshness_table",
        )

st.subheader("Last pipeline runs")
runs = ui.fetch(data.ingestion_runs, ctx.url, what="pipeline runs")
if runs is not None:
    if runs.empty:
        ui.empty("no load has run")
    else:
        runs = runs.assign(
            seconds=(runs["finished_at"] - runs["started_at"]).dt.total_seconds().round(2),
            batch_id=runs["batch_id"].str[:8],
        )
        st.dataframe(
            runs,
            hide_index=True,
            column_config={
                "started_at": st.column_config.DatetimeColumn("started (UTC)"),
                "finished_at": st.column_config.DatetimeColumn("finished (UTC)"),
            },
            key="runs_table",
        )
