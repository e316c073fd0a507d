"""Execution: kill-switch state, orders, fills, positions and reconciliation breaks."""

from __future__ import annotations

import getpass
import json

import pandas as pd
import streamlit as st

from execution import approval, kill_switch
from quant_assets.warehouse import connect
from streamlit_app import data, ui

ctx = ui.setup("Execution", ":material/swap_horiz:")

# --- kill switch ----------------------------------------------------------------------------

st.subheader("Kill switch")
# The state comes from the switch's own store (file or Redis), never from the warehouse,
# so the page shows the truth even while a run holds the warehouse or before the change
# was copied into execution.kill_switch.
switch = kill_switch.status(settings=ctx.settings)
if switch.active:
    why = []
    if switch.store_error:
        why.append(f"its state cannot be read ({switch.store_error})")
    elif switch.toggle:
        why.append(f"toggled by {switch.changed_by} at {switch.changed_at} UTC: {switch.reason}")
    if switch.setting:
        why.append("QUANT_KILL_SWITCH=true in the environment")
    st.error("KILL SWITCH ACTIVE — no new orders are sent. " + "; ".join(why))
elif switch.changed_at is not None:
    st.success(
        f"Kill switch off (last change {switch.changed_at} UTC by {switch.changed_by}).",
        icon=":material/check_circle:",
    )
else:
    st.success("Kill switch off (never toggled).", icon=":material/check_circle:")
st.caption(f"Broker mode: {ctx.settings.broker_mode}.")
ks = ui.fetch(data.execution_table, ctx.url, "execution.kill_switch", what="kill-switch history")
if ks is not None and len(ks):
    with st.expander("Kill-switch history (as copied to the warehouse)"):
        st.dataframe(ks.sort_values("changed_at", ascending=False), hide_index=True)

# --- approval ----------------------------------------------------------------------------------

st.subheader("Approval")
st.caption(
    f"Policy: {ctx.settings.approval_policy} (QUANT_APPROVAL; auto only in dry_run and paper). "
    "Only approved orders are sent; every decision is recorded with who and when."
)
pending = ui.fetch(
    data.execution_table, ctx.url, "execution.orders", what="orders awaiting a decision"
)
decided = ui.fetch(data.execution_table, ctx.url, "execution.approvals", what="approval decisions")
if pending is not None and decided is not None:
    approved_ids = set()
    for ids in decided.loc[decided["decision"] == "approved", "order_ids"] if len(decided) else ():
        approved_ids.update(json.loads(ids))
    waiting = pending[(pending["status"] == "new") & ~pending["client_order_id"].isin(approved_ids)]
    if waiting.empty:
        st.success("No orders await a decision.", icon=":material/check_circle:")
    else:
        day = pd.Timestamp(waiting["trade_date"].max()).date()
        todo = waiting[pd.to_datetime(waiting["trade_date"]).dt.date == day]
        st.warning(
            f"{len(todo)} order(s) of {day} await a decision; unapproved orders expire "
            f"{approval.expires_at(day, ctx.settings):%Y-%m-%d %H:%M %Z}.",
            icon=":material/gavel:",
        )
        st.dataframe(
            todo[["client_order_id", "strategy", "symbol", "side", "qty", "parent_id", "leg"]],
            hide_index=True,
            key="approval_table",
        )
        who = st.text_input("Decided by", value=getpass.getuser(), key="approval_by")
        why = st.text_input("Reason (optional)", key="approval_reason")
        c1, c2 = st.columns(2)
        choice = None
        if c1.button("Approve all", type="primary", key="approve_all"):
            choice = approval.approve
        if c2.button("Reject all", key="reject_all"):
            choice = approval.reject
        if choice is not None:
            # DuckDB allows one configuration per file in a process: drop the read-only
            # connection before the short write of the decision.
            data.reader(ctx.url).close()
            try:
                with connect(ctx.settings.warehouse_url) as wh:
                    rec = choice(wh, day, by=who, channel="streamlit", reason=why or None,
                                 order_ids=list(todo["client_order_id"]))  # fmt: skip
            except approval.ApprovalError as exc:
                st.error(str(exc))
            except Exception as exc:  # the pipeline holds the writer's lock: say so, retry
                st.error(f"Could not record the decision now ({type(exc).__name__}); retry.")
            else:
                st.cache_data.clear()
                st.success(
                    f"{rec['decision']} {rec['n_orders']} order(s) of {day} by {rec['decided_by']}."
                )
    if len(decided):
        with st.expander("Decisions"):
            st.dataframe(decided.sort_values("decided_at", ascending=False), hide_index=True)

# --- orders ------------------------------------------------------------------------------------

st.subheader("Orders")
orders = ui.fetch(
    data.execution_table, ctx.url, "execution.orders", ctx.start, ctx.end, what="orders"
)
if orders is not None:
    if orders.empty:
        ui.empty(f"no orders between {ctx.start} and {ctx.end}")
    else:
        counts = orders["status"].value_counts()
        cols = st.columns(min(len(counts), 6))
        for col, (status, n) in zip(cols, counts.head(6).items(), strict=False):
            col.metric(str(status), int(n))
        statuses = st.multiselect(
            "Status",
            sorted(counts.index),
            default=[],
            placeholder="All statuses",
            key="order_status",
        )
        shown = orders[orders["status"].isin(statuses)] if statuses else orders
        st.dataframe(
            shown.sort_values("updated_at", ascending=False)[
                [
                    "trade_date",
                    "strategy",
                    "symbol",
                    "side",
                    "qty",
                    "order_type",
                    "limit_price",
                    "status",
                    "filled_qty",
                    "avg_fill_price",
                    "broker",
                    "reason",
                    "client_order_id",
                ]
            ],
            hide_index=True,
            key="orders_table",
        )

# --- fills ---------------------------------------------------------------------------------------

st.subheader("Fills")
fills = ui.fetch(data.execution_table, ctx.url, "execution.fills", ctx.start, ctx.end, what="fills")
if fills is not None:
    if fills.empty:
        ui.empty(f"no fills between {ctx.start} and {ctx.end}")
    else:
        notional = (fills["qty"] * fills["price"]).sum()
        costs = fills[["commission", "spread_cost", "slippage_cost"]].sum()
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Fills", len(fills))
        c2.metric("Traded notional", f"{notional:,.0f}")
        c3.metric("Commissions", f"{costs['commission']:,.2f}")
        c4.metric("Spread + slippage", f"{costs['spread_cost'] + costs['slippage_cost']:,.2f}")
        st.dataframe(
            fills.sort_values("fill_time", ascending=False), hide_index=True, key="fills_table"
        )

# --- positions -----------------------------------------------------------------------------------

st.subheader("Positions")
pos = ui.fetch(data.execution_table, ctx.url, "execution.positions", what="positions")
acct = ui.fetch(data.execution_table, ctx.url, "execution.accounts", what="accounts")
if pos is not None:
    open_pos = pos[pos["qty"] != 0]
    if open_pos.empty:
        ui.empty("no open positions")
    else:
        px = ui.fetch(data.last_closes, ctx.url, tuple(open_pos["symbol"]), what="last closes")
        px = px if px is not None else pd.DataFrame(columns=["symbol", "date", "close"])
        book = open_pos.merge(px.rename(columns={"date": "price_date"}), on="symbol", how="left")
        book["market_value"] = book["qty"] * book["close"]
        book["unrealised_pnl"] = (book["close"] - book["avg_price"]) * book["qty"]
        if acct is not None and len(acct):
            c1, c2, c3 = st.columns(3)
            cash = float(acct["cash"].sum())
            c1.metric("Cash", f"{cash:,.0f}")
            c2.metric("Positions value", f"{book['market_value'].sum():,.0f}")
            c3.metric("Equity", f"{cash + book['market_value'].sum():,.0f}")
        st.dataframe(book, hide_index=True, key="positions_table")

# --- reconciliation --------------------------------------------------------------------------------

st.subheader("Reconciliation breaks")
breaks = ui.fetch(
    data.execution_table, ctx.url, "execution.reconciliation_breaks", what="reconciliation"
)
if breaks is not None:
    if breaks.empty:
        st.success("No reconciliation breaks recorded.", icon=":material/check_circle:")
    else:
        last_run = breaks.sort_values("run_time").iloc[-1]["run_id"]
        latest = breaks[breaks["run_id"] == last_run]
        st.warning(
            f"{len(latest)} break(s) in the latest run with breaks "
            f"({latest['run_time'].iloc[0]}, {latest['broker'].iloc[0]}).",
            icon=":material/rule:",
        )
        st.dataframe(latest, hide_index=True, key="breaks_table")
        with st.expander("All breaks"):
            st.dataframe(breaks.sort_values("run_time", ascending=False), hide_index=True)
