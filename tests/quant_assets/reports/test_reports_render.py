"""SOD/EOD rendering: every input number is in the HTML (traceable) and the text, as formatted."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from quant_assets.reports import iter_numbers, render, save
from quant_assets.reports.formatting import fmt
from quant_assets.reports.model import Num, SODReport


class _Numbers(HTMLParser):
    """Collects every <span data-field=...> with its attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, str]] = []
        self.symbols: list[str] = []
        self.banner = False
        self.images: list[str] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-symbol" in a:
            self.symbols.append(a["data-symbol"])
        if a.get("data-field") == "is_sample":
            self.banner = True
        if tag == "img":
            self.images.append(a["src"])
        if tag == "span" and "data-field" in a:
            self._open = {**a, "text": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.spans.append(self._open)
            self._open = None


def _parse(html: str) -> _Numbers:
    p = _Numbers()
    p.feed(html)
    return p


def _check_traceable(report, html: str) -> int:
    """Every non-missing input number appears with its exact value, kind, source and text."""
    parsed = _parse(html)
    by_field: dict[str, list[dict[str, str]]] = {}
    for span in parsed.spans:
        by_field.setdefault(span["data-field"], []).append(span)
    nums = [n for n in iter_numbers(report) if n.value is not None]
    for num in nums:
        spans = by_field.get(num.path)
        assert spans, f"{num.path} = {num.value} is not in the HTML"
        for span in spans:
            assert float(span["data-value"]) == num.value, num.path
            assert span["data-kind"] == num.kind, num.path
            assert span["data-source"] == (num.source or ""), num.path
            assert span["text"] == fmt(num.value, num.kind, report.currency), num.path
    # And nothing printed that is not an input.
    assert set(by_field) <= {n.path for n in nums}
    return len(nums)


def _span(html: str, field: str) -> dict[str, str]:
    return next(s for s in _parse(html).spans if s["data-field"] == field)


def test_sod_html_traces_every_number(sod_report):
    rendered = render(sod_report, with_charts=False)
    count = _check_traceable(sod_report, rendered.html)
    assert count >= 60  # the fixture fills every section
    # Hand-checked examples: the printed text and the asset each came from.
    stop = _span(rendered.html, "recommendations[0].stop")
    assert (stop["text"], stop["data-source"]) == ("521.37", "strategies/stops")
    entry = _span(rendered.html, "recommendations[0].entry")
    assert (entry["text"], entry["data-source"]) == ("534.00", "strategies/recommendations")
    var = _span(rendered.html, "risk.var[0].var")
    assert (var["text"], var["data-source"]) == ("1.23%", "risk/risk_budget")
    assert _span(rendered.html, "risk.var[1].cvar")["data-source"] == "risk/var_normal"
    assert _span(rendered.html, "recommendations[1].legs[1].notional")["text"] == "-$30,600.00"
    assert _span(rendered.html, "recommendations[2].qty")["text"] == "0.35"
    assert _span(rendered.html, "recommendations[1].stats.profit_factor")["text"] == "∞"
    assert _span(rendered.html, "events_today[0].consensus")["text"] == "180"
    assert _span(rendered.html, "risk.scenarios[0].pnl")["text"] == "-$84,500.00"
    assert _span(rendered.html, "recommendations[0].stats.hit_rate")["text"] == "54.70%"


def test_sod_html_symbols_banner_and_sections(sod_report):
    rendered = render(sod_report, with_charts=False)
    parsed = _parse(rendered.html)
    for rec in sod_report.recommendations:
        assert rec.symbol in parsed.symbols
        assert set(rec.symbols) <= set(parsed.symbols)
    assert parsed.banner and "SAMPLE DATA" in rendered.html
    assert rendered.subject.startswith("[SAMPLE] SOD 2026-11-20")
    for heading in (
        "Recommendations (3)",
        "Events today",
        "Risk budget",
        "Conditions fired",
        "Strategy record",
        "Sizing:",
        "Value at risk",
        "Exposure by group",
    ):
        assert heading in rendered.html
    # Autoescape: text from inputs cannot inject markup.
    assert "&lt;b&gt;bold&lt;/b&gt;" in rendered.html and "<b>bold</b>" not in rendered.html


def test_no_banner_for_real_data(build):
    rendered = render(build.sod(is_sample=False), with_charts=False)
    assert not _parse(rendered.html).banner
    assert "SAMPLE DATA" not in rendered.html and "SAMPLE DATA" not in rendered.text
    assert not rendered.subject.startswith("[SAMPLE]")


def test_eod_html_traces_every_number(eod_report):
    rendered = render(eod_report, with_charts=False)
    assert _check_traceable(eod_report, rendered.html) >= 50
    total = _span(rendered.html, "pnl.total")
    assert (total["text"], total["data-source"]) == ("+$4,321.09", "risk/pnl_attribution")
    assert _span(rendered.html, "positions[1].qty")["text"] == "1.23456789"
    assert _span(rendered.html, "fills[0].fee")["data-source"] == "execution/fills"
    assert _span(rendered.html, "drawdown.drawdown")["text"] == "12.34%"
    # Sources inherit from the report when a section has none of its own.
    assert _span(rendered.html, "changes[0].qty_after")["data-source"] == "execution/eod"
    for heading in ("PnL", "Positions (2)", "Fills (1)", "Changes since SOD", "Tomorrow"):
        assert heading in rendered.html
    parsed = _parse(rendered.html)
    assert {"SPY", "ETH-USD", "QQQ"} <= set(parsed.symbols)
    assert "signal flipped" in rendered.html
    assert rendered.subject == "EOD 2026-11-20: PnL +$4,321.09 (+0.43%)"


@pytest.mark.parametrize("kind", ["sod", "eod"])
def test_text_has_every_number(kind, build):
    report = build.sod() if kind == "sod" else build.eod()
    text = render(report, with_charts=False).text
    for num in iter_numbers(report):
        if num.value is not None:
            assert fmt(num.value, num.kind, report.currency) in text, num.path
    # Plain text: no markup, no HTML escaping (input text is shown as given).
    assert not re.search(r"</?(span|div|td|tr|table|img|h\d|p)\b", text)
    assert "&lt;" not in text and "&gt;" not in text


def test_text_rows_keep_numbers_with_their_symbol(sod_report, eod_report):
    sod = render(sod_report, with_charts=False).text
    row = next(line for line in sod.splitlines() if line.startswith("new entry  trend_sma"))
    assert row.split() == [
        "new",
        "entry",
        "trend_sma",
        "SPY",
        "long",
        "120",
        "6.41%",
        "$64,080.00",
        "$64,080.00",
        "534.00",
        "521.37",
        "560.25",
    ]
    action = next(line for line in sod.splitlines() if line.startswith("new entry  BUY 120 SPY"))
    assert action.split()[-3:] == ["120", "$64,080.00", "$64,080.00"]
    assert sod.startswith("Start of day report 2026-11-20\n")
    assert "*** SAMPLE DATA ***" in sod
    eod = render(eod_report, with_charts=False).text
    row = next(line for line in eod.splitlines() if line.startswith("14:31:05"))
    assert row.split() == [
        "14:31:05",
        "SPY",
        "buy",
        "120",
        "534.02",
        "$64,082.40",
        "$1.20",
        "trend_sma",
        "trend-SPY-20261120",
    ]


def test_images_by_file_cid_and_data_uri(rendered_sod):
    rendered = rendered_sod
    names = {im.name for im in rendered.images}
    assert names == {
        "sod_price_1_spy",
        "sod_price_3_btc-usd",
        "sod_scenarios",
        "sod_correlation",
        "sod_mc_fan",
    }
    assert sorted(_parse(rendered.html).images) == sorted(im.filename for im in rendered.images)
    assert sorted(_parse(rendered.html_email).images) == sorted(
        f"cid:{im.cid}" for im in rendered.images
    )
    for im in rendered.images:  # <img width> is the PNG's own width
        assert im.width == Image.open(io.BytesIO(im.png)).size[0]
        assert f'alt="{im.title}" width="{im.width}"' in rendered.html
    inline = _parse(rendered.html_inline).images
    assert len(inline) == len(rendered.images)
    assert all(src.startswith("data:image/png;base64,") for src in inline)


def test_save_writes_files_under_the_date(rendered_sod, rendered_eod, tmp_path):
    saved = save(rendered_sod, tmp_path)
    day = tmp_path / "2026-11-20"
    assert saved.html == day / "sod.html" and saved.text == day / "sod.txt"
    assert {p.name for p in saved.images} == {
        "sod_price_1_spy.png",
        "sod_price_3_btc-usd.png",
        "sod_scenarios.png",
        "sod_correlation.png",
        "sod_mc_fan.png",
    }
    for path in saved.paths:
        assert path.is_file() and path.stat().st_size > 0
    for src in _parse(saved.html.read_text()).images:  # every referenced image exists
        assert (day / src).is_file()
    eod = save(rendered_eod, tmp_path, embed_images=True)
    assert eod.html == day / "eod.html"
    assert "data:image/png;base64," in eod.html.read_text()
    # A re-run replaces the files; no temporary files are left behind.
    save(rendered_sod, tmp_path)
    assert not [p for p in day.iterdir() if p.name.startswith(".")]


def test_numbers_accept_floats_pairs_and_nums_and_bind_paths(build):
    report = build.sod()
    rec = report.recommendations[0]
    assert isinstance(rec.entry, Num) and rec.entry.path == "recommendations[0].entry"
    assert rec.stop.source == "strategies/stops"  # (value, source) pair
    assert rec.sizing.limits[0].value.kind == "pct"  # from the row's unit
    assert report.recommendations[0].conditions[0].value.kind == "price"
    # A Num reused in two places is bound to both paths.
    shared = Num(value=1.5, source="x/y")
    twice = SODReport(as_of=build.as_of, risk={"gross_exposure": shared, "net_exposure": shared})
    assert twice.risk.gross_exposure.path == "risk.gross_exposure"
    assert twice.risk.net_exposure.path == "risk.net_exposure"
    # NaN is a missing number, shown as a dash.
    assert Num(value=float("nan")).value is None


def test_rows_from_a_frame(build):
    import pandas as pd

    from quant_assets.reports.model import EconomicEvent

    frame = pd.DataFrame(
        {
            "event_code": ["CPI"],
            "name": ["Consumer prices"],
            "country": ["US"],
            "release_time": [pd.Timestamp("2026-11-21 13:30", tz="UTC")],
            "release_date": [build.as_of],
            "period": ["2026-10"],
            "actual": [float("nan")],
            "consensus": [0.3],
            "previous": [0.2],
            "unit": ["% m/m"],
            "source": ["sample"],
        }
    )
    (event,) = EconomicEvent.from_frame(frame, source="events/economic_events")
    assert event.actual is None and event.consensus.value == 0.3
    assert event.source == "events/economic_events"
    # A consensus from the expectation model is marked as such, in both renderings.
    (modelled,) = EconomicEvent.from_frame(
        frame.assign(consensus_source=["model"]), source="events/economic_events"
    )
    report = render(SODReport(as_of=build.as_of, events_today=[modelled]))
    assert "0.3</span> (model)</td>" in report.html and "0.3 (model)" in report.text
    plain = render(SODReport(as_of=build.as_of, events_today=[event]))
    assert "(model)" not in plain.html and "(model)" not in plain.text


def test_empty_reports_render(build):
    from quant_assets.reports.model import EODReport

    sod = render(SODReport(as_of=build.as_of))
    assert "No recommendations today." in sod.html and "No recommendations today." in sod.text
    assert sod.images == ()
    eod = render(EODReport(as_of=build.as_of, pnl={"total": 0.0}))
    assert "Flat." in eod.text and re.search(r"Total PnL \$0\.00", eod.text)
