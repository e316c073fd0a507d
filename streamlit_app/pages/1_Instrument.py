"""Instrument: candles with volume, indicators, event and news markers, sentiment, key stats.

Candles, overlays and key stats are split-adjusted (every price before a split divided by
its ratio, so a 3-for-1 split is not a -67% day); each split has a marker. Indicators are
computed on these bars (the price scale); derived.technical_indicators holds the
total-return scale that signals use (tr_* columns), and is not drawn over prices.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

from quant_assets.strategy.indicators import price_scale_indicators, split_adjust
from streamlit_app import charts, data, ui

WARMUP_DAYS = 120  # calendar days of bars before the range, so indicators start warm

ctx = ui.setup("Instrument", ":material/candlestick_chart:")

if ctx.symbol is None:
    ui.empty("no instrument has bars")
    st.stop()

symbol = ctx.symbol
inst = ctx.instruments.set_index("symbol")
info = inst.loc[symbol] if symbol in inst.index else None
if info is not None:
    st.markdown(
        f"**{symbol}** · {info['name']} · {info['asset_class']} · {info['sector']} · "
        f"groups: {info['groups']}"
    )

bars = ui.fetch(data.bars, ctx.url, symbol, ctx.start, ctx.end, what=f"bars of {symbol}")
if bars is None:
    st.stop()
if bars.empty:
    ui.empty(f"no bars of {symbol} between {ctx.start} and {ctx.end}")
    st.stop()
sources = sorted(bars["source"].unique())
if len(sources) > 1:
    chosen = st.radio("Source", sources, horizontal=True, key="instrument_source")
    bars = bars[bars["source"] == chosen]
bars = bars.sort_values("date").reset_index(drop=True)
splits = ui.fetch(data.splits, ctx.url, symbol, ctx.end, what="splits")
splits = splits if splits is not None else pd.DataFrame(columns=["date", "ratio"])
raw_first = float(bars["close"].iloc[0])
bars = split_adjust(bars, splits)

c1, c2, c3 = st.columns([3, 3, 2])
overlays = c1.multiselect(
    "Overlays", list(charts.OVERLAYS), default=["sma_20", "sma_50"], key="instrument_overlays"
)
oscillators = c2.multiselect(
    "Oscillators",
    list(charts.OSCILLATORS),
    default=["rsi_14"],
    format_func=lambda k: charts.OSCILLATORS[k],
    key="instrument_oscillators",
)
with c3:
    show_econ = st.toggle("Economic releases", value=False, key="instrument_econ")
    show_news = st.toggle("News markers", value=True, key="instrument_news")

ind = pd.DataFrame(columns=["date"])
if overlays or oscillators:
    warm = ui.fetch(
        data.bars, ctx.url, symbol, ctx.start - dt.timedelta(days=WARMUP_DAYS), ctx.end,
        what=f"bars of {symbol}",
    )  # fmt: skip
    if warm is not None and len(warm):
        if "source" in warm and bars["source"].nunique() == 1:
            warm = warm[warm["source"] == bars["source"].iloc[0]]
        full = price_scale_indicators(split_adjust(warm.sort_values("date"), splits))
        ind = full[pd.to_datetime(full["date"]) >= pd.Timestamp(ctx.start)]
sec = ui.fetch(data.security_events, ctx.url, symbol, ctx.start, ctx.end, what="security events")
econ = (
    ui.fetch(data.economic_events, ctx.url, ctx.start, ctx.end, what="economic events")
    if show_econ
    else None
)
news = ui.fetch(data.news, ctx.url, symbol, ctx.start, ctx.end, what="news") if show_news else None
sent = ui.fetch(data.sentiment, ctx.url, symbol, ctx.start, ctx.end, what="sentiment")
empty = pd.DataFrame()

weekdays = info is None or info["calendar"] != "24/7"
fig = charts.instrument_chart(
    bars,
    ind,
    overlays,
    oscillators,
    sec if sec is not None else empty,
    econ if econ is not None else empty,
    news if news is not None else empty,
    sent if sent is not None else empty,
    weekdays_only=weekdays,
)
st.plotly_chart(fig, key="instrument_chart")

# --- key stats ---------------------------------------------------------------------------------

st.subheader("Key stats")
close = bars.set_index("date")["close"]
rets = close.pct_change().dropna()
ann = np.sqrt(252 if weekdays else 365)
peak = close.cummax()
stats = {
    "Last close": f"{close.iloc[-1]:,.2f}",
    "Change (range)": f"{close.iloc[-1] / close.iloc[0] - 1:+.2%}",
    "High / low (range)": f"{bars['high'].max():,.2f} / {bars['low'].min():,.2f}",
    "Vol 20d (ann.)": f"{rets.tail(20).std() * ann:.1%}" if len(rets) >= 20 else "n/a",
    "Max drawdown (range)": f"{(close / peak - 1).min():.1%}",
    "Avg volume 20d": f"{bars['volume'].tail(20).mean():,.0f}",
}
cols = st.columns(len(stats))
for col, (label, value) in zip(cols, stats.items(), strict=True):
    col.metric(label, value)
in_range = splits[pd.to_datetime(splits["date"]) > pd.Timestamp(bars["date"].iloc[0])]
split_note = (
    "; splits in the range: "
    + ", ".join(f"{pd.Timestamp(d).date()} {r:g}-for-1" for d, r in zip(
        in_range["date"], in_range["ratio"], strict=True))
    + f" (first close {raw_first:,.2f} as traded)"
    if len(in_range)
    else ""
)  # fmt: skip
st.caption(
    f"Split-adjusted prices ({', '.join(sources)}; every price before a split divided by its "
    f"ratio), indicators on the same scale; last bar {close.index[-1].date()}{split_note}."
)

left, right = st.columns(2)
with left:
    st.markdown("**Security events**")
    if sec is not None and len(sec):
        st.dataframe(
            sec[["event_date", "event_type", "value", "consensus", "details"]],
            hide_index=True,
            key="instrument_events",
        )
    elif sec is not None:
        st.caption("No earnings, dividends or splits in the range.")
with right:
    st.markdown("**News**")
    if news is not None and len(news):
        st.dataframe(
            news[["published_at", "title", "publisher", "score", "url"]].iloc[::-1],
            hide_index=True,
            column_config={"url": st.column_config.LinkColumn("link", display_text="open")},
            key="instrument_news_table",
        )
    elif news is not None:
        st.caption("No news tagged with this symbol in the range.")
