"""Render SOD/EOD reports to HTML (file and email flavours), plain text and PNG charts.

Images: the saved `sod.html` references its charts as PNG files saved beside it
(`<reports_dir>/<date>/sod_*.png`), so the page stays small and every chart is also a
file of its own; the email HTML references the same PNGs as `cid:` parts of a
multipart/related message (see `reports.email`). `embed_images=True` on `save` writes
data-URIs instead, for a single self-contained file.

Traceability: every number is written as
    <span class="num" data-field="recommendations[0].stop" data-value="99.0"
          data-kind="price" data-source="strategies/recommendations">99.00</span>
where data-value is Python's repr of the input float (exact round trip). The text
rendering prints the same formatted strings, section by section, as aligned tables.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from markupsafe import Markup

from quant_assets.reports.formatting import MISSING, NA, fmt
from quant_assets.reports.model import EODReport, Num, Report, SODReport, bind

TEMPLATES_DIR = Path(__file__).parent / "templates"
SIGNED_KINDS = ("pnl", "pct_chg")
CID_DOMAIN = "quant-report"


@dataclass(frozen=True)
class ChartImage:
    """One chart: `name` is the file stem (sod_price_1_spy), `cid` its email Content-ID."""

    name: str
    title: str
    png: bytes
    cid: str

    @property
    def filename(self) -> str:
        return f"{self.name}.png"

    @property
    def width(self) -> int:
        """Pixel width from the PNG header (IHDR), so mail clients reserve the right space."""
        return int.from_bytes(self.png[16:20], "big")


@dataclass(frozen=True)
class RenderedReport:
    """Everything needed to save or mail a report."""

    kind: str
    as_of: dt.date
    subject: str
    html: str  # images as relative PNG file names (the saved file)
    html_email: str  # images as cid: references
    text: str
    images: tuple[ChartImage, ...]

    @property
    def html_inline(self) -> str:
        """The file HTML with each image as a data-URI: one self-contained file."""
        html = self.html
        for image in self.images:
            html = html.replace(f'src="{image.filename}"', f'src="{data_uri(image)}"')
        return html


@dataclass(frozen=True)
class SavedReport:
    directory: Path
    html: Path
    text: Path
    images: tuple[Path, ...]

    @property
    def paths(self) -> list[Path]:
        return [self.html, self.text, *self.images]


# --- number helpers exposed to templates --------------------------------------------------


def _currency(ctx: Any) -> str:
    return ctx["report"].currency


def text_number(num: Num | None, currency: str = "USD") -> str:
    """The formatted number as printed in both renderings."""
    if num is None:
        return MISSING
    if num.value is None and num.na:
        return NA
    return fmt(num.value, num.kind, currency)


def html_number(num: Num | None, currency: str = "USD") -> Markup:
    """A number as a span carrying its field path, exact value, kind and source."""
    if num is None:
        return Markup('<span class="num missing">{}</span>').format(MISSING)
    if num.value is None and num.na:
        return Markup(
            '<span class="num na" data-field="{}" data-kind="{}" data-source="{}" '
            'data-na="{}" title="{}">{}</span>'
        ).format(num.path, num.kind, num.source or "", num.na, num.na, NA)
    classes = "num"
    if num.kind in SIGNED_KINDS and num.value:
        classes += " pos" if num.value > 0 else " neg"
    return Markup(
        '<span class="{}" data-field="{}" data-value="{}" data-kind="{}" data-source="{}">{}</span>'
    ).format(
        classes,
        num.path,
        "" if num.value is None else repr(num.value),
        num.kind,
        num.source or "",
        text_number(num, currency),
    )


_NUMERIC_CELL = re.compile(r"^(—|n/a|[-+]?∞|[-+]?[$€£¥]?\d[\d,]*(\.\d+)?(%| bp| [A-Z]{3})?)$")


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: int = 0) -> str:
    """An aligned plain-text table; columns whose cells all look numeric align right."""
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    if not rows:
        return ""
    ncol = len(headers)
    widths = [max(len(r[i]) for r in cells) for i in range(ncol)]
    right = [all(not r[i] or _NUMERIC_CELL.match(r[i]) for r in cells[1:]) for i in range(ncol)]
    pad = " " * indent

    def line(r: list[str]) -> str:
        parts = [r[i].rjust(widths[i]) if right[i] else r[i].ljust(widths[i]) for i in range(ncol)]
        return (pad + "  ".join(parts)).rstrip()

    rule = pad + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


ACTION_WORDS = {
    "enter": "new entry",
    "exit": "exit",
    "reverse": "reverse",
    "resize": "resize",
    "carry": "carried",
}


def _quantity(t: Callable[[Num | None], str], r: Any) -> str:
    """A package's leg quantities ("IWM 57 · SPY 114"), or the single quantity."""
    if r.legs:
        return " · ".join(f"{g.symbol} {t(g.qty)}" for g in r.legs)
    return t(r.qty)


def _level(t: Callable[[Num | None], str], r: Any, num: Num | None) -> str:
    """Entry/stop/target: in the spread variable's terms for a pair or fly."""
    return f"{r.spread.variable} {t(num)}" if r.spread else t(num)


def _row_filters() -> dict[str, Callable[..., list[Any]]]:
    """Template filters turning one model row into the cells of its text-table row."""

    def make(fn: Callable[[Callable[[Num | None], str], Any], list[Any]]) -> Callable:
        @pass_context
        def row(ctx: Any, item: Any) -> list[Any]:
            cur = _currency(ctx)
            return fn(lambda n: text_number(n, cur), item)

        return row

    def event_time(e: Any) -> str:
        return (
            e.release_time.strftime("%H:%M UTC") if e.release_time else e.release_date.isoformat()
        )

    specs: dict[str, Callable[[Callable[[Num | None], str], Any], list[Any]]] = {
        "action_row": lambda t, r: [
            ACTION_WORDS.get(r.action, ""),
            r.order or "no trade: hold as is",
            r.strategy,
            r.symbol,
            _quantity(t, r),
            t(r.gross_notional),
            t(r.notional),
        ],
        "rec_row": lambda t, r: [
            ACTION_WORDS.get(r.action, ""),
            r.strategy,
            r.symbol,
            r.side,
            _quantity(t, r),
            t(r.weight),
            t(r.gross_notional),
            t(r.notional),
            _level(t, r, r.entry),
            _level(t, r, r.stop),
            _level(t, r, r.target),
        ],
        "leg_row": lambda t, g: [
            f"{g.symbol} ({g.leg})" if g.leg else g.symbol,
            g.side,
            t(g.qty),
            t(g.prev_qty),
            t(g.trade_qty),
            g.order or "no trade",
            t(g.weight),
            t(g.notional),
            t(g.price),
        ],
        "condition_row": lambda t, c: [
            c.name,
            t(c.value),
            c.op or "text rule",
            t(c.threshold),
            c.detail,
        ],
        "limit_row": lambda t, lim: [
            lim.name,
            t(lim.value),
            t(lim.limit),
            "binding" if lim.binding else "",
        ],
        "event_row": lambda t, e: [e.date.isoformat(), e.symbol, e.name, e.kind, e.detail],
        "scenario_row": lambda t, s: [s.scenario, s.kind or "", t(s.pnl), t(s.pnl_pct)],
        "calendar_row": lambda t, e: [
            event_time(e),
            f"{e.event_code} · {e.name}",
            e.country,
            e.period,
            t(e.consensus) + (" (model)" if e.consensus_source == "model" else ""),
            t(e.previous),
            t(e.actual),
            e.unit,
        ],
        "var_row": lambda t, v: [
            v.method,
            t(v.level),
            t(v.horizon_days),
            t(v.var),
            t(v.cvar),
            t(v.var_money),
            t(v.cvar_money),
        ],
        "exposure_row": lambda t, g: [g.group, t(g.gross), t(g.net), t(g.limit)],
        "pnl_row": lambda t, p: [p.name, t(p.pnl), t(p.ret)],
        "position_row": lambda t, p: [
            p.symbol,
            p.strategy,
            p.group,
            t(p.qty),
            t(p.avg_price),
            t(p.last_price),
            t(p.market_value),
            t(p.weight),
            t(p.unrealized_pnl),
            t(p.day_pnl),
        ],
        "fill_row": lambda t, f: [
            f.time.strftime("%H:%M:%S"),
            f.symbol,
            f.side,
            t(f.qty),
            t(f.price),
            t(f.notional),
            t(f.fee),
            f.strategy,
            f.order_id,
        ],
        "change_row": lambda t, c: [
            c.kind.replace("_", " "),
            c.symbol,
            c.strategy,
            c.before,
            c.after,
            t(c.qty_before),
            t(c.qty_after),
            c.detail,
        ],
    }
    return {name: make(fn) for name, fn in specs.items()}


def _environments() -> tuple[Environment, Environment]:
    loader = FileSystemLoader(TEMPLATES_DIR)
    html = Environment(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    text = Environment(
        loader=loader,
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    @pass_context
    def n(ctx: Any, num: Num | None) -> Markup:
        return html_number(num, _currency(ctx))

    @pass_context
    def t(ctx: Any, num: Num | None) -> str:
        return text_number(num, _currency(ctx))

    html.globals["n"] = n
    text.globals["t"] = t
    text.globals["table"] = text_table
    text.filters["rstrip"] = str.rstrip
    text.filters.update(_row_filters())
    return html, text


_HTML_ENV, _TEXT_ENV = _environments()


# --- charts -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _chart(name: str, title: str, png: bytes, as_of: dt.date) -> ChartImage:
    return ChartImage(name, title, png, f"{name}.{as_of:%Y%m%d}@{CID_DOMAIN}")


def _risk_charts(report: Report, prefix: str) -> list[ChartImage]:
    from quant_assets.reports import charts  # imported here: matplotlib only when drawing

    risk, out = report.risk, []
    if risk is None:
        return out
    if risk.scenarios:
        png = charts.bar_chart(
            [s.scenario for s in risk.scenarios],
            [s.pnl.value or 0.0 for s in risk.scenarios],
            title="Stress scenarios: book PnL",
            xlabel=report.currency,
        )
        out.append(_chart(f"{prefix}_scenarios", "Stress scenarios", png, report.as_of))
    if risk.correlation is not None and len(risk.correlation) > 1:
        png = charts.correlation_heatmap(risk.correlation)
        out.append(_chart(f"{prefix}_correlation", "Correlation", png, report.as_of))
    if risk.mc_fan is not None and len(risk.mc_fan):
        png = charts.fan_chart(risk.mc_fan, title="Monte Carlo: cumulative return percentiles")
        out.append(_chart(f"{prefix}_mc_fan", "Monte Carlo fan", png, report.as_of))
    return out


def sod_charts(
    report: SODReport, max_price_charts: int = 12
) -> tuple[list[ChartImage], dict[int, str]]:
    """Price chart per recommendation with history (first `max_price_charts`), risk charts."""
    from quant_assets.reports import charts  # imported here: matplotlib only when drawing

    images, rec_charts = [], {}
    for i, rec in enumerate(report.recommendations):
        if rec.history is None or rec.history.empty or len(rec_charts) >= max_price_charts:
            continue
        png = charts.price_chart(
            rec.history,
            symbol=rec.symbol,
            entry=rec.entry.value if rec.entry else None,
            stop=rec.stop.value if rec.stop else None,
            target=rec.target.value if rec.target else None,
            splits=rec.history.attrs.get("splits", ()),
        )
        image = _chart(
            f"sod_price_{i + 1}_{_slug(rec.symbol)}", f"{rec.symbol} price", png, report.as_of
        )
        images.append(image)
        rec_charts[i] = image.name
    images += _risk_charts(report, "sod")
    return images, rec_charts


def eod_charts(report: EODReport) -> list[ChartImage]:
    from quant_assets.reports import charts  # imported here: matplotlib only when drawing

    images = []
    if report.equity_curve is not None and len(report.equity_curve) > 1:
        png = charts.equity_chart(report.equity_curve, title="Equity and drawdown")
        images.append(_chart("eod_equity", "Equity", png, report.as_of))
    if report.pnl.by_strategy:
        rows = report.pnl.by_strategy
        png = charts.bar_chart(
            [p.name for p in rows],
            [p.pnl.value or 0.0 for p in rows],
            title="PnL by strategy",
            xlabel=report.currency,
        )
        images.append(_chart("eod_pnl_strategy", "PnL by strategy", png, report.as_of))
    return images + _risk_charts(report, "eod")


# --- rendering ----------------------------------------------------------------------------


def _title(report: Report) -> str:
    if report.title:
        return report.title
    name = "Start of day" if report.kind == "sod" else "End of day"
    return f"{name} report {report.as_of.isoformat()}"


def _subject(report: Report) -> str:
    tag = "[SAMPLE] " if report.is_sample else ""
    if isinstance(report, SODReport):
        n = len(report.recommendations)
        detail = f"{n} recommendation{'s' if n != 1 else ''}"
    else:
        detail = f"PnL {text_number(report.pnl.total, report.currency)}"
        if report.pnl.total_return is not None:
            detail += f" ({text_number(report.pnl.total_return, report.currency)})"
        if report.fills_pnl is not None:
            detail += f"; fills PnL {text_number(report.fills_pnl.total, report.currency)}"
    return f"{tag}{report.kind.upper()} {report.as_of.isoformat()}: {detail}"


def _img_tag(image: ChartImage, src: str) -> Markup:
    return Markup('<img src="{}" alt="{}" width="{}">').format(src, image.title, image.width)


def _html(
    report: Report,
    template: str,
    images: Sequence[ChartImage],
    src: Callable[[ChartImage], str],
    extra: dict[str, Any],
) -> str:
    by_name = {im.name: im for im in images}
    return _HTML_ENV.get_template(template).render(
        report=report,
        title=_title(report),
        charts=by_name,
        img=lambda name: _img_tag(by_name[name], src(by_name[name])),
        **extra,
    )


def data_uri(image: ChartImage) -> str:
    return "data:image/png;base64," + base64.b64encode(image.png).decode("ascii")


def render(
    report: Report, *, with_charts: bool = True, max_price_charts: int = 12
) -> RenderedReport:
    """HTML (file + email flavours), text and charts of an SOD or EOD report."""
    bind(report)  # paths and sources reflect the report as it is now
    extra: dict[str, Any] = {}
    if isinstance(report, SODReport):
        images, rec_charts = sod_charts(report, max_price_charts) if with_charts else ([], {})
        extra["rec_charts"] = rec_charts
    else:
        images = eod_charts(report) if with_charts else []
    template = f"{report.kind}.html.j2"
    return RenderedReport(
        kind=report.kind,
        as_of=report.as_of,
        subject=_subject(report),
        html=_html(report, template, images, lambda im: im.filename, extra),
        html_email=_html(report, template, images, lambda im: f"cid:{im.cid}", extra),
        text=_TEXT_ENV.get_template(f"{report.kind}.txt.j2").render(
            report=report, title=_title(report)
        ),
        images=tuple(images),
    )


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(
    rendered: RenderedReport, reports_dir: Path | str, *, embed_images: bool = False
) -> SavedReport:
    """Write <reports_dir>/<date>/<kind>.html, <kind>.txt and the chart PNGs; return the paths.

    A re-run of the same day overwrites the files (each replaced atomically).
    """
    directory = Path(reports_dir) / rendered.as_of.isoformat()
    directory.mkdir(parents=True, exist_ok=True)
    image_paths = []
    for image in rendered.images:
        path = directory / image.filename
        _write_atomic(path, image.png)
        image_paths.append(path)
    html_path = directory / f"{rendered.kind}.html"
    text_path = directory / f"{rendered.kind}.txt"
    html = rendered.html_inline if embed_images else rendered.html
    _write_atomic(html_path, html.encode("utf-8"))
    _write_atomic(text_path, rendered.text.encode("utf-8"))
    return SavedReport(directory, html_path, text_path, tuple(image_paths))
