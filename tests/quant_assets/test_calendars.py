"""The closed-weekday cache behind the session partitions: same days as the calendar,
reused only while calendar, range and pandas_market_calendars version are unchanged."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import version

from quant_assets.calendars import cached_closed_weekdays, closed_weekdays

START, END = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
CACHE_FILE = "closed-weekdays-NYSE.json"


def test_closed_weekdays_are_the_nyse_holidays():
    closed = closed_weekdays("NYSE", START, END)
    assert dt.date(2024, 7, 4) in closed  # Independence Day
    assert dt.date(2025, 1, 9) in closed  # national day of mourning, a one-off closure
    assert dt.date(2024, 7, 5) not in closed  # the Friday after trades
    assert all(d.weekday() < 5 for d in closed)
    assert closed_weekdays("24/7", START, END) == []


def test_a_miss_computes_and_writes_the_cache(tmp_path):
    cache = tmp_path / "cache"  # not there yet: made on the first write
    closed = cached_closed_weekdays("NYSE", START, END, cache)
    assert closed == closed_weekdays("NYSE", START, END)
    written = json.loads((cache / CACHE_FILE).read_text())
    assert written["key"]["pandas_market_calendars"] == version("pandas_market_calendars")
    assert written["closed"] == [d.isoformat() for d in closed]
    assert [p.name for p in cache.iterdir()] == [CACHE_FILE]  # no temporary file left


def test_a_hit_reads_the_file(tmp_path):
    cached_closed_weekdays("NYSE", START, END, tmp_path)
    path = tmp_path / CACHE_FILE
    written = json.loads(path.read_text())
    path.write_text(json.dumps({**written, "closed": ["2024-07-04"]}))
    assert cached_closed_weekdays("NYSE", START, END, tmp_path) == [dt.date(2024, 7, 4)]


def test_another_library_version_or_range_recomputes(tmp_path):
    expected = cached_closed_weekdays("NYSE", START, END, tmp_path)
    path = tmp_path / CACHE_FILE
    written = json.loads(path.read_text())
    stale = {"key": {**written["key"], "pandas_market_calendars": "0.0.1"}, "closed": []}
    path.write_text(json.dumps(stale))
    assert cached_closed_weekdays("NYSE", START, END, tmp_path) == expected
    assert json.loads(path.read_text()) == written  # rewritten for the installed version

    shorter = cached_closed_weekdays("NYSE", START, dt.date(2024, 12, 31), tmp_path)
    assert shorter == [d for d in expected if d.year == 2024]
    assert json.loads(path.read_text())["key"]["end"] == "2024-12-31"


def test_a_file_that_is_not_json_is_rewritten(tmp_path):
    (tmp_path / CACHE_FILE).write_text("{trunc")
    closed = cached_closed_weekdays("NYSE", START, END, tmp_path)
    assert closed == closed_weekdays("NYSE", START, END)
    assert json.loads((tmp_path / CACHE_FILE).read_text())["closed"][0] == closed[0].isoformat()
