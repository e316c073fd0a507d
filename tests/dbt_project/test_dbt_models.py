"""The derived layer on DuckDB, checked against the synthetic data's generating process and
against pandas re-computations of the textbook formulas."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

SPLIT = ("AAA", dt.date(2020, 8, 31), 4.0)  # as in conftest.SPLIT, asserted below
WEEKEND_SPLIT = ("DDD", dt.date(2020, 2, 15), 2.0)


def _frame(path, table: str, where: str = "") -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        df = con.execute(f"select * from derived.{table} {where}").df()
    for col in ("date", "event_date", "release_date", "known_from", "latest_period", "day0_date"):
        if col in df:
            df[col] = pd.to_datetime(df[col]).dt.date
    return df


@pytest.fixture(scope="module")
def returns(duckdb_build) -> pd.DataFrame:
    return _frame(duckdb_build, "fct_returns_daily").sort_values(
        ["symbol", "date"], ignore_index=True
    )


@pytest.fixture(scope="module")
def reference(raw, returns) -> pd.DataFrame:
    """Features recomputed in pandas from the true log returns and the chosen closes."""
    truth = raw.true_log_returns
    df = returns[["symbol", "date", "close"]].merge(truth, on=["symbol", "date"], how="left")
    calendars = raw.frames["market_data.instruments"].set_index("symbol").calendar
    out = []
    for symbol, g in df.groupby("symbol", sort=False):
        g = g.copy()
        tr = np.exp(g.r.fillna(0).cumsum())
        ppy = 365 if calendars[symbol] == "24/7" else 252
        g["tr"] = tr
        g["vol_20"] = g.r.rolling(20).std() * np.sqrt(ppy)
        g["vol_60"] = g.r.rolling(60).std() * np.sqrt(ppy)
        for n in (20, 50, 200):
            g[f"sma_{n}"] = g.close * tr.rolling(n).mean() / tr
        g["zscore_20"] = (tr - tr.rolling(20).mean()) / tr.rolling(20).std(ddof=0)
        for k in (21, 63, 126, 252):
            g[f"mom_{k}"] = tr / tr.shift(k) - 1
        g["drawdown"] = tr / tr.cummax() - 1
        out.append(g)
    return pd.concat(out, ignore_index=True)


def test_split_constants_match_the_data(kit):
    assert (kit.SPLIT, kit.WEEKEND_SPLIT) == (SPLIT, WEEKEND_SPLIT)


def test_returns_equal_generating_log_returns(raw, returns):
    # Every bar, including the split bars, the dividend bars and CCC's two-vendor slice
    # (the sample copy is 1.5x off there, so picking it would break the returns).
    merged = returns.merge(raw.true_log_returns, on=["symbol", "date"], validate="one_to_one")
    assert len(merged) == len(raw.true_log_returns)
    first = merged.groupby("symbol").date.transform("min") == merged.date
    assert merged.loc[first, "ret_log"].isna().all()
    np.testing.assert_allclose(
        merged.loc[~first, "ret_log"], merged.loc[~first, "r"], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(merged.ret_simple, np.expm1(merged.ret_log), rtol=1e-12)


def test_split_bar_carries_ratio_and_no_jump(returns):
    for symbol, day, ratio in (SPLIT, WEEKEND_SPLIT):
        bars = returns[(returns.symbol == symbol) & (returns.date >= day)]
        effective = bars.iloc[0]
        assert effective.split_ratio == ratio
        # the ex-date of the weekend split is a Saturday: it applies to Monday's bar
        assert effective.date == (
            day if day.weekday() < 5 else day + dt.timedelta(days=7 - day.weekday())
        )
        assert abs(effective.ret_simple) < 0.2  # raw price fell to 1/ratio; the return did not
        assert abs(effective.close / effective.prev_close - 1 / ratio) < 0.2


def test_adjusted_close_is_total_return_index_ending_at_last_close(duckdb_build, raw):
    adj = _frame(duckdb_build, "fct_adjusted_prices").sort_values(
        ["symbol", "date"], ignore_index=True
    )
    truth = adj.merge(raw.true_log_returns, on=["symbol", "date"])
    for _, g in truth.groupby("symbol"):
        # adj_close_t = close_T * exp(-(r_{t+1} + ... + r_T)): independent of the factor formula
        future = g.r.fillna(0)[::-1].cumsum()[::-1].shift(-1).fillna(0)
        expected = g.close.iloc[-1] * np.exp(-future)
        np.testing.assert_allclose(g.adj_close, expected, rtol=1e-10)
    aaa = adj[adj.symbol == SPLIT[0]]
    before = aaa[aaa.date < SPLIT[1]]
    assert (before.adj_volume / before.volume).round(12).eq(SPLIT[2]).all()


@pytest.mark.parametrize(
    "column",
    [
        "vol_20",
        "vol_60",
        "sma_20",
        "sma_50",
        "sma_200",
        "zscore_20",
        "mom_21",
        "mom_63",
        "mom_126",
        "mom_252",
        "drawdown",
    ],
)
def test_price_features_match_pandas(duckdb_build, reference, column):
    feats = _frame(duckdb_build, "fct_features_daily")
    merged = feats.merge(
        reference, on=["symbol", "date"], suffixes=("", "_ref"), validate="one_to_one"
    )
    got, want = merged[column], merged[f"{column}_ref"]
    assert (got.isna() == want.isna()).all(), f"{column}: warm-up nulls differ"
    assert got.notna().sum() > 1000
    np.testing.assert_allclose(got[got.notna()], want[want.notna()], rtol=1e-9, atol=1e-12)


def test_group_momentum_ranks_match_pandas(duckdb_build, raw):
    ranks = _frame(duckdb_build, "fct_group_momentum_ranks")
    feats = _frame(duckdb_build, "fct_price_features_daily")[["symbol", "date", "mom_126"]]
    groups = raw.frames["market_data.instrument_groups"]
    ref = feats.merge(groups, on="symbol").dropna(subset=["mom_126"])
    by = ref.groupby(["group_name", "date"]).mom_126
    ref["rank"] = by.rank(method="min", ascending=False)
    n = by.transform("count")
    ref["pct"] = np.where(n > 1, (n - ref["rank"]) / (n - 1).where(n > 1), np.nan)
    merged = ref.merge(ranks, on=["group_name", "symbol", "date"], validate="one_to_one")
    assert len(merged) == len(ref) > 1000
    assert (merged["rank"] == merged.mom_126_rank).all()
    np.testing.assert_allclose(merged.pct, merged.mom_126_pct, rtol=0, atol=1e-12)
    # AAA sits in two groups (us_megacap first): the wide mart uses its primary group
    wide = _frame(duckdb_build, "fct_features_daily", "where symbol = 'AAA'")
    primary = merged[(merged.symbol == "AAA") & (merged.group_name == "us_megacap")]
    joined = wide.merge(primary, on="date")
    np.testing.assert_allclose(joined.mom_126_group_pct, joined.mom_126_pct, atol=1e-12)


def _macro_reference(observations: pd.DataFrame, day: dt.date, series: str) -> tuple:
    """Value, latest period and yoy as known on `day`, straight from the vintages."""
    obs = observations[(observations.series_id == series) & observations.value.notna()]
    known = obs[(obs.realtime_start <= day) & (day <= obs.realtime_end)].set_index("date").value
    if known.empty:
        return None, None, None
    period = known.index.max()
    year_ago = period.replace(year=period.year - 1)
    yoy = known[period] / known[year_ago] - 1 if year_ago in known.index else None
    return known[period], period, yoy


def test_macro_features_are_point_in_time(duckdb_build, raw):
    macro = _frame(duckdb_build, "fct_macro_features_daily")
    observations = raw.frames["macro.observations"]
    checked = 0
    for row in macro[macro.date.map(lambda d: d.day in (11, 12, 13))].itertuples():
        value, period, yoy = _macro_reference(observations, row.date, row.series_id)
        assert (row.value, row.latest_period) == (value, period), row
        if yoy is None:
            assert pd.isna(row.yoy)
        else:
            assert row.yoy == pytest.approx(yoy, rel=1e-12)
        checked += 1
    assert checked > 100
    # CPI for 2020-03 is first published on 2020-04-12 and revised on 2020-05-12: the
    # first-release value is what 2020-04-13 saw, even though a revision came later.
    cpi = observations[
        (observations.series_id == "CPIAUCSL") & (observations.date == dt.date(2020, 3, 1))
    ]
    first, revised = cpi.sort_values("realtime_start").value.tolist()
    seen = macro[(macro.series_id == "CPIAUCSL") & (macro.latest_period == dt.date(2020, 3, 1))]
    assert set(seen[seen.date < dt.date(2020, 5, 12)].value) == {first}
    assert first != revised


def test_sentiment_rolling_means_are_item_weighted(duckdb_build, returns, raw):
    sent = _frame(duckdb_build, "fct_sentiment_daily")
    daily = (
        raw.frames["news.sentiment_daily"]
        .groupby(["symbol", "date"])[["n_items", "score_sum"]]
        .sum()
    )
    bars = returns[["symbol", "date"]]
    # items of a non-bar day move to the next bar of that symbol
    mapped = []
    for (symbol, day), row in daily.iterrows():
        later = bars[(bars.symbol == symbol) & (bars.date >= day)].date
        if len(later):
            mapped.append((symbol, later.iloc[0], row.n_items, row.score_sum))
    items = (
        pd.DataFrame(mapped, columns=["symbol", "date", "n", "s"]).groupby(["symbol", "date"]).sum()
    )
    dense = bars.merge(items.reset_index(), on=["symbol", "date"], how="left").fillna(
        {"n": 0, "s": 0.0}
    )
    g = dense.groupby("symbol")
    dense["ma5"] = g.s.transform(lambda x: x.rolling(5, min_periods=1).sum()) / g.n.transform(
        lambda x: x.rolling(5, min_periods=1).sum()
    ).replace(0, np.nan)
    merged = dense.merge(sent, on=["symbol", "date"], validate="one_to_one")
    assert merged.score_ma_5d.notna().sum() > 100
    np.testing.assert_allclose(merged.score_ma_5d.fillna(-9), merged.ma5.fillna(-9), atol=1e-12)
    assert merged.n_items.sum() == raw.frames["news.sentiment_daily"].n_items.sum()


def test_event_windows_compound_daily_returns(duckdb_build, returns):
    windows = _frame(duckdb_build, "fct_event_windows")
    sizes = windows.groupby(["event_class", "event_code", "event_date", "symbol"]).size()
    assert sizes.max() == 11 and (sizes == 11).mean() > 0.9
    split = windows[(windows.event_code == "split") & (windows.symbol == SPLIT[0])].sort_values(
        "rel_day"
    )
    bars = returns[returns.symbol == SPLIT[0]].set_index("date")
    expected = np.expm1(np.log1p(bars.loc[split.date, "ret_simple"].to_numpy()).cumsum())
    np.testing.assert_allclose(split.cum_return, expected, rtol=1e-12)
    assert split.loc[split.rel_day == 0, "date"].item() == SPLIT[1]


def test_economic_surprise_is_actual_minus_consensus(duckdb_build, raw):
    got = _frame(duckdb_build, "fct_economic_surprises")
    src = raw.frames["events.economic_events"]
    merged = got.merge(src, on=["event_code", "release_date"], suffixes=("", "_src"))
    np.testing.assert_allclose(
        merged.surprise, merged.actual_src - merged.consensus_src, atol=1e-12
    )
    # the z-score only uses earlier releases of the same event
    cpi = merged[merged.event_code == "CPI"].sort_values("release_date")
    prior_sd = cpi.surprise.expanding().std().shift(1)
    z = (cpi.surprise / prior_sd).where(cpi.surprise.expanding().count().shift(1) >= 4)
    np.testing.assert_allclose(cpi.surprise_z.fillna(-99), z.fillna(-99), rtol=1e-9)
