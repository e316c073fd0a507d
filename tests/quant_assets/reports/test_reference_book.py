"""A reference book: known positions, prices and risk rows in a warehouse, and every number
of the SOD/EOD report (HTML and text) checked against values computed by hand here.

The same warehouse is read by the API and the Streamlit app: the three must count the same
recommendations (packages) and the same actions at the open.

Hand computations (equity $1,000,000):
- VaR $ = VaR x equity: 1.23% -> $12,300; CVaR 1.81% -> $18,100.
- Drawdown from the book's own paper equity: 997,500 / peak 1,050,000 - 1 = -5.00%.
- gfc_2008 book PnL = sum over positions: SPY 50,000 x -47.3% = -23,650, QQQ -9,000 x -43%
  = +3,870 -> -19,780 = -1.978% of equity; rates_up_100bp: -1,000 -> -0.100%.
- Actions against the previous day (2024-06-27): SPY 80 -> 100 (resize, BUY 20), QQQ new
  short (enter, SELL 20), NVDA closed (exit, SELL 30), AAPL gone (exit, SELL 10), the fly
  unchanged (carry): 5 recommendations.
- Fly gross notional 10,000 + 20,000 + 9,900 = 39,900, net -100; entry fly_z -2.4 (the
  value that fired it), target fly_z 0 (its exit_long rule), stop n/a (spread rule exit).
- EOD paper PnL: book of 2024-06-26 (SPY 5%, QQQ -0.9%) over 2024-06-27 returns (SPY +1%,
  QQQ -2%): 500 + 180 = $680, +0.068%.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api import create_app
from quant_assets.reports.assemble import build_eod, build_sod
from quant_assets.reports.render import render
from quant_assets.settings import Settings
from quant_assets.warehouse import connect

PREV, AS_OF, TRADE = dt.date(2024, 6, 26), dt.date(2024, 6, 27), dt.date(2024, 6, 28)
EQUITY = 1_000_000.0
FLY_CONDITIONS = {
    "signal": "hold; last fired 2024-06-20: entry_long: fly_z=-2.4 < -2",
    "fired": [{"name": "fly_z", "value": -2.4, "op": "<", "threshold": -2.0,
               "detail": "entry_long"}],
    "values": {},
    "exits": {"entry_long": "fly_z < -2", "exit_long": "fly_z > 0", "entry_short": "fly_z > 2",
              "exit_short": "fly_z < 0"},
}  # fmt: skip


def _rec(day, strategy, symbol, leg, side, qty, price, weight, *, stop=None, target=None,
         conditions=None, scen=None):  # fmt: skip
    sign = {"buy": 1, "sell": -1}.get(side, 0)
    return {
        "date": pd.Timestamp(day), "strategy": strategy, "symbol": symbol, "leg": leg,
        "side": side, "target_weight": weight, "quantity": float(qty),
        "notional": sign * qty * price, "entry_price": price, "stop_price": stop,
        "target_price": target,
        "conditions": json.dumps(conditions or {"signal": "entry_long: sma_20=1 > 0",
                                                "fired": [], "values": {"sma_20": 101.5}}),
        "sizing_rule": "equal capital split", "sizing_reason": "vol target 10%",
        "stats": json.dumps({"sharpe": 1.1, "win_rate": 0.55, "profit_factor": 1.4,
                             "mean_trade_return": 0.004, "max_drawdown": 0.12, "n_trades": 40}),
        "events": json.dumps([]), "scenario_pnl": json.dumps(scen or {}), "is_sample": False,
    }  # fmt: skip


def reference_recommendations() -> pd.DataFrame:
    today = [
        _rec(TRADE, "trend", "SPY", "main", "buy", 100, 500.0, 0.05, stop=490.0, target=520.0,
             scen={"gfc_2008": -23_650.0, "rates_up_100bp": -1_000.0}),
        _rec(TRADE, "trend", "QQQ", "main", "sell", 20, 450.0, -0.009, stop=463.5, target=423.0,
             scen={"gfc_2008": 3_870.0}),
        _rec(TRADE, "trend", "NVDA", "main", "close", 0, 120.0, 0.0),
        _rec(TRADE, "fly", "IWM", "wing1", "buy", 50, 200.0, 0.01, conditions=FLY_CONDITIONS),
        _rec(TRADE, "fly", "SPY", "body", "sell", 40, 500.0, -0.02, conditions=FLY_CONDITIONS),
        _rec(TRADE, "fly", "QQQ", "wing2", "buy", 22, 450.0, 0.0099, conditions=FLY_CONDITIONS),
    ]  # fmt: skip
    before = [
        _rec(AS_OF, "trend", "SPY", "main", "buy", 80, 495.0, 0.04),
        _rec(AS_OF, "trend", "NVDA", "main", "buy", 30, 118.0, 0.0035),
        _rec(AS_OF, "trend", "AAPL", "main", "buy", 10, 210.0, 0.0021),
        _rec(AS_OF, "fly", "IWM", "wing1", "buy", 50, 199.0, 0.01, conditions=FLY_CONDITIONS),
        _rec(AS_OF, "fly", "SPY", "body", "sell", 40, 495.0, -0.02, conditions=FLY_CONDITIONS),
        _rec(AS_OF, "fly", "QQQ", "wing2", "buy", 22, 448.0, 0.0099, conditions=FLY_CONDITIONS),
    ]  # fmt: skip
    return pd.DataFrame(before + today)


def build_reference_warehouse(path: Path) -> str:
    url = f"duckdb:///{path}"
    with connect(url) as wh:
        wh.migrate()
        wh.bulk_load("strategies.recommendations", reference_recommendations())
        snap = [("equity", EQUITY), ("gross_exposure", 0.0989), ("net_exposure", 0.0309),
                ("gross_limit", 1.5), ("net_limit", 1.0), ("drawdown", 0.0),
                ("peak_equity", 1_050_000.0), ("drawdown_scale", 1.0),
                ("drawdown_state_code", 0.0), ("derisk_at", 0.10), ("halt_at", 0.20),
                ("hist_var_95_1d", 0.0123), ("hist_cvar_95_1d", 0.0181)]  # fmt: skip
        wh.bulk_load(
            "strategies.risk_snapshot",
            pd.DataFrame([(pd.Timestamp(AS_OF), m, "portfolio", v) for m, v in snap],
                         columns=["as_of", "metric", "scope", "value"]),
        )  # fmt: skip
        scen = [("gfc_2008", "SPY", 50_000.0, -0.473), ("gfc_2008", "QQQ", -9_000.0, -0.43),
                ("rates_up_100bp", "SPY", 50_000.0, -0.02),
                ("rates_up_100bp", "QQQ", -9_000.0, 0.0)]  # fmt: skip
        wh.bulk_load(
            "strategies.scenario_results",
            pd.DataFrame(
                [(pd.Timestamp(AS_OF), s, sym, "etf_core", mv, r, mv * r, "factor")
                 for s, sym, mv, r in scen],
                columns=["as_of", "scenario", "symbol", "group_name", "market_value",
                         "scenario_return", "pnl", "method"],
            ),
        )  # fmt: skip
        curve = [(dt.date(2024, 6, 24), 1_000_000.0), (dt.date(2024, 6, 25), 1_050_000.0),
                 (PREV, 1_020_000.0), (AS_OF, 997_500.0)]  # fmt: skip
        wh.bulk_load(
            "strategies.equity_curves",
            pd.DataFrame([("portfolio", pd.Timestamp(d), e, 0.0, 0.0) for d, e in curve],
                         columns=["strategy", "date", "equity", "drawdown", "daily_return"]),
        )  # fmt: skip
        wh.bulk_load(
            "strategies.signals",
            pd.DataFrame(
                [(pd.Timestamp(d), "portfolio", s, "trend:main", w, "r")
                 for d in (PREV, AS_OF) for s, w in (("SPY", 0.05), ("QQQ", -0.009))],
                columns=["date", "strategy", "symbol", "leg", "target_weight", "reason"],
            ),
        )  # fmt: skip
        rets = pd.DataFrame({"symbol": ["SPY", "QQQ"], "date": [pd.Timestamp(AS_OF)] * 2,
                             "ret_simple": [0.01, -0.02], "ret_log": [0.0, 0.0]})  # fmt: skip
        wh._con.register("returns_frame", rets)
        wh._con.execute("create table derived.fct_returns_daily as select * from returns_frame")
        wh._con.unregister("returns_frame")
    return url


@pytest.fixture(scope="module")
def ref_url(tmp_path_factory) -> str:
    return build_reference_warehouse(tmp_path_factory.mktemp("ref") / "warehouse.duckdb")


class _Spans(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[str, dict[str, str]] = {}
        self._open: dict[str, str] | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and "data-field" in a:
            self._open = {**a, "text": ""}

    def handle_data(self, data):
        self.text += data
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.spans[self._open["data-field"]] = self._open
            self._open = None


def _spans(html: str) -> _Spans:
    p = _Spans()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def sod(ref_url):
    with connect(ref_url, read_only=True) as wh:
        report = build_sod(wh, AS_OF, TRADE, charts=False)
    return report, render(report, with_charts=False)


def _value(spans: _Spans, field: str) -> float:
    return float(spans.spans[field]["data-value"])


def _text(spans: _Spans, field: str) -> str:
    return spans.spans[field]["text"]


def test_sod_risk_numbers_match_hand_computed(sod):
    report, rendered = sod
    s = _spans(rendered.html)
    assert _value(s, "risk.var[0].var_money") == pytest.approx(12_300.0)
    assert _text(s, "risk.var[0].var_money") == "$12,300.00"
    assert _value(s, "risk.var[0].cvar_money") == pytest.approx(18_100.0)
    assert _text(s, "risk.var[0].cvar_money") == "$18,100.00"
    assert _value(s, "risk.drawdown.drawdown") == pytest.approx(997_500 / 1_050_000 - 1)
    assert _text(s, "risk.drawdown.drawdown") == "-5.00%"
    assert _text(s, "risk.drawdown.equity") == "$997,500.00"
    assert _text(s, "risk.drawdown.peak_equity") == "$1,050,000.00"
    names = [sc.scenario for sc in report.risk.scenarios]
    assert names == ["gfc_2008", "rates_up_100bp"]
    assert _value(s, "risk.scenarios[0].pnl") == pytest.approx(-19_780.0)
    assert _text(s, "risk.scenarios[0].pnl") == "-$19,780.00"
    assert _text(s, "risk.scenarios[0].pnl_pct") == "-1.98%"
    assert _value(s, "risk.scenarios[1].pnl") == pytest.approx(-1_000.0)
    assert _text(s, "risk.scenarios[1].pnl_pct") == "-0.10%"
    assert [sc.kind for sc in report.risk.scenarios] == ["historical", "hypothetical"]
    text = rendered.text
    for shown in ("$12,300.00", "$18,100.00", "-5.00%", "$997,500.00", "-$19,780.00", "-1.98%"):
        assert shown in text, shown


def test_sod_actions_and_packages_match_hand_computed(sod):
    report, rendered = sod
    assert report.action_counts == {"enter": 1, "exit": 2, "reverse": 0, "resize": 1, "carry": 1}
    assert report.action_summary == (
        "5 recommendations: 1 new entry, 2 exits, 0 reversals, 1 size change, 1 carried"
    )
    by = {(r.strategy, r.symbol): r for r in report.recommendations}
    assert [(r.action, r.order) for r in report.recommendations] == [
        ("enter", "SELL 20 QQQ"),
        ("exit", "SELL 10 AAPL"),
        ("exit", "SELL 30 NVDA"),
        ("resize", "BUY 20 SPY"),
        ("carry", ""),
    ]
    spy = by[("trend", "SPY")]
    assert (spy.qty.value, spy.prev_qty.value, spy.trade_qty.value) == (100, 80, 20)
    assert (spy.entry.value, spy.stop.value, spy.target.value) == (500.0, 490.0, 520.0)
    assert spy.gross_notional.value == 50_000.0 and spy.notional.value == 50_000.0
    # per-position scenario PnL % of the position's gross notional: -23,650 / 50,000
    assert {sc.scenario: round(sc.pnl_pct.value, 6) for sc in spy.scenarios} == {
        "gfc_2008": -0.473, "rates_up_100bp": -0.02}  # fmt: skip
    nvda = by[("trend", "NVDA")]
    assert nvda.stop.value is None and nvda.stop.na.startswith("exit")
    fly = by[("fly", "IWM/SPY/QQQ")]
    assert [(g.symbol, g.qty.value, g.trade_qty.value) for g in fly.legs] == [
        ("IWM", 50, 0), ("SPY", 40, 0), ("QQQ", 22, 0)]  # fmt: skip
    assert fly.gross_notional.value == pytest.approx(39_900.0)
    assert fly.notional.value == pytest.approx(-100.0)
    assert fly.spread.variable == "fly_z"
    assert (fly.spread.entry.value, fly.spread.target.value) == (-2.4, 0.0)
    assert fly.spread.stop.value is None and "spread rule" in fly.spread.stop.na
    s = _spans(rendered.html)
    i = report.recommendations.index(fly)
    assert _text(s, f"recommendations[{i}].gross_notional") == "$39,900.00"
    assert _text(s, f"recommendations[{i}].notional") == "-$100.00"
    assert _text(s, f"recommendations[{i}].entry") == "-2.40"
    assert _text(s, f"recommendations[{i}].target") == "0.00"
    assert s.spans[f"recommendations[{i}].stop"]["data-na"].startswith("no stop level")
    # the action section comes first and carries the counts
    html = rendered.html
    assert html.index("At the open") < html.index("Recommendations (5)") < html.index("Risk budget")
    assert 'data-count="5"' in html and 'data-exit="2"' in html
    text = rendered.text
    assert text.index("AT THE OPEN") < text.index("RECOMMENDATIONS (5)")
    assert re.search(r"resize\s+BUY 20 SPY\s+trend\s+SPY\s+100\s+\$50,000\.00\s+\$50,000\.00", text)
    assert re.search(r"carried\s+no trade: hold as is\s+fly\s+IWM/SPY/QQQ\s+IWM 50 · SPY 40 · QQQ 22"
                     r"\s+\$39,900\.00\s+-\$100\.00", text)  # fmt: skip


def test_eod_numbers_match_hand_computed(ref_url):
    groups = {"SPY": "etf_core", "QQQ": "etf_core"}
    with connect(ref_url, read_only=True) as wh:
        report = build_eod(wh, AS_OF, TRADE, groups)
    rendered = render(report, with_charts=False)
    s = _spans(rendered.html)
    assert _value(s, "pnl.total") == pytest.approx(680.0)
    assert _text(s, "pnl.total") == "+$680.00"
    assert _text(s, "pnl.total_return") == "+0.07%"
    by_pos = {p.name: p.pnl.value for p in report.pnl.by_position}
    assert by_pos == pytest.approx({"SPY": 500.0, "QQQ": 180.0})
    day = {(p.strategy, p.symbol): p.day_pnl for p in report.positions}
    assert day[("trend", "SPY")].value == pytest.approx(500.0)
    assert day[("trend", "QQQ")].value == pytest.approx(180.0)
    assert day[("fly", "IWM")].value is None and day[("fly", "IWM")].na  # not in the held book
    assert all(p.avg_price.na and "no execution fills" in p.avg_price.na for p in report.positions)
    assert report.drawdown.drawdown.value == pytest.approx(997_500 / 1_050_000 - 1)
    assert _text(s, "risk.drawdown.drawdown") == "-5.00%"
    assert "+$680.00" in rendered.text and "-5.00%" in rendered.text


def test_report_api_and_app_count_the_same_recommendations(ref_url, sod, monkeypatch, tmp_path):
    report, _ = sod
    want = {"recommendations": 5, **report.action_counts}
    key = "ref-key-0123456789abcdef"
    with TestClient(create_app(Settings.load(warehouse_url=ref_url, api_keys=key))) as client:
        body = client.get(
            "/v1/recommendations", params={"start": TRADE.isoformat(), "end": TRADE.isoformat()},
            headers={"X-API-Key": key},
        ).json()  # fmt: skip
    got = body["actions"][TRADE.isoformat()]
    assert {k: got[k] for k in want} == want
    assert len(body["recommendations"]) == 5
    api_orders = sorted((p["action"], p["orders"]) for p in body["recommendations"])
    assert api_orders == sorted((r.action, r.order) for r in report.recommendations)
    # nested fields are JSON objects, not strings
    row = body["rows"][0]
    assert isinstance(row["conditions"], dict) and isinstance(row["stats"], dict)
    assert isinstance(row["events"], list) and isinstance(row["scenario_pnl"], dict)

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("QUANT_WAREHOUSE_URL", ref_url)
    monkeypatch.setenv("QUANT_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("QUANT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none' / 'm.db'}")
    page = Path(__file__).resolve().parents[3] / "streamlit_app" / "pages"
    at = AppTest.from_file(str(page / "6_Recommendations_and_reports.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Recommendations"] == "5"
    assert (metrics["New entries"], metrics["Exits"], metrics["Carried"]) == ("1", "2", "1")
    assert metrics["Size changes"] == str(want["resize"] + want["reverse"])


# --- the rendered pages in a browser --------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RAW = re.compile(r"^\s*[\[{].*[\]}]\s*$", re.S)
BAD_WORDS = re.compile(r"(?<![\w/])(None|nan|NaN|inf|-inf|null|undefined)(?![\w/])")

# Every table of the page: header texts and the text of every body cell, as the browser lays
# them out (innerText: what a reader sees).
_TABLES_JS = """
return Array.from(document.querySelectorAll('table')).map(t => {
  const rows = Array.from(t.querySelectorAll('tr'));
  const head = rows.length ? Array.from(rows[0].querySelectorAll('th')).map(c => c.innerText) : [];
  const body = rows.slice(head.length ? 1 : 0).map(
      r => Array.from(r.querySelectorAll('td')).map(c => c.innerText.trim()));
  return {head: head, body: body};
});
"""


def cell_problems(tables: list[dict], text: str) -> list[str]:
    """Empty columns, 'None'/'nan'/'inf' cells, raw JSON cells, in tables and the page text."""
    problems = []
    for n, t in enumerate(tables):
        head, body = t["head"], [r for r in t["body"] if len(r) == len(t["head"])]
        for j, name in enumerate(head):
            if body and all(not r[j] for r in body):
                problems.append(f"table {n} column {name!r} is empty in every row")
        for r in t["body"]:
            for cell in r:
                if BAD_WORDS.search(cell) or RAW.match(cell):
                    problems.append(f"table {n} cell {cell!r}")
    for line in text.splitlines():
        if BAD_WORDS.search(line) or RAW.match(line):
            problems.append(f"text {line.strip()[:120]!r}")
    return problems


@pytest.fixture(scope="module")
def chromium():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "chromium/chromedriver missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):  # fmt: skip
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def test_cell_checker_catches_bad_cells():
    bad = [{"head": ["a", "b", "c"], "body": [["1", "", '{"x": 1}'], ["None", "", "2"]]}]
    problems = cell_problems(bad, "fine\nvalue nan here")
    assert any("column 'b' is empty" in p for p in problems)
    assert any('{"x": 1}' in p for p in problems) and any("'None'" in p for p in problems)
    assert any("nan here" in p for p in problems)
    assert cell_problems([{"head": ["a"], "body": [["n/a"], ["$1.00"]]}], "IWM/SPY/QQQ") == []


@pytest.mark.parametrize("kind", ["sod", "eod"])
def test_rendered_report_has_no_empty_or_raw_cells(ref_url, chromium, tmp_path, kind):
    with connect(ref_url, read_only=True) as wh:
        report = (
            build_sod(wh, AS_OF, TRADE, charts=False)
            if kind == "sod"
            else build_eod(wh, AS_OF, TRADE, {"SPY": "etf_core", "QQQ": "etf_core"})
        )
    page = tmp_path / f"{kind}.html"
    page.write_text(render(report, with_charts=False).html, encoding="utf-8")
    chromium.get(page.as_uri())
    tables = chromium.execute_script(_TABLES_JS)
    text = chromium.execute_script("return document.body.innerText")
    assert len(tables) >= 4
    assert cell_problems(tables, text) == []
