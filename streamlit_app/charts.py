"""Plotly figures of the pages; plain functions of frames so they are testable alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

OVERLAYS = ("sma_20", "sma_50", "ema_12", "ema_26", "bb_upper", "bb_middle", "bb_lower")
OSCILLATORS = {
    "rsi_14": "RSI 14",
    "macd": "MACD",
    "stoch_k": "Stoch %K",
    "stoch_d": "Stoch %D",
    "cci_20": "CCI 20",
    "willr_14": "Williams %R",
    "mfi_14": "MFI 14",
    "adx_14": "ADX 14",
    "atr_14": "ATR 14",
    "obv": "OBV",
}
EVENT_SYMBOLS = {"earnings": "star", "dividend": "diamond", "split": "square"}
DIVERGING = "RdYlGn"


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        hovermode="x unified",
    )
    return fig


def group_heatmap(table: pd.DataFrame) -> go.Figure:
    """Groups x horizons, colour = mean return (green up, red down, centred at 0)."""
    z = table.to_numpy(dtype=float)
    text = np.vectorize(lambda v: "" if np.isnan(v) else f"{v:+.1%}")(z) if z.size else z
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(table.columns),
            y=list(table.index),
            text=text,
            texttemplate="%{text}",
            colorscale=DIVERGING,
            zmid=0,
            colorbar={"tickformat": ".0%"},
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    fig = _layout(fig, max(260, 28 * len(table) + 80))
    fig.update_layout(hovermode="closest", margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def instrument_chart(
    bars: pd.DataFrame,
    ind: pd.DataFrame,
    overlays: list[str],
    oscillators: list[str],
    sec_events: pd.DataFrame,
    econ_events: pd.DataFrame,
    news: pd.DataFrame,
    sentiment: pd.DataFrame,
    *,
    weekdays_only: bool,
) -> go.Figure:
    """Candles with overlays and event/news markers, volume, oscillators and sentiment."""
    rows = ["price", "volume"]
    if oscillators:
        rows.append("osc")
    if len(sentiment):
        rows.append("sentiment")
    heights = {"price": 0.55, "volume": 0.15, "osc": 0.18, "sentiment": 0.12}
    fig = make_subplots(
        rows=len(rows),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.02,
        row_heights=[heights[r] for r in rows],
    )
    row = {name: i + 1 for i, name in enumerate(rows)}
    fig.add_trace(
        go.Candlestick(
            x=bars["date"],
            open=bars["open"],
            high=bars["high"],
            low=bars["low"],
            close=bars["close"],
            name="OHLC",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    for name in overlays:
        if name in ind.columns:
            fig.add_trace(
                go.Scatter(x=ind["date"], y=ind[name], name=name, line={"width": 1}), row=1, col=1
            )
    close_at = bars.set_index("date")["close"]
    high_at = bars.set_index("date")["high"]
    for kind, g in sec_events.groupby("event_type") if len(sec_events) else []:
        y = high_at.reindex(g["event_date"]).to_numpy() * 1.02
        fig.add_trace(
            go.Scatter(
                x=g["event_date"],
                y=y,
                mode="markers",
                name=str(kind),
                marker={"symbol": EVENT_SYMBOLS.get(str(kind), "circle"), "size": 11},
                text=[f"{kind}: {v:g}" for v in g["value"]],
                hovertemplate="%{text}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if len(econ_events):
        low = float(bars["low"].min()) if len(bars) else 0.0
        fig.add_trace(
            go.Scatter(
                x=econ_events["release_date"],
                y=np.full(len(econ_events), low * 0.99),
                mode="markers",
                name="economic",
                marker={"symbol": "triangle-up", "size": 8, "color": "#6c757d"},
                text=[
                    f"{c}: actual {a} vs consensus {k}"
                    for c, a, k in zip(
                        econ_events["event_code"],
                        econ_events["actual"],
                        econ_events["consensus"],
                        strict=True,
                    )
                ],
                hovertemplate="%{text}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if len(news):
        dates = pd.to_datetime(news["published_date"])
        y = close_at.reindex(dates).ffill().to_numpy()
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=y,
                mode="markers",
                name="news",
                marker={
                    "symbol": "circle-open",
                    "size": 9,
                    "color": news["score"].fillna(0.0),
                    "colorscale": DIVERGING,
                    "cmin": -1,
                    "cmax": 1,
                    "line": {"width": 2},
                },
                text=news["title"],
                hovertemplate="%{text}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    colors = np.where(bars["close"] >= bars["open"], "#2ca02c", "#d62728")
    fig.add_trace(
        go.Bar(x=bars["date"], y=bars["volume"], marker_color=colors, name="volume"),
        row=row["volume"],
        col=1,
    )
    for name in oscillators:
        if name in ind.columns:
            fig.add_trace(
                go.Scatter(x=ind["date"], y=ind[name], name=OSCILLATORS.get(name, name)),
                row=row["osc"],
                col=1,
            )
    if len(sentiment):
        fig.add_trace(
            go.Scatter(
                x=sentiment["date"],
                y=sentiment["score"],
                name="sentiment",
                mode="lines+markers",
                line={"color": "#9467bd"},
            ),
            row=row["sentiment"],
            col=1,
        )
        fig.update_yaxes(range=[-1, 1], row=row["sentiment"], col=1)
    fig.update_xaxes(rangeslider_visible=False)
    if weekdays_only:
        fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])
    return _layout(fig, 720 if len(rows) > 2 else 600)


def macro_lines(view: pd.DataFrame, series: list[str], label: str) -> go.Figure:
    fig = make_subplots(
        rows=len(series), cols=1, shared_xaxes=True, subplot_titles=series, vertical_spacing=0.08
    )
    for i, sid in enumerate(series, start=1):
        s = view[view["series_id"] == sid]
        fig.add_trace(
            go.Scatter(x=s["date"], y=s["value"], name=f"{sid} ({label})", mode="lines"),
            row=i,
            col=1,
        )
    return _layout(fig, 220 * len(series) + 40)


def surprises(cal: pd.DataFrame, column: str) -> go.Figure:
    fig = go.Figure()
    for code, g in cal.groupby("event_code"):
        fig.add_trace(
            go.Scatter(
                x=g["release_date"],
                y=g[column],
                mode="markers",
                name=str(code),
                marker={"size": 9},
                hovertemplate=f"{code} %{{x|%Y-%m-%d}}: %{{y:.3g}}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig = _layout(fig, 320)
    fig.update_layout(hovermode="closest", yaxis_title=column)
    return fig


def event_study_bars(es: pd.DataFrame) -> go.Figure:
    """Mean CAR by bucket per group, with a ±1 standard-error bar."""
    fig = go.Figure()
    for group, g in es.groupby("group_name"):
        se = g["std_car"] / np.sqrt(g["n_events"].clip(lower=1))
        fig.add_trace(
            go.Bar(
                x=g["bucket"],
                y=g["mean_car"],
                name=str(group),
                error_y={"type": "data", "array": se},
                customdata=np.stack([g["n_events"], g["t_stat"]], axis=1),
                hovertemplate="%{x}: CAR %{y:.2%} (n=%{customdata[0]}, t=%{customdata[1]:.2f})"
                "<extra></extra>",
            )
        )
    fig = _layout(fig, 340)
    fig.update_layout(barmode="group", yaxis_tickformat=".1%", hovermode="closest")
    return fig


def equity(curves: pd.DataFrame, normalise: bool) -> go.Figure:
    fig = go.Figure()
    for name, g in curves.groupby("strategy"):
        y = g["equity"] / g["equity"].iloc[0] if normalise else g["equity"]
        fig.add_trace(go.Scatter(x=g["date"], y=y, name=str(name), mode="lines"))
    return _layout(fig, 360)


def drawdowns(curves: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for name, g in curves.groupby("strategy"):
        fig.add_trace(
            go.Scatter(x=g["date"], y=g["drawdown"], name=str(name), mode="lines", fill="tozeroy")
        )
    fig = _layout(fig, 260)
    fig.update_layout(yaxis_tickformat=".0%")
    return fig


def sweep_heatmap(grid: pd.DataFrame, x: str, y: str, metric: str) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(dtype=float),
            x=[str(c) for c in grid.columns],
            y=[str(i) for i in grid.index],
            colorscale="Viridis",
            colorbar={"title": metric},
            hovertemplate=f"{x}=%{{x}} {y}=%{{y}}: %{{z:.3g}}<extra></extra>",
        )
    )
    fig = _layout(fig, 420)
    fig.update_layout(xaxis_title=x, yaxis_title=y, hovermode="closest")
    return fig


def fan(mc: pd.DataFrame, title: str) -> go.Figure:
    """Percentile bands of cumulative return by day ahead: 5-95 and 25-75, median line."""
    d = mc.sort_values("day")
    fig = go.Figure()
    for lo, hi, alpha in (("p05", "p95", 0.18), ("p25", "p75", 0.35)):
        fig.add_trace(go.Scatter(x=d["day"], y=d[hi], line={"width": 0}, showlegend=False))
        fig.add_trace(
            go.Scatter(
                x=d["day"],
                y=d[lo],
                fill="tonexty",
                line={"width": 0},
                fillcolor=f"rgba(31,119,180,{alpha})",
                name=f"{lo[1:]}-{hi[1:]}%",
            )
        )
    fig.add_trace(go.Scatter(x=d["day"], y=d["p50"], name="median", line={"color": "#1f77b4"}))
    fig = _layout(fig, 380)
    fig.update_layout(
        title=title,
        xaxis_title="days ahead",
        yaxis_title="cumulative return",
        yaxis_tickformat=".0%",
    )
    return fig


def scenario_pnl(rows: pd.DataFrame) -> go.Figure:
    d = rows.sort_values("pnl")
    fig = go.Figure(
        go.Bar(
            x=d["pnl"],
            y=d["symbol"],
            orientation="h",
            marker_color=np.where(d["pnl"] >= 0, "#2ca02c", "#d62728"),
            customdata=np.stack([d["group_name"].fillna(""), d["scenario_return"]], axis=1),
            hovertemplate="%{y} (%{customdata[0]}): %{x:,.0f} (%{customdata[1]:.1%})"
            "<extra></extra>",
        )
    )
    fig = _layout(fig, max(260, 24 * len(d) + 60))
    fig.update_layout(xaxis_title="PnL", hovermode="closest")
    return fig


def correlation_heatmap(corr: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=corr.to_numpy(),
            x=list(corr.columns),
            y=list(corr.index),
            colorscale="RdBu_r",
            zmin=-1,
            zmax=1,
            hovertemplate="%{y} / %{x}: %{z:.2f}<extra></extra>",
        )
    )
    n = len(corr)
    fig = _layout(fig, min(900, max(360, 14 * n + 120)))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(hovermode="closest")
    return fig


def exposure_bars(table: pd.DataFrame) -> go.Figure:
    """Bars per group (x) for each measure column."""
    fig = go.Figure()
    for col in table.columns:
        fig.add_trace(go.Bar(x=list(table.index), y=table[col], name=str(col)))
    fig = _layout(fig, 320)
    fig.update_layout(barmode="group", hovermode="closest")
    return fig


def drawdown_gauge(dd: float, derisk: float | None, halt: float | None) -> go.Figure:
    """Current drawdown size against the de-risk and halt limits."""
    top = max(abs(halt or 0.0), abs(derisk or 0.0), abs(dd)) * 1.25 or 0.25
    steps = []
    if derisk is not None:
        steps.append({"range": [0, abs(derisk)], "color": "#d4edda"})
        steps.append({"range": [abs(derisk), abs(halt) if halt else top], "color": "#fff3cd"})
    if halt is not None:
        steps.append({"range": [abs(halt), top], "color": "#f8d7da"})
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=abs(dd),
            number={"valueformat": ".1%"},
            gauge={
                "axis": {"range": [0, top], "tickformat": ".0%"},
                "steps": steps,
                "bar": {"color": "#343a40"},
                "threshold": {"line": {"color": "#d62728", "width": 3}, "value": abs(halt or top)},
            },
            title={"text": "drawdown"},
        )
    )
    fig.update_layout(height=260, margin={"l": 20, "r": 20, "t": 40, "b": 10})
    return fig


def feature_importance(imp: pd.DataFrame, top: int = 25) -> go.Figure:
    """Horizontal bars of the `top` most important features, the largest at the top."""
    d = imp.sort_values("importance", ascending=False).head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=d["importance"],
            y=d["feature"],
            orientation="h",
            marker_color="#1f77b4",
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
        )
    )
    fig = _layout(fig, max(260, 22 * len(d) + 60))
    fig.update_layout(xaxis_title="importance", hovermode="closest", showlegend=False)
    return fig


def rank_ic(ic: pd.Series, window: int = 20) -> go.Figure:
    """Daily rank IC as bars (green positive, red negative) with its rolling mean."""
    fig = go.Figure(
        go.Bar(
            x=ic.index,
            y=ic.to_numpy(),
            name="daily rank IC",
            marker_color=np.where(ic.to_numpy() >= 0, "#2ca02c", "#d62728"),
            hovertemplate="%{x|%Y-%m-%d}: %{y:.3f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ic.index,
            y=ic.rolling(window, min_periods=max(2, window // 2)).mean().to_numpy(),
            name=f"{window}-day mean",
            mode="lines",
            line={"color": "#343a40", "width": 2},
        )
    )
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig = _layout(fig, 320)
    fig.update_layout(yaxis_title="rank IC", bargap=0.1)
    return fig


def score_history(hist: pd.DataFrame, symbol: str) -> go.Figure:
    """One symbol's scores over time: out-of-sample history as a line, live scores as dots."""
    fig = go.Figure()
    for oos, label, mode in ((True, "out-of-sample", "lines"), (False, "live", "markers")):
        d = hist[hist["oos"] == oos]
        if len(d):
            fig.add_trace(
                go.Scatter(
                    x=d["date"],
                    y=d["score"],
                    name=f"{symbol} {label}",
                    mode=mode,
                    marker={"size": 8},
                )
            )
    fig = _layout(fig, 300)
    fig.update_layout(yaxis_title="score")
    return fig
