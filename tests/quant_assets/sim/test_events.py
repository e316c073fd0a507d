"""Event study and event injection on synthetic panels with planted event responses.

The panel is a one-factor market model (known alpha, beta, 0.5% idiosyncratic noise). On
CPI release days every asset (not the market) jumps +2% for positive surprises, -2% for
negative ones and 0 for inline ones; earnings beats of AAA add +3%. Surprise sizes cycle,
so planted jumps inside estimation windows cancel out. The standard error of a bucket's mean
CAR is about sqrt(11) x 0.5% / sqrt(4 assets) / sqrt(~23 events) = 0.17%, so the stated
tolerance of 0.6 percentage points is about 3.5 SE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.sim.events import (
    StudyConfig,
    classify_economic,
    classify_events,
    classify_geopolitical,
    classify_security,
    compound_onto,
    event_study,
    inject_events,
    path_dates,
)

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]
GROUPS = {s: ("g1" if i < 4 else "g2") for i, s in enumerate(SYMBOLS)}
BETAS = np.array([0.5, 0.8, 1.0, 1.2, 1.5, 0.9, 0.7, 1.1])
ALPHAS = np.array([1, -1, 2, 0, -2, 1, 0, 3]) * 1e-4
JUMP, BEAT_JUMP, TOL = 0.02, 0.03, 0.006
Z_CYCLE = np.array([-2.0, -0.6, 0.0, 0.6, 2.0])  # surprise / 0.1, one of each bucket per cycle


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2010-01-01", periods=2600, name="date")
    m = rng.normal(3e-4, 0.01, len(dates))
    R = ALPHAS + np.outer(m, BETAS) + rng.normal(0, 0.005, (len(dates), len(SYMBOLS)))
    day0 = np.arange(300, len(dates) - 20, 20)
    z = Z_CYCLE[np.arange(len(day0)) % len(Z_CYCLE)]
    R[day0] += (np.sign(z) * JUMP)[:, None]
    economic = pd.DataFrame(
        {
            "event_code": "CPI",
            "name": "CPI",
            "country": "US",
            "release_date": dates[day0].date,
            "actual": 3.0 + 0.1 * z,
            "consensus": 3.0,
            "previous": 3.0,
        }
    )
    earn_days = np.arange(310, len(dates) - 20, 63)
    beat = np.arange(len(earn_days)) % 2 == 0
    R[earn_days[beat], 0] += BEAT_JUMP
    security = pd.DataFrame(
        {
            "symbol": "AAA",
            "event_date": dates[earn_days].date,
            "event_type": "earnings",
            "value": np.where(beat, 1.10, 0.90),
            "consensus": 1.0,
        }
    )
    returns = pd.DataFrame(R, index=dates, columns=SYMBOLS)
    market = pd.Series(m, index=dates, name="SPY")
    events = classify_events(economic, security)
    return {
        "returns": returns,
        "market": market,
        "economic": economic,
        "security": security,
        "events": events,
        "z": z,
    }


@pytest.fixture(scope="module")
def study(world):
    return event_study(world["returns"], world["market"], world["events"], groups=GROUPS)


def test_surprise_buckets_follow_standardised_surprise(world):
    ev = classify_economic(world["economic"])
    s = 0.1 * world["z"]
    zs = s / np.std(s, ddof=1)  # the standardisation: the code's surprise std
    np.testing.assert_allclose(ev["surprise_z"], zs, rtol=1e-12)
    expected = np.select(
        [zs <= -1, zs < -0.25, zs < 0.25, zs < 1],
        ["large_negative", "small_negative", "inline", "small_positive"],
        "large_positive",
    )
    assert list(ev["bucket"]) == list(expected)
    assert set(ev["bucket"]) == {
        "large_negative",
        "small_negative",
        "inline",
        "small_positive",
        "large_positive",
    }


def test_security_and_geopolitical_classes():
    sec = pd.DataFrame(
        {
            "symbol": ["X", "X", "X", "Y", "Y", "Y"],
            "event_date": pd.to_datetime(
                ["2020-01-02", "2020-02-03", "2020-03-02", "2020-01-02", "2020-02-03", "2020-03-02"]
            ),
            "event_type": ["earnings", "earnings", "earnings", "dividend", "split", "split"],
            "value": [1.2, 0.8, 1.003, 0.5, 4.0, 0.1],
            "consensus": [1.0, 1.0, 1.0, None, None, None],
        }
    )
    got = classify_security(sec).set_index(["symbol", "event_date"])["bucket"].tolist()
    assert got == ["positive", "negative", "inline", "all", "forward", "reverse"]
    geo = pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "event_date": ["2021-05-03", "2021-05-03", "2021-06-01", "2021-07-01"],
            "category": ["conflict", "conflict", "conflict", "sanctions"],
            "severity": [3.0, 8.0, 5.0, None],
            "tone": [-5.0, -9.0, -2.0, -1.0],
        }
    )
    g = classify_geopolitical(geo)
    # two conflicts on one day are one event, classed by the most severe
    assert g["bucket"].tolist() == ["high", "medium", "unknown"]
    assert g["event_class"].tolist() == ["geopolitical:conflict"] * 2 + ["geopolitical:sanctions"]


def test_study_recovers_planted_car_by_bucket(study):
    s = study.summary
    for bucket, sign in [
        ("large_positive", 1),
        ("small_positive", 1),
        ("large_negative", -1),
        ("small_negative", -1),
    ]:
        for group in ("g1", "g2"):
            row = s.loc[("economic:CPI", bucket, group)]
            assert abs(row["mean_car"] - sign * JUMP) < TOL, (bucket, group, row["mean_car"])
            assert sign * row["t_stat"] > 5
            assert row["n_events"] >= 20 and row["n_pairs"] == 4 * row["n_events"]
    for group in ("g1", "g2"):
        row = s.loc[("economic:CPI", "inline", group)]
        assert abs(row["mean_car"]) < TOL and abs(row["t_stat"]) < 3.5
    # the average AR path carries the jump on day 0 and nothing on the other days
    path = study.ar_path.loc[("economic:CPI", "large_positive", "g1")]
    assert abs(path[0] - JUMP) < 0.003
    assert path.drop(0).abs().max() < 0.003


def test_security_event_by_symbol(world):
    st = event_study(world["returns"], world["market"], world["events"], groups=GROUPS, by="symbol")
    assert abs(st.summary.loc[("earnings", "positive", "AAA"), "mean_car"] - BEAT_JUMP) < 0.01
    assert abs(st.summary.loc[("earnings", "negative", "AAA"), "mean_car"]) < 0.01
    # earnings of AAA touch only AAA
    assert set(st.car.loc[st.car["event_class"] == "earnings", "symbol"]) == {"AAA"}


def test_market_model_beta_is_ols_on_estimation_window(world, study):
    returns = world["returns"].copy()
    returns.iloc[1000:1040, 2] = np.nan  # holes in the estimation window are skipped
    st = event_study(returns, world["market"], world["events"], groups=GROUPS)
    row = st.car[(st.car["symbol"] == "CCC") & (st.car["day0"] > returns.index[1045])].iloc[0]
    t0 = returns.index.get_loc(row["day0"])
    est = slice(t0 - 250, t0 - 11 + 1)
    y, x = returns["CCC"].to_numpy()[est], world["market"].to_numpy()[est]
    ok = ~np.isnan(y)
    assert (~ok).sum() > 0
    beta, alpha = np.polyfit(x[ok], y[ok], 1)
    assert row["beta"] == pytest.approx(beta, rel=1e-9)
    assert row["alpha"] == pytest.approx(alpha, rel=1e-7, abs=1e-12)
    assert row["n_estimation"] == ok.sum()
    # AR and CAR follow from them on the event window
    win = slice(t0 - 5, t0 + 6)
    ar = returns["CCC"].to_numpy()[win] - alpha - beta * world["market"].to_numpy()[win]
    got = st.ar.loc[row.name].to_numpy()
    np.testing.assert_allclose(got, ar, rtol=1e-7, atol=1e-12)
    assert row["car"] == pytest.approx(ar.sum(), abs=1e-10)


def test_estimation_window_excludes_event_window(world, study):
    row = study.car[(study.car["symbol"] == "BBB")].iloc[30]
    t0 = world["returns"].index.get_loc(row["day0"])
    changed = world["returns"].copy()
    changed.iloc[t0 - 10 : t0 + 6, 1] += 0.5  # days -10..+5: after the estimation window
    st = event_study(changed, world["market"], world["events"], groups=GROUPS)
    same = st.car.loc[row.name]
    assert (same["alpha"], same["beta"]) == (row["alpha"], row["beta"])
    changed.iloc[t0 - 11, 1] += 0.5  # day -11 is the last estimation day
    st = event_study(changed, world["market"], world["events"], groups=GROUPS)
    assert st.car.loc[row.name, "beta"] != row["beta"]
    with pytest.raises(ValueError, match="overlaps"):
        StudyConfig(window=(-5, 5), estimation=(-250, -5))


def test_market_adjusted_and_mean_adjusted(world):
    for method in ("market_adjusted", "mean_adjusted"):
        cfg = StudyConfig(method=method)
        st = event_study(
            world["returns"], world["market"], world["events"], groups=GROUPS, config=cfg
        )
        row = st.car.iloc[100]
        t0 = world["returns"].index.get_loc(row["day0"])
        r = world["returns"][row["symbol"]].to_numpy()[t0 - 5 : t0 + 6]
        if method == "market_adjusted":
            expected = r - world["market"].to_numpy()[t0 - 5 : t0 + 6]
        else:
            expected = r - world["returns"][row["symbol"]].to_numpy()[t0 - 250 : t0 - 10].mean()
        np.testing.assert_allclose(st.ar.loc[row.name], expected, rtol=1e-9, atol=1e-12)


def test_as_of_uses_only_the_past(world):
    as_of = world["returns"].index[1500]
    st = event_study(world["returns"], world["market"], world["events"], groups=GROUPS, as_of=as_of)
    assert st.events["event_date"].max() <= as_of
    # whole windows end by as_of
    assert (st.car["day0"] + pd.offsets.BDay(5)).max() <= as_of
    later = world["returns"].copy()
    later.iloc[1501:] *= -3.0  # the future changes; the study as of the past must not
    st2 = event_study(later, world["market"], world["events"], groups=GROUPS, as_of=as_of)
    pd.testing.assert_frame_equal(st.summary, st2.summary)
    # surprise standardisation as of a date sees only releases up to it
    full = classify_economic(world["economic"], as_of=as_of)
    cut = classify_economic(
        world["economic"][pd.to_datetime(world["economic"]["release_date"]) <= as_of]
    )
    pd.testing.assert_frame_equal(full.reset_index(drop=True), cut.reset_index(drop=True))


def test_compound_onto_moves_weekend_returns_to_monday():
    idx = pd.date_range("2024-01-05", "2024-01-09", freq="D")  # Fri..Tue
    r = pd.DataFrame({"BTC": [0.01, 0.02, -0.03, 0.04, 0.05]}, index=idx)
    sessions = pd.bdate_range("2024-01-05", "2024-01-09")
    out = compound_onto(r, sessions)
    assert out.loc["2024-01-08", "BTC"] == pytest.approx(1.02 * 0.97 * 1.04 - 1, rel=1e-12)
    assert out.loc["2024-01-09", "BTC"] == pytest.approx(0.05)


# --------------------------------------------------------------------------- injection


def _paths(n_paths=300, n_days=30, seed=1):
    return np.random.default_rng(seed).normal(0, 0.01, (n_paths, n_days, len(SYMBOLS)))


def _history(study, event_class, bucket):
    """(events, K, assets) of the study's AR vectors, built here from the flat table."""
    c = study.car[(study.car["event_class"] == event_class) & (study.car["bucket"] == bucket)]
    ids = sorted(set(c["event_id"]))
    H = np.full((len(ids), len(study.config.days), len(SYMBOLS)), np.nan)
    for i, row in c.iterrows():
        H[ids.index(row["event_id"]), :, SYMBOLS.index(row["symbol"])] = study.ar.loc[i]
    return H


def test_injection_adds_sampled_responses_at_offsets(study):
    start = pd.Timestamp("2030-01-31")
    dates = pd.bdate_range(start + pd.Timedelta(days=1), periods=30)
    paths = _paths()
    upcoming = pd.DataFrame(
        {"event_date": [dates[10]], "event_class": ["economic:CPI"], "bucket": ["large_positive"]}
    )
    inj = inject_events(
        paths, SYMBOLS, start, upcoming, study, seed=42, dates=dates, return_draws=True
    )
    (draw,) = inj.draws
    assert list(draw.path_days) == list(range(5, 16))
    added = inj.paths - paths
    expected = np.zeros_like(paths)
    expected[:, 5:16, :] = np.log1p(draw.values)
    np.testing.assert_allclose(added, expected, atol=1e-15)
    # each path got one whole historical event: all assets and days of the same release
    H = _history(study, "economic:CPI", "large_positive")
    assert not np.isnan(H).any()
    match = np.abs(draw.values[:, None] - H[None]).max(axis=(2, 3)) < 1e-15
    assert match.any(axis=1).all()
    assert match.any(axis=0).sum() > len(H) // 2  # many different events drawn
    # reproducible by seed
    again = inject_events(paths, SYMBOLS, start, upcoming, study, seed=42, dates=dates)
    np.testing.assert_array_equal(again.paths, inj.paths)
    other = inject_events(paths, SYMBOLS, start, upcoming, study, seed=43, dates=dates)
    assert not np.array_equal(other.paths, inj.paths)


def test_injection_bucket_distribution_horizon_and_security(study):
    start = pd.Timestamp("2030-01-31")
    dates = pd.bdate_range(start + pd.Timedelta(days=1), periods=30)
    paths = _paths(n_paths=2000)
    upcoming = pd.DataFrame(
        {
            "event_date": [dates[27], dates[3], start, dates[-1] + pd.Timedelta(days=30)],
            "event_class": ["economic:CPI", "earnings", "economic:CPI", "economic:CPI"],
            "bucket": [
                {"large_positive": 0.3, "large_negative": 0.7},
                "positive",
                "inline",
                "inline",
            ],
            "symbol": [None, "AAA", None, None],
        }
    )
    inj = inject_events(
        paths, SYMBOLS, start, upcoming, study, seed=5, dates=dates, return_draws=True
    )
    cpi, earn = inj.draws
    assert len(inj.skipped) == 2  # one on the start date, one past the horizon
    assert list(cpi.path_days) == list(range(22, 30)) and list(cpi.rel_days) == list(range(-5, 3))
    share = np.mean(cpi.buckets == "large_negative")
    assert abs(share - 0.7) < 0.035  # binomial SE 0.010
    day0 = cpi.values[:, 5, :].mean(axis=1)  # rel day 0
    assert day0[cpi.buckets == "large_negative"].mean() < -0.015
    assert day0[cpi.buckets == "large_positive"].mean() > 0.015
    # the earnings response goes to AAA only
    assert list(earn.columns) == [0]
    diff = inj.paths - paths
    other_days = np.setdiff1d(np.arange(30), cpi.path_days)
    assert np.all(diff[:, other_days][:, :, 1:] == 0)


def test_injection_normal_mode_matches_fitted_moments(study):
    start = pd.Timestamp("2030-01-31")
    dates = pd.bdate_range(start + pd.Timedelta(days=1), periods=30)
    paths = np.zeros((4000, 30, len(SYMBOLS)))
    upcoming = pd.DataFrame(
        {"event_date": [dates[10]], "event_class": ["economic:CPI"], "bucket": ["small_negative"]}
    )
    inj = inject_events(
        paths,
        SYMBOLS,
        start,
        upcoming,
        study,
        seed=3,
        dates=dates,
        mode="normal",
        return_draws=True,
    )
    H = _history(study, "economic:CPI", "small_negative")
    mu, sd = H.mean(axis=0), H.std(axis=0, ddof=1)
    v = inj.draws[0].values
    se = sd / np.sqrt(len(v))
    assert np.all(np.abs(v.mean(axis=0) - mu) < 4.5 * se)
    assert np.all(
        np.abs(v.std(axis=0, ddof=1) / sd - 1) < 0.1
    )  # SE of a sd ratio ~ 1/sqrt(2n) = 1.1%


def test_path_dates_follow_the_exchange_calendar():
    d = path_dates("2024-12-31", 3)
    assert list(d.strftime("%Y-%m-%d")) == ["2025-01-02", "2025-01-03", "2025-01-06"]
