"""`quant main` in files mode on a user's own universe, through the CLI, to the SOD report.

Each case writes a universe of 1, 2 or 5 symbols (listed only, crypto only, mixed), drops
daily bars in a files folder as a user would, points QUANT_UNIVERSE / QUANT_MODEL_SPECS at
its own files and runs `quant main --through D` in a subprocess with a temporary data
directory. Assertions are on what the user sees: the exit code, the summary, the SOD
report file and the warehouse tables; never on the orchestration's internals. In the
mixed case ETH's only file is monthly: the run still writes the report, naming ETH and
why it has no bar.

Listed bars are real (backtesting's GOOG, arch's S&P 500 and Nasdaq files); no package
ships daily crypto bars, so BTC/ETH are a seeded random walk written as CSV.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.quant_assets.e2e import quant_main, warehouse_query

THROUGH = dt.date(2013, 3, 1)  # a Friday; GOOG's file ends on it
ONE_DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.slow

UNIVERSE_HEAD = """version: 1
as_of: 2013-03-01
sectors: [broad_market, technology, communication, crypto]
groups:
{groups}
instruments:
"""
INSTRUMENTS = {
    "SPY": ("etf", "broad_market", "core", "NYSE Arca", "NYSE"),
    "QQQ": ("etf", "technology", "core", "NASDAQ", "NYSE"),
    "GOOG": ("stock", "communication", "tech", "NASDAQ", "NYSE"),
    "BTC": ("crypto", "crypto", "coins", "CRYPTO", "24/7"),
    "ETH": ("crypto", "crypto", "coins", "CRYPTO", "24/7"),
}
SPECS = """specs:
  - name: linear_fwd_return_h1
    kind: linear
    target: fwd_return
    horizon: 1
    vol_scaled: true
    features: [price]
"""


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def write_universe(path: Path, symbols: list[str]) -> None:
    groups = sorted({INSTRUMENTS[s][2] for s in symbols})
    text = UNIVERSE_HEAD.format(groups="\n".join(f"  {g}: {g} members." for g in groups))
    for s in symbols:
        cls, sector, group, exchange, calendar = INSTRUMENTS[s]
        text += (
            f"  - symbol: {s}\n    name: {s}\n    asset_class: {cls}\n    sector: {sector}\n"
            f"    groups: [{group}]\n    exchange: {exchange}\n    calendar: '{calendar}'\n"
            "    vendor_symbols: {}\n"
        )
    path.write_text(text)


def write_crypto(path: Path, symbol: str, first: dt.date, seed: int) -> None:
    """Daily 24/7 bars: a seeded random walk with 4% daily volatility."""
    days = pd.date_range(first, THROUGH, freq="D")
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0005, 0.04, len(days))))
    open_ = np.r_[100.0, close[:-1]]
    frame = pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": open_,
            "High": np.maximum(open_, close) * 1.01,
            "Low": np.minimum(open_, close) * 0.99,
            "Close": close,
            "Volume": rng.integers(1_000, 10_000, len(days)),
        }
    )
    frame.to_csv(path / f"{symbol}.csv", index=False)


def write_files(root: Path, symbols: list[str], first: dt.date, monthly: list[str]) -> None:
    """Each symbol's daily bars; a symbol of `monthly` gets backtesting's monthly BTCUSD
    bars as its only file, which the files source refuses."""
    ohlcv = root / "ohlcv"
    ohlcv.mkdir(parents=True)
    mapping = ["dayfirst: false  # arch's files write 1/4/1999 (month first)"]
    names = {}
    for s in monthly:
        shutil.copy(package_file("backtesting", "test", "BTCUSD.csv"), ohlcv / f"{s}USD.csv")
        names[f"{s}USD"] = s
    if "GOOG" in symbols:
        shutil.copy(package_file("backtesting", "test", "GOOG.csv"), ohlcv / "GOOG.csv")
    if "SPY" in symbols:
        shutil.copy(package_file("arch", "data", "sp500", "sp500.csv.gz"), ohlcv / "SPY.csv.gz")
    if "QQQ" in symbols:  # the Nasdaq index file stands in for QQQ's bars
        shutil.copy(package_file("arch", "data", "nasdaq", "nasdaq.csv.gz"), ohlcv / "NDX.csv.gz")
        names["NDX"] = "QQQ"
    if names:
        mapping.append("symbols: {" + ", ".join(f"{k}: {v}" for k, v in names.items()) + "}")
    daily_crypto = [x for x in symbols if INSTRUMENTS[x][0] == "crypto" and x not in monthly]
    for seed, s in enumerate(daily_crypto):
        write_crypto(ohlcv, s, first, seed)
    (root / "mapping.yaml").write_text("\n".join(mapping) + "\n")


def run_main(
    tmp_path: Path, symbols: list[str], first: dt.date, monthly: list[str]
) -> subprocess.CompletedProcess:
    write_universe(tmp_path / "universe.yaml", symbols)
    (tmp_path / "specs.yaml").write_text(SPECS)
    write_files(tmp_path / "files", symbols, first, monthly)
    settings = dict(
        QUANT_SOURCE_MODE="files",
        QUANT_FILES_DIR=str(tmp_path / "files"),
        QUANT_UNIVERSE=str(tmp_path / "universe.yaml"),
        QUANT_MODEL_SPECS=str(tmp_path / "specs.yaml"),
        QUANT_SAMPLE_START=first.isoformat(),
    )
    return quant_main(tmp_path, THROUGH, settings)  # ~3 min when idle


CASES = [
    # (universe, first day of history, symbols whose only file is monthly bars):
    # short = ~3 months, long = ~3 years. In the mixed case ETH has monthly bars only: the
    # files source refuses them, the crypto feed loads BTC alone and names ETH with the
    # reason, and the run goes on without ETH.
    pytest.param(["GOOG"], dt.date(2012, 12, 3), [], id="1-listed-short"),
    pytest.param(["BTC", "ETH"], dt.date(2010, 3, 1), [], id="2-crypto-long"),
    pytest.param(
        ["SPY", "QQQ", "GOOG", "BTC", "ETH"],
        dt.date(2010, 3, 1),
        ["ETH"],
        id="5-mixed-long+eth-monthly",
    ),
]


@pytest.mark.parametrize(("symbols", "first", "monthly"), CASES)
def test_quant_main_in_files_mode_writes_the_sod_report(tmp_path, symbols, first, monthly) -> None:
    done = run_main(tmp_path, symbols, first, monthly)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "decision_job" in done.stdout
    reports = sorted((tmp_path / "data" / "reports").rglob("sod.html"))
    assert len(reports) == 1, done.stdout[-2000:]
    html = reports[0].read_text()
    # What did not run, and why, is in the report (GLD is in no case's universe).
    assert "not run today: strategy gld_mean_reversion: symbols[0]: symbol &#39;GLD&#39;" in html
    bars = warehouse_query(
        tmp_path,
        "select symbol, count(*) as n, min(date) as first, max(date) as last "
        "from market_data.ohlcv_daily group by symbol order by symbol",
    )
    daily = [s for s in symbols if s not in monthly]
    assert sorted(bars["symbol"]) == sorted(daily)
    assert (pd.to_datetime(bars["first"]).dt.date >= first).all()
    last = dict(zip(bars["symbol"], pd.to_datetime(bars["last"]).dt.date, strict=True))
    for symbol in daily:  # a past --through day is complete on both calendars
        assert last[symbol] == THROUGH
    # A refused file is one quarantine row; its symbol is named with the reason in the run's
    # output and in the report, and what trades it is skipped for want of bars.
    n = warehouse_query(tmp_path, "select count(*) as n from ops.quarantine")["n"].iloc[0]
    assert n == len(monthly)
    for symbol in monthly:
        note = (
            f"no bars loaded for {symbol}, every file of it was refused: ohlcv/{symbol}USD.csv: "
            f"bars are monthly, not daily (symbol {symbol}: median 31 days between bars"
        )
        assert note in done.stdout and note in html
    if "ETH" in monthly:
        assert "not run today: strategy eth_btc_pair: no bars for [&#39;ETH&#39;]" in html
    # The empty feed counts as loaded: quant main says how to read those years again, from
    # the first year its history run loaded.
    first_year = re.search(r"history_job\s+(\d{4}-01-01)", done.stdout)
    hint = f"after fixing those files, `quant main --reload {first_year[1]}` reads their years"
    assert (hint in done.stdout) == bool(monthly), done.stdout[-2000:]
    # Strategies that need other symbols are skipped, with their reason, not failed.
    signals = warehouse_query(tmp_path, "select distinct strategy from strategies.signals")
    assert set(signals["strategy"]) <= {"btc_trend", "eth_btc_pair", "spy_qqq_switch",
                                        "portfolio"}  # fmt: skip
