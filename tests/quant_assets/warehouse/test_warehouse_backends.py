"""The Warehouse contract, run unchanged on DuckDB and PostgreSQL (fixture `warehouse`)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from quant_assets.schemas.tables import ALL_SCHEMAS, TABLES
from quant_assets.warehouse import ReadOnlyError, connect
from quant_assets.warehouse.loading import load_frame
from quant_assets.warehouse.migrations import EXTRA_MIGRATIONS

OHLCV = "market_data.ohlcv_daily"


def bars(symbols, dates, *, seed=0, source="sample") -> pd.DataFrame:
    """Consistent OHLCV rows (high >= max(open, close), low <= min(open, close))."""
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product([symbols, pd.to_datetime(dates)], names=["symbol", "date"])
    n = len(idx)
    close = 100 * np.exp(rng.normal(0, 0.02, n))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    df = idx.to_frame(index=False)
    df["date"] = df["date"].dt.date
    df["open"] = open_
    df["high"] = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    df["low"] = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    df["close"] = close
    df["volume"] = rng.integers(1_000, 1_000_000, n).astype(float)
    df["vwap"] = (df["high"] + df["low"] + df["close"]) / 3
    df["source"] = source
    df["is_sample"] = source == "sample"
    return df


def sorted_rows(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["date"] = pd.to_datetime(out["date"])
    return out.sort_values(["symbol", "date", "source"]).reset_index(drop=True)


JAN = dict(start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 31))
JAN_DATES = pd.bdate_range("2024-01-02", "2024-01-31")


def test_migrate_twice_is_a_noop_and_creates_every_table(warehouse):
    assert warehouse.migrate() == []
    recorded = warehouse.query('SELECT "id" FROM ops.schema_migrations')
    # schemas + one per table + the extra steps (indexes, DuckDB keys)
    assert len(recorded) == len(TABLES) + 1 + len(EXTRA_MIGRATIONS)
    found = warehouse.query(
        "SELECT table_schema || '.' || table_name AS fqn FROM information_schema.tables "
        "WHERE table_schema = ANY(?)",
        [list(ALL_SCHEMAS)],
    )
    assert set(TABLES) <= set(found["fqn"])
    schemas = warehouse.query("SELECT schema_name FROM information_schema.schemata")
    assert {
        "market_data",
        "events",
        "macro",
        "news",
        "derived",
        "strategies",
        "execution",
        "ops",
    } <= set(schemas["schema_name"])


def test_loading_the_same_partition_twice_leaves_the_same_rows(warehouse):
    df = bars(["AAPL", "MSFT", "SPY"], JAN_DATES)
    first = load_frame(warehouse, OHLCV, df, source="sample", partition_key="2024-01", **JAN)
    after_first = warehouse.read_table(OHLCV)
    second = load_frame(warehouse, OHLCV, df, source="sample", partition_key="2024-01", **JAN)
    after_second = warehouse.read_table(OHLCV)
    assert first.rows_loaded == second.rows_loaded == len(df)
    assert len(after_second) == len(df)
    pd.testing.assert_frame_equal(after_first, after_second)
    pd.testing.assert_frame_equal(
        sorted_rows(after_second)[["symbol", "date", "close"]].astype({"date": "datetime64[us]"}),
        sorted_rows(df)[["symbol", "date", "close"]].astype({"date": "datetime64[us]"}),
    )
    log = warehouse.query("SELECT batch_id, rows_loaded, partition_key FROM ops.ingestion_log")
    assert sorted(log["batch_id"]) == sorted([first.batch_id, second.batch_id])
    assert set(log["rows_loaded"]) == {len(df)} and set(log["partition_key"]) == {"2024-01"}


def test_a_failure_before_commit_keeps_the_previous_rows(warehouse, monkeypatch):
    old = bars(["AAPL", "MSFT"], JAN_DATES, seed=1)
    warehouse.replace_slice(OHLCV, old, **JAN)
    before = warehouse.read_table(OHLCV)

    real_insert = warehouse._insert_staged

    def insert_then_fail(conn, table, stage):
        real_insert(conn, table, stage)  # the delete and the insert have both run
        raise RuntimeError("injected failure before commit")

    monkeypatch.setattr(warehouse, "_insert_staged", insert_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        warehouse.replace_slice(OHLCV, bars(["AAPL"], JAN_DATES, seed=2), **JAN)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(warehouse.read_table(OHLCV), before)

    # a database-side failure after the delete (a repeated key) also rolls back
    dup = pd.concat([old, old.head(1)], ignore_index=True)
    with pytest.raises(Exception, match=r"(?i)duplicate|unique|primary key|constraint"):
        warehouse.replace_slice(OHLCV, dup, **JAN)
    pd.testing.assert_frame_equal(warehouse.read_table(OHLCV), before)


def test_invalid_rows_are_quarantined_and_valid_rows_of_the_batch_load(warehouse):
    df = bars(["AAPL", "MSFT"], JAN_DATES[:5])
    df.loc[0, ["high", "low"]] = [9.5, 10.0]  # high < low
    df.loc[1, "volume"] = -5.0
    df.loc[2, "close"] = np.nan
    dup_row = df.iloc[[3]].copy()
    df = pd.concat([df, dup_row], ignore_index=True)  # row 3 and the last share a key
    result = load_frame(warehouse, OHLCV, df, source="sample", **JAN)

    assert result.rows_quarantined == 5 and result.rows_loaded == len(df) - 5
    stored = warehouse.read_table(OHLCV)
    assert len(stored) == len(df) - 5
    q = warehouse.query(
        "SELECT reason, row_json, source, table_name FROM ops.quarantine WHERE batch_id = ?",
        [result.batch_id],
    )
    assert len(q) == 5 and set(q["table_name"]) == {OHLCV} and set(q["source"]) == {"sample"}
    reasons = " | ".join(q["reason"])
    assert "high < low: high=9.5 low=10.0" in reasons
    assert "volume < 0: volume=-5.0" in reasons
    assert "close is NaN" in reasons
    key = dup_row.iloc[0]
    assert f"duplicate key (symbol, date, source)=({key.symbol}, {key.date}, sample)" in reasons
    rows = [json.loads(s) for s in q["row_json"]]
    assert all(set(r) == set(df.columns) for r in rows)  # the whole row is kept
    assert {(r["symbol"], r["volume"]) for r in rows} >= {(df.loc[1, "symbol"], -5.0)}
    bad_keys = {(df.loc[i, "symbol"], pd.Timestamp(df.loc[i, "date"])) for i in (0, 1, 2, 3)}
    assert not bad_keys & set(zip(stored["symbol"], stored["date"], strict=True))


def test_rows_outside_the_slice_are_quarantined_not_loaded(warehouse):
    df = bars(["AAPL"], ["2024-01-31", "2024-02-01"])
    df.loc[0, "source"] = "polygon"
    df = pd.concat([df, bars(["MSFT"], ["2024-01-31"])], ignore_index=True)
    result = load_frame(warehouse, OHLCV, df, source="sample", where={"source": "sample"}, **JAN)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    q = warehouse.query("SELECT reason FROM ops.quarantine ORDER BY reason")
    assert (
        q["reason"].iloc[0].startswith("date outside slice 2024-01-01..2024-01-31: date=2024-02-01")
    )
    assert q["reason"].iloc[1] == "source not in this load's slice: source=polygon"
    with pytest.raises(ValueError, match="outside the slice"):
        warehouse.replace_slice(OHLCV, df, **JAN)


def test_replace_touches_only_its_slice(warehouse):
    warehouse.replace_slice(OHLCV, bars(["AAPL", "MSFT"], JAN_DATES, seed=1), **JAN)
    warehouse.replace_slice(OHLCV, bars(["AAPL"], JAN_DATES, seed=9, source="polygon"), **JAN,
                            where={"source": "polygon"})  # fmt: skip
    # replace only AAPL's sample rows of two days
    new = bars(["AAPL"], JAN_DATES[:2], seed=3)
    warehouse.replace_slice(
        OHLCV,
        new,
        start=JAN_DATES[0].date(),
        end=JAN_DATES[1].date(),
        where={"symbol": ["AAPL"], "source": "sample"},
    )
    got = warehouse.read_table(OHLCV, where={"source": "sample"})
    assert len(got) == 2 * len(JAN_DATES)
    aapl = got[got["symbol"] == "AAPL"].set_index("date")["close"]
    np.testing.assert_array_equal(aapl.iloc[:2].to_numpy(), new["close"].to_numpy())
    assert len(warehouse.read_table(OHLCV, where={"source": "polygon"})) == len(JAN_DATES)


def test_upsert_updates_existing_keys_and_inserts_new_ones(warehouse):
    df = bars(["AAPL", "MSFT"], ["2024-01-02"])
    assert warehouse.upsert(OHLCV, df) == 2
    changed = df.copy()
    changed.loc[0, ["close", "high"]] = [500.0, 600.0]
    extra = bars(["SPY"], ["2024-01-02"])
    warehouse.upsert(OHLCV, pd.concat([changed.iloc[[0]], extra], ignore_index=True))
    got = warehouse.read_table(OHLCV).set_index("symbol")
    assert list(got.index) == ["AAPL", "MSFT", "SPY"]
    assert got.loc["AAPL", "close"] == 500.0 and got.loc["AAPL", "high"] == 600.0
    assert got.loc["MSFT", "close"] == df.loc[1, "close"]


def test_read_panel_matches_a_pandas_pivot_of_the_rows(warehouse):
    df = bars(["AAPL", "MSFT", "SPY"], JAN_DATES, seed=4)
    df = df[~((df["symbol"] == "MSFT") & (df["date"] == JAN_DATES[3].date()))]  # a missing bar
    warehouse.replace_slice(OHLCV, df, **JAN)
    fields = ["open", "close", "volume"]
    symbols = ["SPY", "AAPL", "MSFT", "NOPE"]
    panel = warehouse.read_panel(symbols, JAN_DATES[1].date(), JAN_DATES[-2].date(), fields=fields)

    want = df.assign(date=pd.to_datetime(df["date"]))
    want = want[(want["date"] >= JAN_DATES[1]) & (want["date"] <= JAN_DATES[-2])]
    ref = want.pivot(index="date", columns="symbol", values=fields).reindex(
        columns=pd.MultiIndex.from_product([fields, symbols])
    )
    assert panel.shape == (len(JAN_DATES) - 2, len(fields) * len(symbols))
    assert list(panel.columns.names) == ["field", "symbol"] and panel.index.name == "date"
    np.testing.assert_array_equal(
        panel.index.to_numpy(), ref.index.to_numpy().astype("datetime64[us]")
    )
    np.testing.assert_array_equal(panel.to_numpy(), ref.to_numpy())  # exact: doubles round-trip
    assert np.isnan(panel.loc[JAN_DATES[3], ("close", "MSFT")])
    assert panel["close"]["NOPE"].isna().all()
    # rows stored in no particular order take the scatter path and give the same panel
    warehouse.replace_slice(OHLCV, df.sample(frac=1.0, random_state=0), **JAN)
    shuffled = warehouse.read_panel(
        symbols, JAN_DATES[1].date(), JAN_DATES[-2].date(), fields=fields
    )
    pd.testing.assert_frame_equal(shuffled, panel)


def test_read_panel_refuses_ambiguous_sources(warehouse):
    warehouse.upsert(OHLCV, bars(["AAPL"], ["2024-01-02"]))
    warehouse.upsert(OHLCV, bars(["AAPL"], ["2024-01-02"], source="polygon"))
    with pytest.raises(Exception, match="source="):
        warehouse.read_panel(["AAPL"], dt.date(2024, 1, 1), dt.date(2024, 1, 5))
    panel = warehouse.read_panel(
        ["AAPL"], dt.date(2024, 1, 1), dt.date(2024, 1, 5), source="polygon"
    )
    assert panel.shape == (1, 5)


def test_read_only_connection_rejects_writes(warehouse):
    warehouse.upsert(OHLCV, bars(["AAPL"], ["2024-01-02"]))
    url = warehouse.url
    if warehouse.dialect == "duckdb":
        warehouse.close()  # DuckDB: a file is open read-write or read-only, not both
    reader = connect(url, read_only=True)
    try:
        assert len(reader.read_table(OHLCV)) == 1
        with pytest.raises(ReadOnlyError):
            reader.upsert(OHLCV, bars(["MSFT"], ["2024-01-02"]))
        with pytest.raises(ReadOnlyError):  # refused by the database itself, not only by our guard
            reader.query("DELETE FROM market_data.ohlcv_daily")
        assert len(reader.read_table(OHLCV)) == 1
    finally:
        reader.close()


def test_tables_without_a_date_column_are_replaced_whole(warehouse):
    universe = pd.DataFrame(
        {
            "symbol": ["AAPL", "BTC"],
            "name": ["Apple", "Bitcoin"],
            "asset_class": ["stock", "crypto"],
            "sector": ["technology", "crypto"],
            "groups": ["us_megacap", "crypto_top10"],
            "tags": [None, "l1"],
            "exchange": ["NASDAQ", "CRYPTO"],
            "calendar": ["NYSE", "24/7"],
        }
    )
    fqn = "market_data.instruments"
    assert load_frame(warehouse, fqn, universe, source=None, start=None, end=None).rows_loaded == 2
    load_frame(warehouse, fqn, universe.iloc[[0]], source=None, start=None, end=None)
    got = warehouse.read_table(fqn)
    assert list(got["symbol"]) == ["AAPL"] and got["tags"].iloc[0] is None


def test_timestamps_round_trip_in_utc(warehouse):
    art = pd.DataFrame(
        {
            "article_id": ["a1", "a2"],
            "published_at": pd.to_datetime(
                ["2024-01-02T23:30:00-05:00", "2024-01-03T01:00:00Z"], utc=True
            ),
            "published_date": [dt.date(2024, 1, 3), dt.date(2024, 1, 3)],
            "title": ["t1", ""],
            "description": [None, "d"],
            "url": ["https://x/1", "https://x/2"],
            "publisher": ["p", None],
            "symbols": ["AAPL", None],
            "source": "sample",
            "is_sample": True,
        }
    )
    result = load_frame(
        warehouse,
        "news.articles",
        art,
        source="sample",
        start=dt.date(2024, 1, 3),
        end=dt.date(2024, 1, 3),
    )
    assert result.rows_loaded == 1  # a2 has an empty title
    got = warehouse.read_table("news.articles")
    assert str(got["published_at"].dtype) == "datetime64[us, UTC]"
    assert got["published_at"].iloc[0] == pd.Timestamp("2024-01-03T04:30:00Z")
    assert got["description"].iloc[0] is None


def test_values_nulls_and_empty_strings_round_trip_exactly(warehouse):
    rng = np.random.default_rng(5)
    n = 300
    events = pd.DataFrame(
        {
            "event_code": [f"E{i % 7}" for i in range(n)],
            "name": ["x" * (i % 300 + 1) for i in range(n)],  # 300 text lengths: many row shapes
            "country": ['say "hi",\nthen\tgo; \\ ok'] + ["US"] * (n - 1),  # CSV/COPY specials
            "release_time": pd.Timestamp("2024-01-02T13:30Z") + pd.to_timedelta(np.arange(n), "D"),
            "release_date": (pd.Timestamp("2024-01-02") + pd.to_timedelta(np.arange(n), "D")).date,
            "period": [None if i % 3 else f"2024-{i % 12 + 1:02d}" for i in range(n)],
            "actual": np.where(rng.random(n) < 0.3, np.nan, rng.normal(0, 1, n)),
            "consensus": rng.normal(0, 1, n) * 1e-300,  # tiny doubles survive
            "previous": [np.nan] * n,
            "unit": ["" if i % 2 else "%" for i in range(n)],
            "source": "sample",
            "is_sample": True,
            "consensus_source": [None if i % 4 else "model" for i in range(n)],
        }
    )
    fqn = "events.economic_events"
    result = load_frame(
        warehouse,
        fqn,
        events,
        source="sample",
        start=dt.date(2024, 1, 1),
        end=dt.date(2025, 12, 31),
    )
    assert result.rows_quarantined == 0
    got = (
        warehouse.read_table(fqn).sort_values(["event_code", "release_date"]).reset_index(drop=True)
    )
    want = events.assign(
        release_date=pd.to_datetime(events["release_date"]).astype("datetime64[us]")
    )
    want = want.astype({"release_time": "datetime64[us, UTC]"})
    want = want.sort_values(["event_code", "release_date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (
        got["unit"].isin(["", "%"]).all()
        and got["period"].isna().sum() == (np.arange(n) % 3 != 0).sum()
    )


def _primary_keys(wh) -> set[str]:
    found = wh.query(
        "SELECT table_schema || '.' || table_name AS fqn FROM information_schema.table_constraints "
        "WHERE constraint_type = 'PRIMARY KEY'"
    )
    return set(found["fqn"])


def test_bulk_load_refuses_keys_already_stored_or_repeated(warehouse):
    first = bars(["AAPL", "MSFT"], JAN_DATES[:5])
    assert warehouse.bulk_load(OHLCV, first) == len(first)
    before = warehouse.read_table(OHLCV)
    overlap = pd.concat([bars(["SPY"], JAN_DATES[:5]), first.iloc[[7]]], ignore_index=True)
    key = first.iloc[7]
    with pytest.raises(Exception, match=r"(?i)duplicate key") as err:
        warehouse.bulk_load(OHLCV, overlap)
    if warehouse.dialect == "duckdb":  # no index: the write path names the stored key
        assert f"(symbol, date, source)=({key.symbol}, {key.date}, sample)" in str(err.value)
    repeated = pd.concat([bars(["SPY"], JAN_DATES[:5])] * 2, ignore_index=True)
    with pytest.raises(Exception, match=r"(?i)duplicate key"):
        warehouse.bulk_load(OHLCV, repeated)
    pd.testing.assert_frame_equal(warehouse.read_table(OHLCV), before)  # nothing written
    # new keys (other source, other dates) still append
    warehouse.bulk_load(OHLCV, bars(["AAPL"], JAN_DATES[:5], source="polygon"))
    warehouse.bulk_load(OHLCV, bars(["AAPL"], JAN_DATES[5:8]))
    stored = warehouse.read_table(OHLCV)
    assert len(stored) == len(first) + 8
    assert not stored.duplicated(["symbol", "date", "source"]).any()


def test_raw_tables_are_keyless_on_duckdb_only(warehouse):
    keyed = _primary_keys(warehouse)
    assert "execution.orders" in keyed and "ops.ingestion_log" in keyed
    if warehouse.dialect == "duckdb":
        assert not {OHLCV, "news.articles", "macro.observations"} & keyed
    else:
        assert {OHLCV, "news.articles", "macro.observations"} <= keyed


def test_upsert_on_many_dates_keeps_one_row_per_key(warehouse):
    old = bars(["AAPL", "MSFT"], JAN_DATES, seed=1)
    warehouse.replace_slice(OHLCV, old, **JAN)
    new = bars(["AAPL", "SPY"], JAN_DATES[3:], seed=2)
    assert warehouse.upsert(OHLCV, new) == len(new)
    got = warehouse.read_table(OHLCV)
    assert not got.duplicated(["symbol", "date", "source"]).any()
    want = pd.concat([old, new]).drop_duplicates(["symbol", "date", "source"], keep="last")
    pd.testing.assert_frame_equal(
        sorted_rows(got)[["symbol", "date", "close"]],
        sorted_rows(want)[["symbol", "date", "close"]].astype({"date": "datetime64[us]"}),
    )


def test_read_panel_arrays_match_the_frame_for_dense_and_sparse_bars(warehouse):
    symbols = ["AAPL", "MSFT", "SPY"]
    dense = bars(symbols, JAN_DATES, seed=6)
    warehouse.replace_slice(OHLCV, dense, **JAN)
    for rows in (dense, dense.iloc[5:-3]):  # every bar stored in key order; some bars missing
        warehouse.replace_slice(OHLCV, rows, **JAN)
        panel = warehouse.read_panel_arrays(symbols, JAN["start"], JAN["end"])
        want = rows.assign(date=pd.to_datetime(rows["date"])).pivot(index="date", columns="symbol")
        assert panel.shape == (want.index.nunique(), len(symbols))
        np.testing.assert_array_equal(panel.dates, want.index.to_numpy().astype("datetime64[us]"))
        for f in ("open", "high", "low", "close", "volume"):
            got = panel.fields[f]
            assert got.dtype == np.float64 and got.shape == panel.shape
            np.testing.assert_array_equal(got, want[f][symbols].to_numpy())
        frame = warehouse.read_panel(symbols, JAN["start"], JAN["end"])
        np.testing.assert_array_equal(frame["close"].to_numpy(), panel.fields["close"])
        small = warehouse.read_panel_arrays(
            symbols, JAN["start"], JAN["end"], fields=["close"], dtype=np.float32
        )
        assert small.fields["close"].dtype == np.float32
        np.testing.assert_array_equal(
            small.fields["close"], panel.fields["close"].astype(np.float32)
        )
