"""Files mode through ingestion into the warehouse: every file accounted for, bad files
quarantined with their reason while the others load, original text kept in quarantine.

Real data: backtesting's GOOG daily, EURUSD hourly and BTCUSD monthly files (AGPL, used in
tests only) and arch's S&P 500 daily file (NCSA), copied as a user would drop them in.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from quant_assets.ingest import RAW_SPECS, bulk_load, ingest
from quant_assets.sources.files import FilesSource
from quant_assets.universe import Universe, load_universe
from quant_assets.warehouse import connect

STARTER = Path(__file__).resolve().parents[2] / "quant_assets" / "starter" / "universe.yaml"
LISTED = next(s for s in RAW_SPECS if s.domain == "ohlcv_listed")
CRYPTO = next(s for s in RAW_SPECS if s.domain == "ohlcv_crypto")
D = dt.date


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    assert path.exists(), path
    return path


GOOG_CSV = package_file("backtesting", "test", "GOOG.csv")  # 2004-08-19..2013-03-01 daily
EURUSD_CSV = package_file("backtesting", "test", "EURUSD.csv")  # hourly
BTCUSD_CSV = package_file("backtesting", "test", "BTCUSD.csv")  # monthly
SP500_CSV = package_file("arch", "data", "sp500", "sp500.csv.gz")  # 1999..2018 daily, m/d/Y


@pytest.fixture
def universe() -> Universe:
    return load_universe(STARTER)  # SPY, QQQ, GOOG (listed) and BTC (crypto)


@pytest.fixture
def wh(tmp_path):
    warehouse = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    warehouse.migrate()
    yield warehouse
    warehouse.close()


def folder(tmp_path: Path, files: dict[str, Path | str], mapping: str | None = None) -> Path:
    root = tmp_path / "files"
    for name, content in files.items():
        target = root / "ohlcv" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_text(content.strip() + "\n")
    if mapping is not None:
        (root / "mapping.yaml").write_text(mapping)
    return root


JANUARY_2013 = (D(2013, 1, 2), D(2013, 1, 31))


def load(wh, root: Path, universe: Universe, spec=LISTED, start=None, end=None):
    start, end = start or JANUARY_2013[0], end or JANUARY_2013[1]
    source = FilesSource(root, universe_symbols=universe.symbols)
    return ingest(wh, spec, source, universe, start, end)


def quarantine(wh) -> pd.DataFrame:
    return wh.query("select reason, row_json from ops.quarantine order by reason")


def test_unmatched_file_is_skipped_with_its_reason(tmp_path, wh, universe) -> None:
    root = folder(tmp_path, {"GOOG.csv": GOOG_CSV, "EURUSD.csv": EURUSD_CSV})
    result = load(wh, root, universe)
    assert (
        result.rows_loaded == 21 and result.rows_quarantined == 0
    )  # GOOG: the 21 NYSE sessions of January 2013
    assert result.files is not None
    assert (result.files["files_loaded"], result.files["files_skipped"]) == (1, 1)
    assert result.files["files"] == [
        "ohlcv/EURUSD.csv: skipped: symbol 'EURUSD' is not in the universe; "
        "map the file name in mapping.yaml under symbols:",
        "ohlcv/GOOG.csv: loaded 21 rows",
    ]


def test_bad_header_quarantines_that_file_and_the_others_load(tmp_path, wh, universe) -> None:
    bad = "Date,Open,High,Low,Volume\n2013-01-02,1,2,0.5,10"
    root = folder(tmp_path, {"GOOG.csv": GOOG_CSV, "QQQ.csv": bad})
    result = load(wh, root, universe)
    assert result.rows_loaded == 21 and result.rows_quarantined == 1
    assert (result.files["files_loaded"], result.files["files_quarantined"]) == (1, 1)
    (row,) = quarantine(wh).itertuples()
    assert row.reason.startswith("file refused: missing required column 'close'")
    assert json.loads(row.row_json) == {"file": "ohlcv/QQQ.csv"}
    stored = wh.query("select distinct symbol from market_data.ohlcv_daily")["symbol"].tolist()
    assert stored == ["GOOG"]
    # QQQ's only file was refused: the source names it, with the reason, as having no row.
    assert list(result.files["symbols_refused"]) == ["QQQ"]
    assert result.files["symbols_refused"]["QQQ"].startswith(
        "ohlcv/QQQ.csv: missing required column 'close'"
    )


def test_corrupt_parquet_is_quarantined_and_the_others_load(tmp_path, wh, universe) -> None:
    root = folder(tmp_path, {"GOOG.csv": GOOG_CSV, "SPY.parquet": "Date,Close\n2013-01-02,1"})
    result = load(wh, root, universe)
    assert result.rows_loaded == 21 and result.rows_quarantined == 1
    line = next(x for x in result.files["files"] if x.startswith("ohlcv/SPY.parquet"))
    assert line.startswith("ohlcv/SPY.parquet: quarantined: cannot read file:")


def test_ambiguous_dates_are_refused_saying_how_to_declare_them(tmp_path, wh, universe) -> None:
    rows = "Date,Open,High,Low,Close,Volume\n02/01/2013,1,2,0.5,1.5,10\n03/01/2013,1,2,0.5,1.6,10"
    root = folder(tmp_path, {"QQQ.csv": rows})
    result = load(wh, root, universe)
    assert result.rows_loaded == 0 and result.rows_quarantined == 1
    (line,) = result.files["files"]
    assert line == (
        "ohlcv/QQQ.csv: quarantined: column 'date': ambiguous dates: '02/01/2013' reads as "
        "2013-02-01 (%m/%d/%Y) and as 2013-01-02 (%d/%m/%Y), and no value tells them apart; "
        "declare the format in mapping.yaml: date_formats: {ohlcv/QQQ.csv: '%m/%d/%Y'} "
        "(or '%d/%m/%Y'), or dayfirst: true / false for every file"
    )
    # Declared, the same file loads in the declared order.
    (root / "mapping.yaml").write_text("date_formats: {ohlcv/QQQ.csv: '%d/%m/%Y'}\n")
    result = load(wh, root, universe)
    assert result.rows_loaded == 2 and result.files["files_loaded"] == 1
    dates = wh.query("select date from market_data.ohlcv_daily order by date")["date"]
    assert [pd.Timestamp(d).date() for d in dates] == [D(2013, 1, 2), D(2013, 1, 3)]


def test_one_unambiguous_value_fixes_the_order_of_the_whole_file(tmp_path, wh, universe) -> None:
    # Day-first: 13/01 can only be 13 January, so 02/01 and 03/01 are 2 and 3 January.
    rows = (
        "Date,Open,High,Low,Close,Volume\n02/01/2013,1,2,0.5,1.5,10\n"
        "03/01/2013,1,2,0.5,1.6,10\n13/01/2013,1,2,0.5,1.7,10"
    )
    result = load(wh, folder(tmp_path, {"QQQ.csv": rows}), universe)
    assert result.rows_loaded == 3
    dates = wh.query("select date from market_data.ohlcv_daily order by date")["date"]
    assert [pd.Timestamp(d).date() for d in dates] == [D(2013, 1, 2), D(2013, 1, 3), D(2013, 1, 13)]


def test_hourly_bars_are_refused(tmp_path, wh, universe) -> None:
    root = folder(tmp_path, {"EURUSD.csv": EURUSD_CSV}, mapping="symbols: {EURUSD: QQQ}\n")
    result = load(wh, root, universe, start=D(2017, 4, 1), end=D(2017, 4, 30))
    assert result.rows_loaded == 0 and result.rows_quarantined == 1
    (line,) = result.files["files"]
    assert line.startswith("ohlcv/EURUSD.csv: quarantined: intraday bars: ")
    assert "resample to daily first" in line


def test_monthly_bars_are_refused(tmp_path, wh, universe) -> None:
    root = folder(tmp_path, {"BTCUSD.csv": BTCUSD_CSV}, mapping="symbols: {BTCUSD: BTC}\n")
    result = load(wh, root, universe, spec=CRYPTO, start=D(2012, 1, 1), end=D(2024, 12, 31))
    assert result.rows_loaded == 0 and result.rows_quarantined == 1
    (line,) = result.files["files"]
    assert line.startswith("ohlcv/BTCUSD.csv: quarantined: bars are monthly, not daily")
    assert "the platform takes daily bars" in line
    assert result.files["symbols_refused"] == {"BTC": line.replace(": quarantined", "", 1)}


def test_symbols_of_a_refused_file_with_a_symbol_column(tmp_path, wh, universe) -> None:
    # A weekly file holds SPY and QQQ; GOOG has a refused weekly file and a daily one.
    weeks = pd.date_range("2013-01-02", periods=8, freq="7D").strftime("%Y-%m-%d")

    def weekly(*symbols: str) -> str:
        rows = [f"{s},{d},1,2,0.5,1.5,10" for s in symbols for d in weeks]
        return "\n".join(["Symbol,Date,Open,High,Low,Close,Volume", *rows])

    files = {"weekly.csv": weekly("SPY", "QQQ"), "goog_weekly.csv": weekly("GOOG"),
             "GOOG.csv": GOOG_CSV}  # fmt: skip
    result = load(wh, folder(tmp_path, files), universe, start=D(2013, 1, 1), end=D(2013, 3, 1))
    assert result.files["files_quarantined"] == 2 and result.rows_loaded > 0
    refused = result.files["symbols_refused"]
    assert sorted(refused) == ["QQQ", "SPY"]  # GOOG has bars from its daily file
    assert refused["SPY"].startswith("ohlcv/weekly.csv: bars are weekly, not daily")


def test_quarantine_keeps_the_original_text(tmp_path, wh, universe) -> None:
    rows = (
        "Date,Open,High,Low,Close,Volume\n2013-01-02,1,2,0.5,1.5,10\n"
        "not-a-date,1,2,0.5,1.5,10\n2013-01-03,1,2,0.5,inf,10"
    )
    result = load(wh, folder(tmp_path, {"QQQ.csv": rows}), universe)
    assert result.rows_loaded == 1 and result.rows_quarantined == 2
    q = quarantine(wh)
    assert q["reason"].tolist() == [
        "close: cannot read 'inf' as a finite number",
        "date: cannot read 'not-a-date' as a date",
    ]
    assert json.loads(q["row_json"].iloc[0])["Close"] == "inf"
    assert json.loads(q["row_json"].iloc[1])["Date"] == "not-a-date"


def test_empty_first_load_then_a_fixed_mapping_loads_the_history(tmp_path, wh, universe) -> None:
    root = folder(tmp_path, {"SPX.csv.gz": SP500_CSV})
    (root / "mapping.yaml").write_text("dayfirst: false\n")

    def bulk() -> dict:
        source = FilesSource(root, universe_symbols=universe.symbols)
        return dict(bulk_load(wh, lambda domain: source, universe, D(2010, 1, 4), D(2010, 12, 31)))

    first = bulk()["market_data.ohlcv_daily"]
    assert first.rows_loaded == 0
    assert first.files["files"] == [
        "ohlcv/SPX.csv.gz: skipped: symbol 'SPX' is not in the universe; "
        "map the file name in mapping.yaml under symbols:"
    ]
    (root / "mapping.yaml").write_text("dayfirst: false\nsymbols: {SPX: SPY}\n")
    second = bulk()["market_data.ohlcv_daily"]
    assert second.rows_loaded == 252  # every NYSE session of 2010
    assert second.files["files"] == ["ohlcv/SPX.csv.gz: loaded 252 rows"]
