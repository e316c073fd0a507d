"""Risk: correlation heat map and clusters, exposure by group, drawdown against its limits."""

from __future__ import annotations

import streamlit as st

from streamlit_app import analytics, charts, data, ui

ctx = ui.setup("Risk", ":material/shield:")

# --- correlations --------------------------------------------------------------------------

st.subheader("Correlation and clusters")
c1, c2 = st.columns(2)
lookback = c1.select_slider(
    "Lookback (bars)", options=[20, 40, 60, 120, 250], value=60, key="risk_lookback"
)
n_clusters = c2.slider("Clusters", min_value=2, max_value=12, value=6, key="risk_clusters")
found = ui.fetch(
    data.correlations,
    ctx.url,
    tuple(ctx.symbols),
    ctx.end,
    int(lookback),
    int(n_clusters),
    what="returns for correlations",
)
if found is not None:
    corr, labels, basis = found
    if len(corr) < 2:
        ui.empty(f"fewer than two symbols with {lookback} bars of returns up to {ctx.end}")
    else:
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(charts.correlation_heatmap(corr), key="corr_heatmap")
            st.caption(
                f"{len(corr)} symbols, {lookback} bars up to {ctx.end}, returns of the {basis}; "
                "ordered by average-linkage clusters on sqrt((1 - rho) / 2)."
            )
        with right:
            st.dataframe(
                analytics.cluster_table(corr, labels), hide_index=True, key="cluster_table"
            )

# --- exposure --------------------------------------------------------------------------------------

st.subheader("Exposure by group")
risk = ui.fetch(data.risk_snapshot, ctx.url, what="risk snapshot")
shown = False
if risk is not None and len(risk):
    exp = risk[risk["metric"].str.contains("exposure", case=False) & (risk["scope"] != "portfolio")]
    if len(exp):
        table = exp.pivot_table(index="scope", columns="metric", values="value", aggfunc="last")
        st.plotly_chart(charts.exposure_bars(table), key="exposure_chart")
        st.caption(f"From strategies.risk_snapshot as of {ui.day(risk['as_of'].max())}.")
        port = risk[
            risk["metric"].str.contains("exposure", case=False) & (risk["scope"] == "portfolio")
        ]
        if len(port):
            cols = st.columns(len(port))
            for col, (_, r) in zip(cols, port.iterrows(), strict=True):
                col.metric(f"portfolio {r['metric']}", f"{r['value']:.2f}")
        shown = True
if not shown:
    pos = ui.fetch(data.execution_table, ctx.url, "execution.positions", what="positions")
    if pos is not None:
        pos = pos[pos["qty"] != 0]
        if pos.empty:
            ui.empty("no exposure in strategies.risk_snapshot and no open positions")
        else:
            px = ui.fetch(data.last_closes, ctx.url, tuple(pos["symbol"]), what="last closes")
            if px is not None:
                mv = pos.merge(px, on="symbol", how="left")
                mv["value"] = mv["qty"] * mv["close"]
                by = mv.merge(ctx.membership, on="symbol", how="left").fillna({"group_name": "?"})
                table = by.groupby("group_name").agg(
                    gross=("value", lambda v: v.abs().sum()), net=("value", "sum")
                )
                st.plotly_chart(charts.exposure_bars(table), key="exposure_chart")
                st.caption(
                    "From execution.positions at the last close (a symbol in two groups counts in both)."
                )

# --- drawdown vs limits ------------------------------------------------------------------------------

st.subheader("Drawdown against limits")
if risk is not None:
    dd = (
        risk[(risk["metric"].str.startswith("drawdown")) & (risk["scope"] == "portfolio")]
        if len(risk)
        else risk
    )
    values = dict(zip(dd["metric"], dd["value"], strict=True)) if len(dd) else {}
    if "drawdown" not in values:
        ui.empty("no drawdown in strategies.risk_snapshot")
    else:
        current = float(values["drawdown"])
        derisk = values.get("drawdown_derisk_at")
        halt = values.get("drawdown_halt_at")
        state = analytics.drawdown_state(current, derisk, halt)
        left, right = st.columns([2, 3])
        with left:
            st.plotly_chart(charts.drawdown_gauge(current, derisk, halt), key="drawdown_gauge")
        with right:
            st.metric("State", state.upper())
            st.metric("Drawdown", f"{current:.2%}")
            if derisk is not None:
                st.metric("De-risk at", f"{abs(derisk):.0%}")
            if halt is not None:
                st.metric("Halt at", f"{abs(halt):.0%}")
        other = risk[risk["metric"].str.startswith("drawdown")]
        st.dataframe(other.drop(columns=["as_of"]), hide_index=True, key="drawdown_table")
