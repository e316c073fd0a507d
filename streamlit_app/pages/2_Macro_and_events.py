"""Macro & events: macro series by vintage, the economic calendar with surprises, event studies."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from streamlit_app import analytics, charts, data, ui

ctx = ui.setup("Macro & events", ":material/public:")

# --- macro series ----------------------------------------------------------------------------

st.subheader("Macro series")
series = ui.fetch(data.macro_series, ctx.url, what="macro series")
if series is not None and series.empty:
    ui.empty("no macro observations")
elif series is not None:
    ids = list(series["series_id"])
    default = [s for s in ("CPIAUCSL", "UNRATE", "DGS10") if s in ids] or ids[:2]
    c1, c2, c3 = st.columns([3, 2, 2])
    chosen = c1.multiselect("Series", ids, default=default, key="macro_series", max_selections=6)
    modes = {
        "latest": "Latest revision",
        "first": "First release",
        "as_of": "As known on the 'As of' date",
    }
    mode = c2.radio(
        "Vintage", list(modes), format_func=modes.get, key="macro_vintage", horizontal=False
    )
    c3.caption(
        "ALFRED vintages: *first release* is what was printed first; *as known on* shows only "
        "values published by that date (what a backtest on that date may use)."
    )
    if chosen:
        obs = ui.fetch(data.macro_observations, ctx.url, tuple(chosen), what="macro observations")
        if obs is not None:
            view = analytics.vintage_view(obs, mode, ctx.end if mode == "as_of" else None)
            view = view[
                (view["date"] >= pd.Timestamp(ctx.start)) & (view["date"] <= pd.Timestamp(ctx.end))
            ]
            if view.empty:
                ui.empty(f"no observations of {', '.join(chosen)} in {ctx.start}..{ctx.end}")
            else:
                st.plotly_chart(
                    charts.macro_lines(
                        view, [s for s in chosen if s in set(view["series_id"])], mode
                    ),
                    key="macro_chart",
                )
                with st.expander("Revisions (first release vs latest)"):
                    rev = analytics.revisions(obs)
                    rev = rev[rev["date"] >= pd.Timestamp(ctx.start)]
                    st.dataframe(rev, hide_index=True, key="macro_revisions")

# --- economic calendar ---------------------------------------------------------------------------

st.subheader("Economic calendar")
found = ui.fetch(data.economic_calendar, ctx.url, ctx.start, ctx.end, what="economic calendar")
if found is not None:
    cal, origin = found
    if cal.empty:
        ui.empty(f"no releases between {ctx.start} and {ctx.end}")
    else:
        metric = (
            "surprise_z" if "surprise_z" in cal and cal["surprise_z"].notna().any() else "surprise"
        )
        st.plotly_chart(charts.surprises(cal, metric), key="surprise_chart")
        st.caption(f"From {origin}; surprise = actual - consensus.")
        st.dataframe(
            cal.sort_values("release_time", ascending=False).drop(columns=["release_time"]),
            hide_index=True,
            column_config={"release_date": st.column_config.DateColumn("date")},
            key="calendar_table",
        )

# --- event study ------------------------------------------------------------------------------------

st.subheader("Event study")
es = ui.fetch(data.event_study, ctx.url, what="event-study results")
if es is not None:
    if es.empty:
        ui.empty("no event study has run")
    else:
        classes = sorted(es["event_class"].unique())
        cls = st.selectbox("Event class", classes, key="event_class")
        sub = es[es["event_class"] == cls]
        agg = sub[sub["symbol"] == "all"]
        st.plotly_chart(charts.event_study_bars(agg if len(agg) else sub), key="event_study_chart")
        st.caption(
            f"Cumulative abnormal return by bucket, as of {ui.day(es['as_of'].max())}; "
            "error bars are one standard error."
        )
        st.dataframe(
            sub.drop(columns=["as_of"]),
            hide_index=True,
            column_config=ui.pct_columns(["mean_car", "std_car"]),
            key="event_study_table",
        )
