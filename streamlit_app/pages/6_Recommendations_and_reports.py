"""Recommendations & reports: the day's recommendations with their reasoning, the report archive."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from streamlit_app import analytics, data, ui

ctx = ui.setup("Recommendations & reports", ":material/lightbulb:")

ACTION_ICON = {
    "enter": ":material/add_circle:",
    "exit": ":material/cancel:",
    "reverse": ":material/swap_horiz:",
    "resize": ":material/tune:",
    "carry": ":material/pause_circle:",
}
ACTION_WORD = {
    "enter": "NEW ENTRY",
    "exit": "EXIT",
    "reverse": "REVERSE",
    "resize": "RESIZE",
    "carry": "CARRIED",
}
MONEY = st.column_config.NumberColumn(format="dollar")


def _table(label: str, frame: pd.DataFrame | None, **config) -> None:
    if frame is None or frame.empty:
        return
    st.markdown(f"**{label}**")
    st.dataframe(frame, hide_index=True, column_config=config or None)


def _show_conditions(raw: object) -> None:
    parts = analytics.conditions_parts(analytics.parse_json(raw))
    if parts["signal"]:
        st.markdown(f"**Signal** — {parts['signal']}")
    _table("Conditions that fired", parts["fired"])
    _table("Today's rule values", parts["values"])
    _table("Exit rules of the package", parts["rules"])


def _show_mapping(label: str, raw: object, value_name: str, **config) -> None:
    value = analytics.parse_json(raw)
    if isinstance(value, dict) and value:
        frame = pd.DataFrame(
            [(k, v) for k, v in value.items() if v is not None], columns=["name", value_name]
        )
        _table(label, frame, **config)
    elif isinstance(value, list) and value:
        _table(label, analytics.json_frame(value))


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
        acts = ui.fetch(data.recommendation_actions, ctx.url, day, what="recommendations")
        if recs is not None and recs.empty:
            ui.empty(f"no recommendations for {day}")
        elif recs is not None and acts is not None:
            if recs["is_sample"].any():
                st.caption("Built from SAMPLE DATA.")
            counts = acts.counts()
            c1, c2, c3, c4, c5 = st.columns(5)
            c1.metric("Recommendations", len(acts.packages))
            c2.metric("New entries", counts["enter"])
            c3.metric("Exits", counts["exit"])
            c4.metric("Size changes", counts["resize"] + counts["reverse"])
            c5.metric("Carried", counts["carry"])
            st.markdown(f"**{acts.summary()}** ({acts.basis}).")
            pk = acts.packages
            st.markdown("**At the open**")
            st.dataframe(
                pd.DataFrame(
                    {
                        "action": pk["action"].map(ACTION_WORD),
                        "orders": pk["orders"].where(pk["orders"] != "", "no trade: hold as is"),
                        "strategy": pk["strategy"],
                        "symbol": pk["symbol"],
                        "legs": pk["n_legs"],
                        "gross_notional": pk["gross_notional"],
                        "net_notional": pk["net_notional"],
                        "net_weight": pk["net_weight"],
                    }
                ),
                hide_index=True,
                column_config={
                    "gross_notional": MONEY,
                    "net_notional": MONEY,
                    "net_weight": st.column_config.NumberColumn(format="percent"),
                },
                key="actions_table",
            )
            st.markdown("**Why each one**")
            legs = acts.legs
            for p in pk.to_dict("records"):
                mine = legs[legs["package"] == p["package"]]
                orders = p["orders"] or "no trade: hold as is"
                title = f"{ACTION_WORD[p['action']]} · {orders} · {p['strategy']} ({p['symbol']})"
                with st.expander(title, icon=ACTION_ICON.get(p["action"])):
                    k1, k2, k3 = st.columns(3)
                    k1.metric("Gross notional", f"${p['gross_notional']:,.2f}")
                    k2.metric("Net notional", f"${p['net_notional']:,.2f}")
                    k3.metric("Net weight", f"{p['net_weight']:+.2%}")
                    view = pd.DataFrame(
                        {
                            "symbol": mine["symbol"],
                            "leg": mine["leg"],
                            "side": mine["side"],
                            "quantity": mine["qty_signed"].abs(),
                            "previous": mine["prev_qty"].abs(),
                            "trade": mine["trade_qty"],
                            "entry": mine["entry_price"],
                            "stop": mine["stop_price"],
                            "target": mine["target_price"],
                            "weight": mine["target_weight"],
                            "notional": mine["notional"],
                        }
                    )
                    st.dataframe(
                        view,
                        hide_index=True,
                        column_config={
                            "weight": st.column_config.NumberColumn(format="percent"),
                            "notional": MONEY,
                        },
                    )
                    stored = mine[mine["conditions"].notna()]
                    if stored.empty:
                        st.caption("No row today: the position of the previous day is exited.")
                        continue
                    r = stored.iloc[0]
                    _show_conditions(r["conditions"])
                    st.markdown(f"**Sizing** — {r['sizing_rule']}: {r['sizing_reason']}")
                    _show_mapping("Strategy stats", r["stats"], "value")
                    _show_mapping("Upcoming events", r["events"], "value")
                    pnl = {}
                    for raw in stored["scenario_pnl"]:
                        for k, v in (analytics.parse_json(raw) or {}).items():
                            if v is not None:
                                pnl[k] = pnl.get(k, 0.0) + float(v)
                    if pnl:
                        frame = pd.DataFrame(sorted(pnl.items()), columns=["scenario", "pnl"])
                        frame["pnl_pct_of_gross"] = (
                            frame["pnl"] / p["gross_notional"] if p["gross_notional"] else None
                        )
                        _table(
                            "Scenario PnL",
                            frame,
                            pnl=MONEY,
                            pnl_pct_of_gross=st.column_config.NumberColumn(format="percent"),
                        )

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
