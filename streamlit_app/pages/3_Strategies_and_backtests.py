"""Strategies & backtests: definitions, stats, equity and drawdown, sweeps, tearsheets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import quant_assets
from streamlit_app import analytics, charts, data, ui

ctx = ui.setup("Strategies & backtests", ":material/insights:")
LIBRARY = Path(quant_assets.__file__).parent / "strategy" / "library"

# --- definitions ------------------------------------------------------------------------------

st.subheader("Strategy definitions")
defs = data.strategy_definitions(str(LIBRARY))
if not defs:
    ui.empty("no strategy definitions", "add YAML files to quant_assets/strategy/library/")
else:
    st.dataframe(
        pd.DataFrame(defs)[["name", "kind", "description", "file"]],
        hide_index=True,
        key="definitions_table",
    )
    for d in defs:
        with st.expander(f"{d['name']} ({d['kind'] or '?'}) — {d['file']}"):
            if d["error"]:
                st.warning(f"Not valid YAML: {d['error']}")
            st.code(d["text"], language="yaml")

# --- stats ------------------------------------------------------------------------------------

st.subheader("Backtest statistics")
stats = ui.fetch(data.backtest_stats, ctx.url, what="backtest statistics")
if stats is not None:
    if stats.empty:
        ui.empty("no backtest has run")
    else:
        table = analytics.stats_table(stats)
        pct = [
            c
            for c in table.columns
            if c in ("total_return", "cagr", "volatility", "max_drawdown", "hit_rate")
        ]
        st.dataframe(table, column_config=ui.pct_columns(pct), key="stats_table")

# --- equity curves -------------------------------------------------------------------------------

st.subheader("Equity curves and drawdowns")
names = ui.fetch(data.equity_strategies, ctx.url, what="equity curves")
if names is not None:
    if not names:
        ui.empty("no equity curves")
    else:
        c1, c2 = st.columns([4, 1])
        chosen = c1.multiselect("Strategies", names, default=names[:6], key="equity_strategies")
        normalise = c2.toggle("Growth of 1", value=True, key="equity_normalise")
        curves = (
            ui.fetch(
                data.equity_curves, ctx.url, tuple(chosen), ctx.start, ctx.end, what="equity curves"
            )
            if chosen
            else None
        )
        if curves is not None and curves.empty:
            ui.empty(f"no equity points between {ctx.start} and {ctx.end}")
        elif curves is not None:
            st.plotly_chart(charts.equity(curves, normalise), key="equity_chart")
            st.plotly_chart(charts.drawdowns(curves), key="drawdown_chart")

# --- parameter sweeps ------------------------------------------------------------------------------

st.subheader("Parameter sweeps")
sweeps = data.report_files(str(ctx.reports_dir), "sweep")
if sweeps.empty:
    ui.empty(
        "no parameter sweep results",
        f"save a sweep frame (one row per parameter set) as {ctx.reports_dir}/sweeps/<name>.parquet or .csv",
    )
else:
    pick = st.selectbox("Sweep", list(sweeps["name"]), key="sweep_file")
    frame = data.read_sweep(str(sweeps.set_index("name").loc[pick, "path"]))
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    if len(numeric) < 3:
        st.info(f"{pick} needs two parameter columns and a metric; it has {numeric}.")
    else:
        c1, c2, c3 = st.columns(3)
        x = c1.selectbox("x parameter", numeric, index=0, key="sweep_x")
        y = c2.selectbox("y parameter", [c for c in numeric if c != x], index=0, key="sweep_y")
        rest = [c for c in numeric if c not in (x, y)]
        metric = c3.selectbox(
            "Metric",
            rest,
            index=rest.index("sharpe") if "sharpe" in rest else 0,
            key="sweep_metric",
        )
        grid = frame.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
        st.plotly_chart(charts.sweep_heatmap(grid, x, y, metric), key="sweep_chart")
        st.caption(f"{len(frame)} parameter sets; cells average over the other parameters.")

# --- tearsheets ------------------------------------------------------------------------------------

st.subheader("Tearsheets")
sheets = data.report_files(str(ctx.reports_dir), "tearsheet")
if sheets.empty:
    ui.empty(
        "no quantstats tearsheets",
        f"save them as {ctx.reports_dir}/<date>/<strategy>_tearsheet.html",
    )
else:
    st.dataframe(sheets[["name", "modified"]], hide_index=True, key="tearsheets_table")
    pick = st.selectbox("Open tearsheet", list(sheets["name"]), key="tearsheet_file")
    path = Path(sheets.set_index("name").loc[pick, "path"])
    html = path.read_text(encoding="utf-8", errors="replace")
    st.download_button("Download", html, file_name=path.name, mime="text/html", key="tearsheet_dl")
    with st.expander(f"{pick}", expanded=False):
        st.iframe(analytics.inline_images(html, path.parent), height=900)
