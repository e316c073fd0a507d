"""Recommendations & reports: the day's recommendations with their reasoning, the report archive."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from streamlit_app import analytics, data, ui

ctx = ui.setup("Recommendations & reports", ":material/lightbulb:")

SIDE_ICON = {
    "buy": ":material/trending_up:",
    "sell": ":material/trending_down:",
    "close": ":material/close:",
    "hold": ":material/pause:",
}


def _show_json(label: str, raw: object) -> None:
    value = analytics.parse_json(raw)
    if value in (None, "", [], {}):
        return
    st.markdown(f"**{label}**")
    frame = analytics.json_frame(value)
    if frame is not None:
        st.dataframe(frame, hide_index=True)
    else:
        st.write(value)


# --- recommendations ---------------------------------------------------------------------------

st.subheader("Recommendations")
dates = ui.fetch(data.recommendation_dates, ctx.url, what="recommendations")
if dates is not None:
    if not dates:
        ui.empty("no recommendations")
    else:
        on_or_before = [d for d in dates if d <= ctx.end]
        default = on_or_before[0] if on_or_before else dates[0]
        day = st.selectbox(
            "Trading day", dates, index=dates.index(default), key="rec_day", format_func=str
        )
        recs = ui.fetch(data.recommendations, ctx.url, day, what="recommendations")
        if recs is not None and recs.empty:
            ui.empty(f"no recommendations for {day}")
        elif recs is not None:
            if recs["is_sample"].any():
                st.caption("Built from SAMPLE DATA.")
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Recommendations", len(recs))
            c2.metric("Strategies", recs["strategy"].nunique())
            c3.metric("Gross notional", f"{recs['notional'].abs().sum():,.0f}")
            c4.metric("Net notional", f"{recs['notional'].sum():,.0f}")
            summary = recs[
                [
                    "strategy",
                    "symbol",
                    "leg",
                    "side",
                    "target_weight",
                    "quantity",
                    "notional",
                    "entry_price",
                    "stop_price",
                    "target_price",
                    "sizing_rule",
                ]
            ]
            st.dataframe(
                summary,
                hide_index=True,
                column_config={
                    "target_weight": st.column_config.NumberColumn("weight", format="percent"),
                    "notional": st.column_config.NumberColumn(format="dollar"),
                },
                key="recs_table",
            )
            st.markdown("**Why each one**")
            for _, r in recs.iterrows():
                title = (
                    f"{str(r['side']).upper()} {r['quantity']:,.4g} {r['symbol']} · "
                    f"{r['strategy']} ({r['leg']})"
                )
                with st.expander(title, icon=SIDE_ICON.get(str(r["side"]).lower())):
                    k1, k2, k3, k4 = st.columns(4)
                    k1.metric("Entry", f"{r['entry_price']:,.2f}")
                    k2.metric(
                        "Stop", "—" if pd.isna(r["stop_price"]) else f"{r['stop_price']:,.2f}"
                    )
                    k3.metric(
                        "Target", "—" if pd.isna(r["target_price"]) else f"{r['target_price']:,.2f}"
                    )
                    k4.metric("Weight", f"{r['target_weight']:+.2%}")
                    _show_json("Conditions that fired", r["conditions"])
                    st.markdown(f"**Sizing** — `{r['sizing_rule']}`: {r['sizing_reason']}")
                    _show_json("Strategy stats", r["stats"])
                    _show_json("Upcoming events", r["events"])
                    _show_json("Scenario PnL", r["scenario_pnl"])

# --- report archive ---------------------------------------------------------------------------------

st.subheader("Report archive")
reps = ui.fetch(data.reports, ctx.url, what="reports")
if reps is not None:
    if reps.empty:
        ui.empty("no SOD/EOD report")
    else:
        labels = [
            f"{ui.day(r.report_date)} · {str(r.kind).upper()}"
            + (" · sample" if r.is_sample else "")
            for r in reps.itertuples()
        ]
        st.dataframe(
            reps[["report_date", "kind", "email_status", "created_at", "html_path"]],
            hide_index=True,
            key="reports_table",
        )
        choice = st.selectbox(
            "Open report", range(len(reps)), format_func=labels.__getitem__, key="report_pick"
        )
        row = reps.iloc[int(choice)]
        path = Path(str(row["html_path"]))
        if not path.is_file():
            st.info(
                f"The report file {path} is not on this machine (reports dir {ctx.reports_dir})."
            )
        else:
            html = path.read_text(encoding="utf-8", errors="replace")
            st.download_button(
                "Download HTML",
                html,
                file_name=f"{row['kind']}_{ui.day(row['report_date'])}.html",
                mime="text/html",
                key="report_dl",
            )
            st.iframe(analytics.inline_images(html, path.parent), height=900)
            text_path = row["text_path"]
            if isinstance(text_path, str) and Path(text_path).is_file():
                with st.expander("Plain-text version"):
                    st.code(
                        Path(text_path).read_text(encoding="utf-8", errors="replace"), language=None
                    )
