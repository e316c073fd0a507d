"""A small synthetic raw warehouse for the dbt layer, and a dbt runner.

The data is generated from known log total returns, so the true return of every bar is
known exactly: a split divides the close by its ratio, a dividend lowers the ex-date close
by the cash amount. Tests compare dbt's results with that generating process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.schemas.tables import RAW_SCHEMAS, TABLES, Table
from quant_assets.warehouse.dbt_profile import dbt_env

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
START, END = dt.date(2019, 1, 1), dt.date(2021, 6, 30)

STOCKS = {"AAA": "us_megacap", "BBB": "us_megacap", "CCC": "us_megacap", "DDD": "growth_ai_infra"}
ETFS = {"SPY": "etf_core"}
CRYPTO = {"BTC": "crypto_top10", "ETH": "crypto_top10"}
SPLIT = ("AAA", dt.date(2020, 8, 31), 4.0)  # 4-for-1 on a Monday
WEEKEND_SPLIT = ("DDD", dt.date(2020, 2, 15), 2.0)  # ex-date on a Saturday -> Monday bar
DIVIDENDS = [
    ("BBB", d, 0.55) for d in (dt.date(2019, 5, 10), dt.date(2019, 8, 9), dt.date(2020, 5, 8))
] + [
    ("AAA", dt.date(2020, 11, 6), 0.20),
    ("SPY", dt.date(2020, 3, 20), 1.40),
]


@dataclass
class RawData:
    frames: dict[str, pd.DataFrame]
    true_log_returns: pd.DataFrame  # symbol, date, r (log total return of the bar)


def _bar_dates(calendar: str) -> pd.DatetimeIndex:
    if calendar == "24/7":
        return pd.date_range(START, END, freq="D")
    return pd.bdate_range(START, END)


def make_raw(seed: int = 7) -> RawData:
    """Every raw table of tables.py with a few symbols, 2019-01 .. 2021-06."""
    rng = np.random.default_rng(seed)
    instruments, groups, bars, truths = [], [], [], []
    splits = {(s, d): k for s, d, k in (SPLIT, WEEKEND_SPLIT)}
    dividends = {(s, d): c for s, d, c in DIVIDENDS}
    universe = [(s, g, "stock") for s, g in STOCKS.items()] + [
        (s, g, "etf") for s, g in ETFS.items()
    ]
    universe += [(s, g, "crypto") for s, g in CRYPTO.items()]
    for symbol, group, asset_class in universe:
        calendar = "24/7" if asset_class == "crypto" else "NYSE"
        extra = ",etf_core" if symbol == "AAA" else ""
        instruments.append(
            dict(symbol=symbol, name=f"{symbol} Inc", asset_class=asset_class, sector="technology",
                 groups=group + extra, tags=None, exchange="NASDAQ", calendar=calendar)
        )  # fmt: skip
        groups += [dict(symbol=symbol, group_name=g) for g in (group + extra).split(",")]
        dates = _bar_dates(calendar)
        vol = 0.04 if asset_class == "crypto" else 0.015
        r = rng.standard_t(5, len(dates)) * vol / np.sqrt(5 / 3) + 0.0003
        r[0] = np.nan
        close = np.empty(len(dates))
        price = 100.0 + 50 * rng.random()
        pending_split = 1.0
        pending_div = 0.0
        # events dated on a non-bar day take effect on the next bar
        event_days = {}
        for (s, d), k in splits.items():
            if s == symbol:
                event_days.setdefault(dates[dates >= pd.Timestamp(d)][0], [1.0, 0.0])[0] *= k
        for (s, d), c in dividends.items():
            if s == symbol:
                event_days.setdefault(dates[dates >= pd.Timestamp(d)][0], [1.0, 0.0])[1] += c
        for i, day in enumerate(dates):
            if i > 0:
                pending_split, pending_div = event_days.get(day, (1.0, 0.0))
                price = price * np.exp(r[i]) / pending_split - pending_div
            close[i] = price
        open_ = close * np.exp(rng.normal(0, vol / 3, len(dates)))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, len(dates)))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, len(dates)))
        frame = pd.DataFrame(
            dict(symbol=symbol, date=dates.date, open=open_, high=high, low=low, close=close,
                 volume=rng.integers(1_000_000, 5_000_000, len(dates)).astype(float), vwap=(high + low + close) / 3,
                 source="sample", is_sample=True)
        )  # fmt: skip
        bars.append(frame)
        truths.append(pd.DataFrame(dict(symbol=symbol, date=dates.date, r=r)))
    ohlcv = pd.concat(bars, ignore_index=True)
    # a second vendor for a slice of CCC: its bars must win (polygon ranks above sample)
    better = ohlcv[
        (ohlcv.symbol == "CCC")
        & (ohlcv.date >= dt.date(2020, 1, 1))
        & (ohlcv.date < dt.date(2020, 3, 1))
    ]
    ohlcv = ohlcv.assign(
        close=np.where(ohlcv.index.isin(better.index), ohlcv.close * 1.5, ohlcv.close)
    )
    ohlcv = pd.concat([ohlcv, better.assign(source="polygon", is_sample=False)], ignore_index=True)

    sec = [dict(symbol=s, event_date=d, event_type="split", value=k, consensus=None, details=f"{k}:1")
           for s, d, k in (SPLIT, WEEKEND_SPLIT)]  # fmt: skip
    sec += [
        dict(symbol=s, event_date=d, event_type="dividend", value=c, consensus=None, details=None)
        for s, d, c in DIVIDENDS
    ]
    for s in STOCKS:
        for q in pd.date_range("2019-02-01", END, freq="QS-FEB"):
            day = pd.bdate_range(q, periods=10)[int(rng.integers(0, 10))].date()
            sec.append(dict(symbol=s, event_date=day, event_type="earnings", value=round(rng.normal(1.5, 0.3), 2),
                            consensus=round(rng.normal(1.5, 0.2), 2), details=None))  # fmt: skip
    security = pd.DataFrame(sec).assign(source="sample", is_sample=True)

    econ = []
    for month in pd.date_range("2019-01-01", END, freq="MS"):
        for code, day in (("CPI", 12), ("NFP", 5), ("FOMC", 20)):
            release = pd.bdate_range(month + pd.Timedelta(days=day - 1), periods=1)[0]
            actual = None if code == "FOMC" else round(rng.normal(0.2, 0.15), 2)
            econ.append(dict(event_code=code, name=code, country="US", release_time=release + pd.Timedelta(hours=12, minutes=30),
                             release_date=release.date(), period=(month - pd.DateOffset(months=1)).strftime("%Y-%m"),
                             actual=actual, consensus=None if actual is None else round(rng.normal(0.2, 0.1), 2),
                             previous=None, unit="%"))  # fmt: skip
    economic = pd.DataFrame(econ).assign(source="sample", is_sample=True, consensus_source=None)

    geo = [dict(event_id=f"g{i}", event_time=pd.Timestamp(d) + pd.Timedelta(hours=3), event_date=d, country="XX",
                category="conflict", title=f"event {i}", severity=float(rng.integers(1, 10)), tone=-3.0, url=None)
           for i, d in enumerate([dt.date(2019, 6, 3), dt.date(2020, 3, 9), dt.date(2020, 3, 9), dt.date(2021, 2, 24)])]  # fmt: skip
    geopolitical = pd.DataFrame(geo).assign(source="sample", is_sample=True)

    macro = []
    level = 250.0
    far = dt.date(9999, 12, 31)
    for period in pd.date_range("2018-01-01", "2021-05-01", freq="MS"):
        level *= 1 + rng.normal(0.002, 0.002)
        first = (period + pd.DateOffset(months=1, days=11)).date()
        revised = (period + pd.DateOffset(months=2, days=11)).date()
        first_value = round(level * (1 + rng.normal(0, 0.001)), 3)
        macro.append(dict(series_id="CPIAUCSL", date=period.date(), realtime_start=first,
                          realtime_end=revised - dt.timedelta(days=1), value=first_value))  # fmt: skip
        macro.append(
            dict(
                series_id="CPIAUCSL",
                date=period.date(),
                realtime_start=revised,
                realtime_end=far,
                value=round(level, 3),
            )
        )
        macro.append(dict(series_id="UNRATE", date=period.date(), realtime_start=(period + pd.DateOffset(months=1, days=4)).date(),
                          realtime_end=far, value=round(4 + rng.normal(0, 0.3), 1)))  # fmt: skip
    observations = pd.DataFrame(macro).assign(source="sample", is_sample=True)

    articles, per_article = [], []
    for i in range(400):
        sym = str(rng.choice([*list(STOCKS), "BTC"]))
        published = pd.Timestamp(START) + pd.Timedelta(
            minutes=int(rng.integers(0, (END - START).days * 1440))
        )
        aid = f"a{i:04d}"
        articles.append(dict(article_id=aid, published_at=published, published_date=published.date(), title=f"news {i}",
                             description=None, url=f"https://example.com/{i}", publisher="wire", symbols=sym))  # fmt: skip
        score = float(np.tanh(rng.normal(0, 0.5)))
        per_article.append(dict(article_id=aid, symbol=sym, published_at=published, published_date=published.date(),
                                channel=str(rng.choice(["news", "social"])), vader_compound=score, lm_score=score, score=score))  # fmt: skip
    news = pd.DataFrame(articles).assign(source="sample", is_sample=True)
    article_sentiment = pd.DataFrame(per_article).assign(source="sample", is_sample=True)
    daily = (
        article_sentiment.groupby(["symbol", "published_date", "channel"])
        .score.agg(n_items="size", score_mean="mean", score_sum="sum")
        .reset_index()
        .rename(columns={"published_date": "date"})
        .assign(source="sample", is_sample=True)
    )
    frames = {
        "market_data.instruments": pd.DataFrame(instruments),
        "market_data.instrument_groups": pd.DataFrame(groups),
        "market_data.ohlcv_daily": ohlcv,
        "events.security_events": security,
        "events.economic_events": economic,
        "events.geopolitical_events": geopolitical,
        "macro.observations": observations,
        "news.articles": news,
        "news.article_sentiment": article_sentiment,
        "news.sentiment_daily": daily,
    }
    frames = {fqn: df[TABLES[fqn].column_names] for fqn, df in frames.items()}
    return RawData(frames, pd.concat(truths, ignore_index=True))


_SQL_TYPES = {"text": "TEXT", "date": "DATE", "timestamp": "TIMESTAMP", "double": "DOUBLE PRECISION",
              "bigint": "BIGINT", "boolean": "BOOLEAN"}  # fmt: skip


def ddl(table: Table) -> str:
    cols = [
        f"{c.name} {_SQL_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in table.columns
    ]
    if table.primary_key:
        cols.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    return f"CREATE TABLE {table.fqn} ({', '.join(cols)})"


def load_duckdb(path: Path, frames: dict[str, pd.DataFrame], *, create: bool = True) -> None:
    import duckdb

    with duckdb.connect(str(path)) as con:
        if create:
            for schema in RAW_SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for fqn in frames:
                con.execute(ddl(TABLES[fqn]))
        for fqn, df in frames.items():
            con.register("frame", df)
            con.execute(f"INSERT INTO {fqn} SELECT * FROM frame")
            con.unregister("frame")


def load_postgres(dsn: str, frames: dict[str, pd.DataFrame]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=False) as con, con.cursor() as cur:
        for schema in RAW_SCHEMAS:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for fqn, df in frames.items():
            cur.execute(ddl(TABLES[fqn]))
            cols = ", ".join(df.columns)
            with cur.copy(f"COPY {fqn} ({cols}) FROM STDIN") as copy:
                for row in df.astype(object).where(df.notna(), None).itertuples(index=False):
                    copy.write_row(row)


def run_dbt(url: str, args: list[str], target_path: Path) -> None:
    """dbt in a subprocess (in-process dbt-duckdb keeps the file open), with the profile env."""
    env = {**os.environ, **dbt_env(url, threads=4)}
    cmd = [DBT, *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
           "--target-path", str(target_path), "--log-path", str(target_path)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
        )


def read_duckdb(path: Path, sql: str) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="session")
def kit():
    """This module: the helpers and constants above (test files cannot import a conftest)."""
    return sys.modules[__name__]


@pytest.fixture(scope="session")
def raw() -> RawData:
    return make_raw()


@pytest.fixture(scope="session")
def duckdb_build(raw: RawData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full `dbt build` (models + tests) on DuckDB, shared by the tests of this package."""
    tmp = tmp_path_factory.mktemp("dbt_duckdb")
    path = tmp / "warehouse.duckdb"
    load_duckdb(path, raw.frames)
    run_dbt(f"duckdb:///{path}", ["build", "--full-refresh"], tmp / "target")
    return path


PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards; skips if no server (outside CI)."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    name = f"test_dbt_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


# Marts keyed for comparisons; the point-in-time ones must not change when later data does.
MART_KEYS = {
    "fct_returns_daily": ["symbol", "date"],
    "fct_price_features_daily": ["symbol", "date"],
    "fct_group_momentum_ranks": ["group_name", "symbol", "date"],
    "fct_sentiment_daily": ["symbol", "date"],
    "fct_features_daily": ["symbol", "date"],
    "fct_macro_features_daily": ["date", "series_id"],
    "fct_adjusted_prices": ["symbol", "date"],
    "fct_economic_surprises": ["event_code", "release_date"],
    "fct_event_windows": ["event_class", "event_code", "event_date", "symbol", "rel_day"],
}
POINT_IN_TIME_MARTS = (
    "fct_returns_daily", "fct_price_features_daily", "fct_group_momentum_ranks",
    "fct_sentiment_daily", "fct_features_daily", "fct_macro_features_daily",
)  # fmt: skip


def read_mart(url_or_path, table: str) -> pd.DataFrame:
    """A mart sorted by its key, dates as datetime.date, from DuckDB (path) or PostgreSQL (url)."""
    sql = f"select * from derived.{table}"
    if isinstance(url_or_path, Path):
        df = read_duckdb(url_or_path, sql)
    else:
        import psycopg

        with psycopg.connect(url_or_path) as con:
            cur = con.execute(sql)
            df = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    for col in df.columns:
        if col in (
            "date",
            "event_date",
            "release_date",
            "known_from",
            "latest_period",
            "day0_date",
        ):
            df[col] = pd.to_datetime(df[col]).dt.date
    return df.sort_values(MART_KEYS[table], ignore_index=True)


def assert_frames_close(a: pd.DataFrame, b: pd.DataFrame, *, rtol: float, label: str) -> None:
    """Same rows, same keys and text; every numeric column equal within rtol (and 1e-12 abs)."""
    assert list(a.columns) == list(b.columns), f"{label}: columns differ"
    assert len(a) == len(b), f"{label}: {len(a)} vs {len(b)} rows"
    for col in a.columns:
        x, y = a[col], b[col]
        numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
        if numeric or (pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)):
            x, y = pd.to_numeric(x).astype(float), pd.to_numeric(y).astype(float)
            assert (x.isna() == y.isna()).all(), f"{label}.{col}: nulls differ"
            np.testing.assert_allclose(
                x[x.notna()], y[y.notna()], rtol=rtol, atol=1e-12, err_msg=f"{label}.{col}"
            )
        else:
            assert (x.astype(str) == y.astype(str)).all(), f"{label}.{col}: values differ"
