"""Simulations: Monte Carlo fan charts, VaR/CVaR, scenario PnL by position."""

from __future__ import annotations

import streamlit as st

from streamlit_app import charts, data, ui

ctx = ui.setup("Simulations", ":material/ssid_chart:")

# --- Monte Carlo -------------------------------------------------------------------------------

st.subheader("Monte Carlo")
mc = ui.fetch(data.monte_carlo, ctx.url, what="Monte Carlo paths")
if mc is not None:
    if mc.empty:
        ui.empty("no Monte Carlo simulation has run")
    else:
        c1, c2 = st.columns(2)
        subjects = sorted(mc["subject"].unique())
        subject = c1.selectbox("Subject", subjects, key="mc_subject")
        models = sorted(mc.loc[mc["subject"] == subject, "model"].unique())
        model = c2.radio("Model", models, horizontal=True, key="mc_model")
        sel = mc[(mc["subject"] == subject) & (mc["model"] == model)]
        st.plotly_chart(
            charts.fan(sel, f"{subject} · {model} · as of {ui.day(sel['as_of'].max())}"),
            key="mc_fan",
        )
        horizon = mc[mc["subject"] == subject]
        last = horizon.loc[horizon.groupby("model")["day"].idxmax()]
        st.caption("Cumulative return percentiles at the horizon, per model:")
        st.dataframe(
            last[["model", "day", "p05", "p25", "p50", "p75", "p95"]],
            hide_index=True,
            column_config=ui.pct_columns(["p05", "p25", "p50", "p75", "p95"]),
            key="mc_horizon_table",
        )

# --- VaR / CVaR ----------------------------------------------------------------------------------

st.subheader("VaR and CVaR")
risk = ui.fetch(data.risk_snapshot, ctx.url, what="risk snapshot")
if risk is not None:
    var = risk[risk["metric"].str.contains("var", case=False)] if len(risk) else risk
    if var.empty:
        ui.empty("no VaR/CVaR in strategies.risk_snapshot")
    else:
        port = var[var["scope"] == "portfolio"]
        if len(port):
            cols = st.columns(min(len(port), 6))
            for col, (_, row) in zip(cols, port.head(6).iterrows(), strict=False):
                col.metric(row["metric"], f"{row['value']:.2%}")
        table = var.pivot_table(index="metric", columns="scope", values="value", aggfunc="last")
        st.dataframe(
            table,
            column_config=ui.pct_columns(list(table.columns)),
            key="var_table",
        )
        st.caption(f"As of {ui.day(var['as_of'].max())}; losses as positive fractions of value.")

# --- scenarios -------------------------------------------------------------------------------------

st.subheader("Scenarios")
sc = ui.fetch(data.scenario_results, ctx.url, what="scenario results")
if sc is not None:
    if sc.empty:
        ui.empty("no scenario has run")
    else:
        summary = (
            sc.groupby("scenario")
            .agg(
                pnl=("pnl", "sum"),
                market_value=("market_value", "sum"),
                positions=("symbol", "count"),
            )
            .sort_values("pnl")
        )
        summary["return"] = summary["pnl"] / summary["market_value"].abs()
        st.dataframe(
            summary,
            column_config={
                "pnl": st.column_config.NumberColumn("PnL", format="dollar"),
                "market_value": st.column_config.NumberColumn("market value", format="dollar"),
                "return": st.column_config.NumberColumn("return", format="percent"),
            },
            key="scenario_summary",
        )
        scenario = st.selectbox("PnL by position for", list(summary.index), key="scenario_pick")
        rows = sc[sc["scenario"] == scenario]
        st.plotly_chart(charts.scenario_pnl(rows), key="scenario_chart")
        st.dataframe(
            rows.drop(columns=["as_of", "scenario"]),
            hide_index=True,
            column_config=ui.pct_columns(["scenario_return"]),
            key="scenario_positions",
        )
