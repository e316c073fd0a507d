"""Report charts as PNG bytes, drawn with matplotlib's Agg canvas (no display, no pyplot).

Each function builds its own `Figure` (no global pyplot state, so charts can be drawn
from several threads) and returns the PNG. Inputs are plain pandas objects; nothing is
fetched. Sizes are for an email column about 760 px wide.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

P = ParamSpec("P")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH_IN, DPI = 7.6, 100
GAIN, LOSS, NEUTRAL = "#1a7f37", "#cf222e", "#0969da"
_STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _figure(
    height: float,
    nrows: int = 1,
    *,
    left: float = 0.75,
    right: float = 0.2,
    bottom: float = 0.45,
    top: float = 0.3,
    width: float = WIDTH_IN,
    **grid: object,
) -> tuple[Figure, list]:
    """A figure with fixed margins in inches (constrained layout doubles the drawing time)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, squeeze=False, **grid)[:, 0]
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )
    return fig, list(axes)


def _label_inches(labels: Sequence[str], fontsize: float = 7) -> float:
    """Rough width of the longest label (0.6 em per character) in inches."""
    return 0.6 * fontsize / 72 * max((len(str(x)) for x in labels), default=1)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _styled(fn: Callable[P, bytes]) -> Callable[P, bytes]:
    """Run a chart function under the report style (rc settings apply at artist creation)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> bytes:
        with mpl.rc_context(_STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _dates(ax) -> None:
    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _date_indexed(frame: pd.DataFrame) -> pd.DataFrame:
    if "date" in frame.columns:
        frame = frame.set_index("date")
    frame = frame.sort_index()
    frame.index = pd.to_datetime(frame.index)
    return frame


def with_indicators(
    history: pd.DataFrame, sma: Sequence[int] = (20, 50), bollinger: tuple[int, float] = (20, 2.0)
) -> pd.DataFrame:
    """`history` with sma_<n> and bb_upper/bb_middle/bb_lower columns, computed if absent.

    Precomputed columns win, so they must be on the history's own price scale (never
    derived.technical_indicators' tr_* columns, which are on the total-return scale).
    Bollinger bands use the population standard deviation, as TA-Lib does.
    """
    out = history.copy()
    close = out["close"].astype(float)
    for n in sma:
        if f"sma_{n}" not in out.columns:
            out[f"sma_{n}"] = close.rolling(n, min_periods=n).mean()
    if not {"bb_upper", "bb_middle", "bb_lower"} <= set(out.columns):
        n, k = bollinger
        mid = close.rolling(n, min_periods=n).mean()
        sd = close.rolling(n, min_periods=n).std(ddof=0)
        out["bb_middle"], out["bb_upper"], out["bb_lower"] = mid, mid + k * sd, mid - k * sd
    return out


@_styled
def price_chart(
    history: pd.DataFrame,
    *,
    symbol: str,
    entry: float | None = None,
    stop: float | None = None,
    target: float | None = None,
    sma: Sequence[int] = (20, 50),
    bollinger: tuple[int, float] = (20, 2.0),
    lookback: int = 180,
    splits: Sequence[tuple[Any, float]] = (),
) -> bytes:
    """Close with SMAs and Bollinger bands over the last `lookback` bars, plus trade levels.

    history: a `close` column indexed by date (or with a `date` column); indicator columns
    already present are drawn as given. Indicators are computed on the full history
    before the window is cut, so the first bars shown are not in warm-up.
    """
    frame = with_indicators(_date_indexed(history), sma, bollinger).iloc[-lookback:]
    fig, (ax,) = _figure(3.2)
    x = frame.index
    ax.fill_between(
        x, frame["bb_lower"], frame["bb_upper"], color=NEUTRAL, alpha=0.08, label="Bollinger"
    )
    ax.plot(x, frame["bb_upper"], color=NEUTRAL, lw=0.6, alpha=0.5)
    ax.plot(x, frame["bb_lower"], color=NEUTRAL, lw=0.6, alpha=0.5)
    ax.plot(x, frame["close"], color="#24292f", lw=1.2, label="close")
    sma_cols = sorted(
        (c for c in frame.columns if re.fullmatch(r"sma_\d+", c)), key=lambda c: int(c[4:])
    )
    for col, color in zip(sma_cols, ("#bf8700", "#8250df", "#1b7c83"), strict=False):
        ax.plot(x, frame[col], color=color, lw=0.9, label=col.upper().replace("_", " "))
    for day, ratio in splits:  # prices are split-adjusted: mark where each split happened
        if len(x) and x[0] <= pd.Timestamp(day) <= x[-1]:
            ax.axvline(pd.Timestamp(day), color=NEUTRAL, lw=0.8, ls=":")
            ax.annotate(f"split {ratio:g}:1", xy=(pd.Timestamp(day), 1.0),
                        xycoords=("data", "axes fraction"), fontsize=7, color=NEUTRAL,
                        ha="left", va="top")  # fmt: skip
    for level, label, color in (
        (entry, "entry", NEUTRAL),
        (stop, "stop", LOSS),
        (target, "target", GAIN),
    ):
        if level is not None and np.isfinite(level):
            ax.axhline(level, color=color, lw=1.0, ls="--")
            ax.annotate(
                f"{label} {level:,.4g}",
                xy=(1.0, level),
                xycoords=("axes fraction", "data"),
                xytext=(-2, 2),
                textcoords="offset points",
                ha="right",
                va="bottom",
                color=color,
                fontsize=7,
            )
    ax.set_title(
        f"{symbol}: close, {', '.join(c.upper().replace('_', ' ') for c in sma_cols)}, Bollinger"
    )
    ax.legend(loc="upper left", fontsize=7, ncols=4, frameon=False)
    _dates(ax)
    return _png(fig)


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown from the running high-water mark, as a negative fraction (0 at a peak)."""
    return equity / equity.cummax() - 1.0


@_styled
def equity_chart(equity: pd.Series, *, title: str = "Equity") -> bytes:
    """Equity curve above its drawdown from the high-water mark."""
    eq = equity.dropna().sort_index()
    eq.index = pd.to_datetime(eq.index)
    fig, (top, bottom) = _figure(
        3.6, 2, left=0.95, sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.08}
    )
    top.plot(eq.index, eq.to_numpy(), color=NEUTRAL, lw=1.2)
    top.set_title(title)
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    dd = drawdown(eq) * 100.0
    bottom.fill_between(dd.index, dd.to_numpy(), 0.0, color=LOSS, alpha=0.35, lw=0)
    bottom.set_ylabel("drawdown %")
    _dates(bottom)
    return _png(fig)


@_styled
def correlation_heatmap(corr: pd.DataFrame, *, title: str = "Correlation") -> bytes:
    """Correlation matrix in a diverging map fixed to [-1, 1]; values written up to 15 names."""
    n = len(corr)
    margin = _label_inches([*corr.columns, *corr.index]) + 0.25
    side = min(6.0, 0.45 * n + 0.4)
    fig, (ax,) = _figure(
        side + margin + 0.35,
        left=margin,
        bottom=margin,
        top=0.35,
        right=1.4,
        width=side + margin + 1.4,
    )
    ax.grid(False)
    img = ax.imshow(corr.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_xticks(range(n), [str(c) for c in corr.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(n), [str(i) for i in corr.index], fontsize=7)
    if n <= 15:
        for i in range(n):
            for j in range(n):
                v = corr.iat[i, j]
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if abs(v) > 0.6 else "black",
                    )
    fig.colorbar(img, ax=ax, fraction=0.05, pad=0.03)
    ax.set_title(title)
    return _png(fig)


@_styled
def bar_chart(
    labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str = ""
) -> bytes:
    """Horizontal bars, gains green and losses red: scenario PnL, PnL by strategy."""
    vals = np.asarray(values, dtype=float)
    fig, (ax,) = _figure(
        max(1.6, 0.9 + 0.28 * len(vals)), left=_label_inches(labels, 8) + 0.2, bottom=0.5
    )
    y = np.arange(len(vals))
    ax.barh(y, vals, color=[GAIN if v >= 0 else LOSS for v in vals])
    ax.set_yticks(y, list(labels))
    ax.invert_yaxis()
    ax.axvline(0.0, color="#57606a", lw=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    return _png(fig)


@_styled
def fan_chart(summary: pd.DataFrame, *, title: str = "Monte Carlo paths") -> bytes:
    """Percentile bands of simulated cumulative returns (columns p5, p25, p50, p75, p95, ...).

    The format of `sim.risk_measures.fan_chart`: one row per day, columns p<q>; bands are
    drawn between each symmetric pair (p5-p95, p25-p75, ...) and the median as a line.
    """
    cols = {float(c[1:]): c for c in summary.columns if re.fullmatch(r"p\d+(\.\d+)?", str(c))}
    if not cols:
        raise ValueError("fan chart needs percentile columns like p5, p50, p95")
    x = summary.index.to_numpy()
    fig, (ax,) = _figure(3.0)
    lows = sorted(q for q in cols if q < 50 and (100 - q) in cols)
    for i, q in enumerate(lows):
        alpha = 0.15 + 0.5 * i / max(1, len(lows))
        ax.fill_between(
            x,
            summary[cols[q]].to_numpy(dtype=float) * 100,
            summary[cols[100 - q]].to_numpy(dtype=float) * 100,
            color=NEUTRAL,
            alpha=alpha,
            lw=0,
            label=f"p{q:g}-p{100 - q:g}",
        )
    if 50.0 in cols:
        ax.plot(
            x,
            summary[cols[50.0]].to_numpy(dtype=float) * 100,
            color="#24292f",
            lw=1.2,
            label="median",
        )
    ax.axhline(0.0, color="#57606a", lw=0.8)
    ax.set_ylabel("cumulative return %")
    ax.set_xlabel(summary.index.name or "day")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    if isinstance(summary.index, pd.DatetimeIndex):
        _dates(ax)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)
