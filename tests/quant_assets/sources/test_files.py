"""The files source on real data shipped in PyPI packages and on small hand-made files.

References: backtesting's GOOG frame (AGPL, test-only) and arch's S&P 500 loader parse
the same files independently; the source must reproduce their values.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import importlib.util
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.schemas.records import EconomicEvent, MacroObservation, NewsArticle, OhlcvBar
from quant_assets.schemas.tables import get_table
from quant_assets.sources.base import Source, SourceError
from quant_assets.sources.files import FilesSource

D = dt.date
ALL_TIME = (D(1900, 1, 1), D(2100, 1, 1))


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    from backtesting.test import GOOG

    return GOOG


def arch_data(folder: str, name: str) -> Path:
    """A data file shipped in the arch package (NCSA licence), located without importing it."""
    spec = importlib.util.find_spec("arch")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / folder / name
    assert path.exists(), path
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n")
    return path


def assert_table_frame(frame: pd.DataFrame, table: str) -> None:
    assert list(frame.columns) == get_table(table).column_names
    assert (frame["source"] == "files").all()
    assert not frame["is_sample"].any()


def assert_matches_goog(frame: pd.DataFrame, goog: pd.DataFrame) -> None:
    assert frame["date"].tolist() == [t.date() for t in goog.index]
    for ours, theirs in [("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close")]:
        np.testing.assert_allclose(frame[ours].to_numpy(), goog[theirs].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(frame["volume"].to_numpy(), goog["Volume"].to_numpy(float))


# --- real data -----------------------------------------------------------------------


def test_yahoo_style_csv_matches_reference(tmp_path: Path, goog: pd.DataFrame) -> None:
    yahoo = goog.assign(**{"Adj Close": goog["Close"] * 0.5})  # must be ignored
    (tmp_path / "ohlcv").mkdir()
    yahoo.to_csv(tmp_path / "ohlcv" / "GOOG.csv", index_label="Date")
    src = FilesSource(tmp_path)
    frame = src.ohlcv(["GOOG"], *ALL_TIME)
    assert_table_frame(frame, "market_data.ohlcv_daily")
    assert (frame["symbol"] == "GOOG").all() and frame["vwap"].isna().all()
    assert_matches_goog(frame, goog)


def test_parquet_with_datetime_index_matches_reference(tmp_path: Path, goog: pd.DataFrame) -> None:
    goog.to_parquet(tmp_path / "ohlcv_GOOG.parquet")
    frame = FilesSource(tmp_path).ohlcv(["GOOG"], *ALL_TIME)
    assert_matches_goog(frame, goog)


def test_shipped_csv_with_unnamed_index_column(tmp_path: Path, goog: pd.DataFrame) -> None:
    import backtesting.test

    shipped = Path(backtesting.test.__file__).with_name("GOOG.csv")
    (tmp_path / "ohlcv").mkdir()
    shutil.copy(shipped, tmp_path / "ohlcv" / "GOOG.csv")
    frame = FilesSource(tmp_path).ohlcv(["GOOG"], D(2004, 8, 19), D(2004, 8, 31))
    ref = goog.loc["2004-08-19":"2004-08-31"]
    assert len(frame) == len(ref) == 9
    assert_matches_goog(frame, ref)


def test_gzipped_us_dates_with_adj_close_match_arch_loader(tmp_path: Path) -> None:
    shipped = arch_data("sp500", "sp500.csv.gz")
    # What arch.data.sp500.load() does, without importing arch (seconds of scipy imports).
    ref = pd.read_csv(shipped, index_col="Date", parse_dates=True, date_format="%m/%d/%Y")
    with gzip.open(shipped, "rt") as fh:
        assert fh.readline().startswith("Date,Open,High,Low,Close,Adj Close")
    shutil.copy(shipped, tmp_path / "ohlcv_SPY.csv.gz")
    start, end = D(2008, 9, 1), D(2008, 12, 31)
    frame = FilesSource(tmp_path).ohlcv(["SPY"], start, end)
    window = ref.loc[str(start) : str(end)]
    assert len(frame) == len(window) > 80
    assert frame["date"].tolist() == [t.date() for t in window.index]
    np.testing.assert_allclose(frame["close"], window["Close"], rtol=1e-12)
    np.testing.assert_allclose(frame["volume"], window["Volume"], rtol=0)


def test_real_bars_pass_the_record_rules(tmp_path: Path, goog: pd.DataFrame) -> None:
    goog.to_parquet(tmp_path / "ohlcv_GOOG.parquet")
    frame = FilesSource(tmp_path).ohlcv(["GOOG"], *ALL_TIME)
    for row in frame.to_dict("records"):
        OhlcvBar(**{**row, "vwap": None})


def test_fred_style_macro_file_with_release_lag(tmp_path: Path) -> None:
    shipped = arch_data("core_cpi", "core-cpi.csv.gz")
    shutil.copy(shipped, tmp_path / "macro_CPILFESL.csv.gz")
    # Monthly dates on the 1st (2/1/1957) read either way: the file must declare its order.
    write(tmp_path / "mapping.yaml", "macro_release_lag_days: 45\ndayfirst: false")
    frame = FilesSource(tmp_path).macro_observations(["CPILFESL"], D(2000, 1, 1), D(2000, 12, 31))
    assert_table_frame(frame, "macro.observations")
    ref = pd.read_csv(shipped, parse_dates=["Date"], date_format="%m/%d/%Y")
    ref = ref.assign(rt=ref["Date"] + pd.Timedelta(days=45))
    ref = ref[(ref.rt >= "2000-01-01") & (ref.rt <= "2000-12-31")]
    assert frame["date"].tolist() == [t.date() for t in ref["Date"]]
    assert frame["realtime_start"].tolist() == [t.date() for t in ref["rt"]]
    np.testing.assert_allclose(frame["value"], ref["CPILFESL"], rtol=1e-12)
    assert set(frame["realtime_end"]) == {D(9999, 12, 31)}
    for row in frame.to_dict("records"):
        MacroObservation(**row)


# --- hand-made files -----------------------------------------------------------------


def test_lowercase_headers_and_symbol_column(tmp_path: Path) -> None:
    write(
        tmp_path / "ohlcv.csv",
        """
ticker,date,open,high,low,close,volume,vwap
AAA,2024-01-02,10,11,9,10.5,100,10.2
BBB,2024-01-02,20,21,19,20.5,200,
AAA,2024-01-03,10.5,12,10,11.5,150,11
""",
    )
    src = FilesSource(tmp_path)
    frame = src.ohlcv(["AAA"], D(2024, 1, 3), D(2024, 1, 3))
    assert frame[["symbol", "date", "close", "vwap"]].values.tolist() == [
        ["AAA", D(2024, 1, 3), 11.5, 11.0]
    ]
    both = src.ohlcv(["AAA", "BBB"], D(2024, 1, 2), D(2024, 1, 2))
    assert sorted(both["symbol"]) == ["AAA", "BBB"]
    assert src.ohlcv([], *ALL_TIME).empty


def test_mapping_yaml_renames_headers_and_symbols(tmp_path: Path) -> None:
    write(
        tmp_path / "mapping.yaml",
        """
date_format: "%d.%m.%Y"
symbols: {BTC-USD: BTC, goog: GOOG}
columns:
  ohlcv: {Px Open: open, Px High: high, Px Low: low, Px Last: close, Qty: volume, Day: date}
""",
    )
    body = """
Day,Px Open,Px High,Px Low,Px Last,Qty
02.01.2024,100,110,95,105,7
03.01.2024,105,106,101,102,8
"""
    write(tmp_path / "ohlcv" / "BTC-USD.csv", body)
    write(tmp_path / "ohlcv" / "goog.csv", body)
    frame = FilesSource(tmp_path).ohlcv(["BTC", "GOOG"], *ALL_TIME)
    assert sorted(set(frame["symbol"])) == ["BTC", "GOOG"]
    btc = frame[frame.symbol == "BTC"]
    assert btc["date"].tolist() == [D(2024, 1, 2), D(2024, 1, 3)]
    assert btc["close"].tolist() == [105.0, 102.0] and btc["volume"].tolist() == [7.0, 8.0]


def test_missing_required_column_quarantines_the_file_naming_the_column(tmp_path: Path) -> None:
    write(tmp_path / "ohlcv" / "AAA.csv", "Date,Open,High,Low,Volume\n2024-01-02,1,2,0.5,10")
    src = FilesSource(tmp_path)
    assert src.ohlcv(["AAA"], *ALL_TIME).empty
    report = src.take_report()
    assert report is not None and report.count("quarantined") == 1
    (line,) = report.lines()
    assert line.startswith("ohlcv/AAA.csv: quarantined: missing required column 'close'")
    assert "(file has: Date, Open, High, Low, Volume)" in line


def test_file_without_symbol_column_or_name_is_quarantined(tmp_path: Path) -> None:
    write(tmp_path / "ohlcv.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10")
    src = FilesSource(tmp_path)
    assert src.ohlcv(["AAA"], *ALL_TIME).empty
    (line,) = src.take_report().lines()
    assert "quarantined: missing required column 'symbol'" in line


def test_unreadable_values_are_refused_with_their_original_text(tmp_path: Path) -> None:
    write(
        tmp_path / "ohlcv" / "AAA.csv",
        "Date,Open,High,Low,Close,Volume\n2024-01-02,1,n/a,0.5,1.5,10\nnot-a-date,1,2,0.5,1.5,10\n"
        "2024-01-03,1,2,0.5,inf,10\n2024-01-04,1,2,0.5,1.5,",
    )
    src = FilesSource(tmp_path)
    frame = src.ohlcv(["AAA"], D(2024, 1, 1), D(2024, 1, 5))
    # The empty volume reaches the loader, which quarantines it as null (the truth).
    assert frame["date"].tolist() == [D(2024, 1, 4)] and math.isnan(frame["volume"].iloc[0])
    report = src.take_report()
    rejects = report.rejects.set_index("line")
    assert rejects.loc[2, "reason"] == "high: cannot read 'n/a' as a finite number"
    assert rejects.loc[3, "reason"] == "date: cannot read 'not-a-date' as a date"
    assert rejects.loc[4, "reason"] == "close: cannot read 'inf' as a finite number"
    assert rejects.loc[3, "Date"] == "not-a-date" and rejects.loc[4, "Close"] == "inf"
    assert report.lines() == ["ohlcv/AAA.csv: loaded 1 rows, 3 quarantined"]


def test_macro_requires_vintage_or_a_declared_lag(tmp_path: Path) -> None:
    write(
        tmp_path / "macro" / "UNRATE.csv", "observation_date,UNRATE\n2024-01-01,3.7\n2024-02-01,."
    )
    src = FilesSource(tmp_path)
    assert src.macro_observations(["UNRATE"], *ALL_TIME).empty
    (line,) = src.take_report().lines()
    assert line.startswith(
        "macro/UNRATE.csv: quarantined: missing required column 'realtime_start'"
    )
    frame = FilesSource(tmp_path, mapping={"macro_release_lag_days": 7}).macro_observations(
        ["UNRATE"], *ALL_TIME
    )
    assert frame["realtime_start"].tolist() == [D(2024, 1, 8), D(2024, 2, 8)]
    assert frame["value"].iloc[0] == 3.7 and math.isnan(frame["value"].iloc[1])  # FRED "."


def test_alfred_vintages_filter_on_realtime_start(tmp_path: Path) -> None:
    write(
        tmp_path / "macro.csv",
        """
series_id,date,realtime_start,realtime_end,value
GDP,2024-01-01,2024-04-25,2024-05-29,22000.1
GDP,2024-01-01,2024-05-30,9999-12-31,22050.3
PAYEMS,2024-03-01,2024-04-05,9999-12-31,158000
""",
    )
    src = FilesSource(tmp_path)
    frame = src.macro_observations(["GDP"], D(2024, 5, 1), D(2024, 5, 31))
    assert frame[["realtime_start", "value"]].values.tolist() == [[D(2024, 5, 30), 22050.3]]
    wide = src.macro_observations(["GDP", "PAYEMS"], *ALL_TIME)
    assert sorted(wide["series_id"]) == ["GDP", "GDP", "PAYEMS"]


def test_security_events_normalise_types(tmp_path: Path) -> None:
    write(
        tmp_path / "security_events_AAPL.csv",
        """
date,type,amount,estimate
2020-08-31,Splits,4,
2024-02-09,Dividends,0.24,
2024-02-01,Earnings,2.18,2.10
""",
    )
    frame = FilesSource(tmp_path).security_events(["AAPL"], *ALL_TIME)
    assert_table_frame(frame, "events.security_events")
    assert frame["event_type"].tolist() == ["split", "dividend", "earnings"]
    assert frame["symbol"].unique().tolist() == ["AAPL"]
    assert frame["consensus"].iloc[2] == 2.10 and math.isnan(frame["consensus"].iloc[0])


def test_economic_events_times_in_configured_zone(tmp_path: Path) -> None:
    write(
        tmp_path / "mapping.yaml",
        "timezone: America/New_York\ndefaults: {economic_events: {country: US}}",
    )
    write(
        tmp_path / "economic_events.csv",
        """
event_code,release_time,actual,forecast,previous
CPI,2024-06-12 08:30,3.3,3.4,3.4
NFP,2024-01-05T13:30:00Z,216,170,173
""",
    )
    frame = FilesSource(tmp_path).economic_events(*ALL_TIME)
    assert_table_frame(frame, "events.economic_events")
    assert frame["release_time"].tolist() == [
        pd.Timestamp("2024-06-12 12:30", tz="UTC"),  # 08:30 EDT
        pd.Timestamp("2024-01-05 13:30", tz="UTC"),
    ]
    assert frame["release_date"].tolist() == [D(2024, 6, 12), D(2024, 1, 5)]
    assert frame["name"].tolist() == ["CPI", "NFP"] and set(frame["country"]) == {"US"}
    assert frame["consensus"].tolist() == [3.4, 170.0]
    for row in frame.to_dict("records"):
        EconomicEvent(**row)


def test_geopolitical_events_derive_id_and_utc_date(tmp_path: Path) -> None:
    write(
        tmp_path / "geopolitical_events" / "2024.csv",
        """
time,category,title,severity
2024-03-01T23:30:00-05:00,Sanctions,New export controls,6
""",
    )
    frame = FilesSource(tmp_path).geopolitical_events(*ALL_TIME)
    assert frame["event_date"].tolist() == [D(2024, 3, 2)]  # UTC date of 04:30Z
    assert frame["category"].tolist() == ["sanctions"]
    assert len(frame["event_id"].iloc[0]) == 40


def test_news_ids_dates_and_symbol_filter(tmp_path: Path) -> None:
    write(
        tmp_path / "news.csv",
        """
publishedAt,title,url,source_name,tickers
2024-01-02T23:30:00-05:00,Apple slips,https://e.com/1,Wire,AAPL; MSFT
2024-01-02T15:00:00Z,Oil jumps,https://e.com/2,Wire,XOM
2024-01-02T16:00:00Z,Markets calm,https://e.com/3,Wire,
""",
    )
    frame = FilesSource(tmp_path).news(["MSFT"], *ALL_TIME)
    assert_table_frame(frame, "news.articles")
    assert frame["url"].tolist() == ["https://e.com/1", "https://e.com/3"]  # tagged + untagged
    assert frame["symbols"].tolist()[0] == "AAPL,MSFT"
    assert frame["article_id"].iloc[0] == hashlib.sha1(b"https://e.com/1").hexdigest()
    assert frame["published_date"].iloc[0] == D(2024, 1, 3)
    for row in frame.to_dict("records"):
        NewsArticle(**row)


def test_empty_folder_gives_empty_frames_with_table_columns(tmp_path: Path) -> None:
    src = FilesSource(tmp_path)
    assert isinstance(src, Source) and src.name == "files"
    frames = {
        "market_data.ohlcv_daily": src.ohlcv(["AAA"], *ALL_TIME),
        "events.security_events": src.security_events(["AAA"], *ALL_TIME),
        "events.economic_events": src.economic_events(*ALL_TIME),
        "events.geopolitical_events": src.geopolitical_events(*ALL_TIME),
        "macro.observations": src.macro_observations(["GDP"], *ALL_TIME),
        "news.articles": src.news(["AAA"], *ALL_TIME),
    }
    for table, frame in frames.items():
        assert frame.empty and list(frame.columns) == get_table(table).column_names


def test_missing_folder_and_bad_mapping_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        FilesSource(tmp_path / "nope")
    write(tmp_path / "mapping.yaml", "colums: {}")
    with pytest.raises(SourceError, match="colums"):
        FilesSource(tmp_path)


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ohlcv" / "AAA.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10"
    )
    src = FilesSource(tmp_path)
    assert src.ohlcv(["AAA"], *ALL_TIME)["close"].tolist() == [1.5]
    write(
        path,
        "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.75,10\n2024-01-03,1,2,0.5,1.5,10",
    )
    assert src.ohlcv(["AAA"], *ALL_TIME)["close"].tolist() == [1.75, 1.5]
