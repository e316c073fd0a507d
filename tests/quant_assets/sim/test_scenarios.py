"""Scenario engine: file validation, conditional expectations, crisis moves, replays, portfolio PnL.

References: the conditional mean of a Gaussian vector (Sigma_af Sigma_ff^-1 s, with sample
covariances it is the OLS slope times the shock, checked against numpy.polyfit and
numpy.linalg.lstsq with an intercept), and compounding of the given panel for replays.
"""

from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_assets.sim.scenarios import (
    HistoricalScenario,
    HypotheticalScenario,
    ReplayScenario,
    ScenarioEngine,
    ScenarioError,
    conditional_expectation,
    load_scenarios,
)

GROUPS = {
    "SPY": "etf_core",
    "AGG": "etf_core",
    "XLE": "etf_energy",
    "BTC": "crypto_top10",
    "ETH": "crypto_top10",
    "AAPL": "us_megacap",
    "MSFT": "us_megacap",
    "NEWCO": "us_megacap",
}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Business-day panel 2006-2023 from a 3-factor model; crypto from 2014, NEWCO from 2019."""
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2006-01-02", "2023-12-29", name="date")
    T = len(dates)
    eq, rates, oil, cry = (rng.normal(0, s, T) for s in (0.011, 0.004, 0.02, 0.04))
    noise = lambda s: rng.normal(0, s, T)  # noqa: E731
    cols = {
        "SPY": eq,
        "AGG": rates - 0.05 * eq,
        "XLE": 0.9 * eq + 0.5 * oil + noise(0.008),
        "BTC": 0.4 * eq + cry,
        "ETH": 0.5 * eq + 1.2 * cry + noise(0.02),
        "AAPL": 1.2 * eq + noise(0.012),
        "MSFT": 1.1 * eq + noise(0.010),
        "NEWCO": 1.3 * eq + noise(0.015),
    }
    df = pd.DataFrame(cols, index=dates)
    df.loc[:"2014-06-30", ["BTC", "ETH"]] = np.nan
    df.loc[:"2019-03-29", "NEWCO"] = np.nan
    return df


def write(tmp_path, text: str):
    path = tmp_path / "user.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# --------------------------------------------------------------------------- the file


def test_default_file_has_the_named_windows():
    s = load_scenarios()
    assert s.market == "SPY"
    expected = {
        "gfc_2008": ("2008-09-01", "2009-03-09"),
        "covid_crash_2020": ("2020-02-19", "2020-03-23"),
        "rate_shock_2022": ("2022-01-03", "2022-10-12"),
    }
    for name, (start, end) in expected.items():
        sc = s[name]
        assert isinstance(sc, HistoricalScenario)
        assert (sc.start.isoformat(), sc.end.isoformat()) == (start, end)
    assert {"q4_selloff_2018", "china_deval_2015"} <= set(s.names)
    assert s["rates_up_100bp"].shocks == {"rates": 100.0}
    assert {"equities", "nasdaq100", "small_caps", "rates", "oil", "gold", "dollar", "crypto",
            "vix"} == set(s.factors)  # fmt: skip
    # every crisis carries the real moves of its window: index returns, 10y yield, oil, gold,
    # dollar and VIX; bitcoin only where it traded (from 2010)
    for name in ("gfc_2008", "euro_debt_2011", "china_deval_2015", "volmageddon_2018",
                 "q4_selloff_2018", "covid_crash_2020", "rate_shock_2022"):  # fmt: skip
        sc = s[name]
        assert isinstance(sc, HistoricalScenario)
        need = {"equities", "nasdaq100", "small_caps", "rates", "oil", "gold", "dollar", "vix"}
        assert need <= set(sc.moves), name
        assert ("crypto" in sc.moves) == (sc.start.year >= 2010), name
        assert sc.moves["equities"] < 0 and sc.moves["vix"] > 0, name
    # published S&P 500 closes: GFC 1,282.83 -> 676.53, 2022 4,796.56 -> 3,577.03
    assert s["gfc_2008"].moves["equities"] == pytest.approx(676.53 / 1282.83 - 1, abs=1e-3)
    assert s["rate_shock_2022"].moves["equities"] == pytest.approx(3577.03 / 4796.56 - 1, abs=1e-3)
    assert s["rate_shock_2022"].moves["rates"] > 200  # 10y 1.63% -> 3.90%
    assert isinstance(s["replay"], ReplayScenario) and s["replay"].worst_sessions == 63


def test_user_file_extends_and_overrides(tmp_path):
    path = write(
        tmp_path,
        """
        factors:
          gold: {kind: return, proxies: [{symbol: GLD}]}
        scenarios:
          gold_spike: {kind: hypothetical, shocks: {gold: 0.25}}
          covid_crash_2020: {kind: historical, start: 2020-02-20, end: 2020-03-20,
                             moves: {equities: -0.3, gold: 0.01}}
        """,
    )
    s = load_scenarios(path)
    assert s["gold_spike"].shocks == {"gold": 0.25}
    assert s["covid_crash_2020"].start == dt.date(2020, 2, 20)
    assert "gfc_2008" in s.names and "gold" in s.factors


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            "bad: {kind: hypothetical, shocks: {equites: -0.2}}",
            ["'bad'", "shocks.equites", "unknown factor"],
        ),
        (
            "bad: {kind: historical, start: 2020-03-01, end: 2020-02-01, moves: {equities: -0.1}}",
            ["'bad'", "'end'", "not after start"],
        ),
        (
            "bad: {kind: historical, start: 2020-01-01, end: 2020-02-01}",
            ["'bad'", "'moves'", "required"],
        ),
        (
            "bad: {kind: historical, start: 2020-01-01, end: 2020-02-01, moves: {sp500: -0.1}}",
            ["'bad'", "moves.sp500", "unknown factor"],
        ),
        (
            "bad: {kind: hypothetical, shocks: {equities: -20%}}",
            ["'bad'", "shocks.equities", "number"],
        ),
        (
            "bad: {kind: hypothetical, shocks: {equities: yes}}",
            ["'bad'", "shocks.equities", "number"],
        ),
        (
            "bad: {kind: historical, start: 2020-01-01, end: 2020-02-01, shocks: {equities: -0.1}}",
            ["'bad'", "'shocks'", "unknown field"],
        ),
        (
            "bad: {kind: hypothetical, shocks: {crypto: -1.5}}",
            ["'bad'", "shocks.crypto", "above -1"],
        ),
        ("bad: {kind: rerun, start: 2020-01-01, end: 2020-02-01}", ["'bad'", "'kind'"]),
        ("bad: {kind: replay, start: 2020-01-01}", ["'bad'", "'end'", "both start and end"]),
        (
            "bad: {kind: replay, start: 2020-01-01, end: 2020-02-01, worst_sessions: 5}",
            ["'bad'", "'worst_sessions'", "not both"],
        ),
    ],
)
def test_invalid_scenarios_fail_at_load_naming_scenario_and_field(tmp_path, body, fragments):
    path = write(tmp_path, "scenarios:\n  " + body + "\n")
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    assert str(path) in str(err.value)


def test_invalid_factor_and_root_key(tmp_path):
    path = write(tmp_path, "factors:\n  r2: {kind: yield_bp, proxies: [{symbol: IEF}]}\n")
    with pytest.raises(ScenarioError, match=r"factor 'r2': field 'proxies.0.duration'"):
        load_scenarios(path)
    path = write(tmp_path, "scenarioz: {}\n")
    with pytest.raises(ScenarioError, match=r"field 'scenarioz': unknown field"):
        load_scenarios(path)


# --------------------------------------------------------------------------- conditional mean


def test_conditional_expectation_bivariate_normal_is_beta_times_shock():
    rng = np.random.default_rng(3)
    cov = np.array([[0.0004, 0.00018], [0.00018, 0.0003]])
    x = rng.multivariate_normal([0.001, -0.0005], cov, size=50_000)
    f, a = pd.DataFrame({"eq": x[:, 0]}), pd.DataFrame({"asset": x[:, 1]})
    got = conditional_expectation(a, f, {"eq": -0.2})["asset"]
    sample_beta = np.cov(x[:, 1], x[:, 0])[0, 1] / np.var(x[:, 0], ddof=1)
    assert got == pytest.approx(sample_beta * -0.2, rel=1e-10)
    assert got == pytest.approx(np.polyfit(x[:, 0], x[:, 1], 1)[0] * -0.2, rel=1e-9)
    true_beta = cov[0, 1] / cov[0, 0]  # 0.45; SE of the sample beta ~ 0.0033
    assert got == pytest.approx(true_beta * -0.2, abs=4 * 0.0033 * 0.2)


def test_conditional_expectation_multifactor_matches_lstsq(panel):
    F = panel[["SPY", "AGG"]].rename(columns={"SPY": "eq", "AGG": "r"})
    A = panel[["XLE", "AAPL", "BTC"]]
    got = conditional_expectation(A, F, {"eq": -0.2, "r": 0.01}, min_observations=100)
    for sym in A:
        ok = A[sym].notna()
        X = np.column_stack([np.ones(ok.sum()), F[ok].to_numpy()])
        coef = np.linalg.lstsq(X, A.loc[ok, sym].to_numpy(), rcond=None)[0]
        assert got[sym] == pytest.approx(coef[1:] @ [-0.2, 0.01], rel=1e-9)


def test_asset_identical_to_factor_gets_the_shock(panel):
    F = pd.DataFrame({"eq": panel["SPY"]})
    got = conditional_expectation(panel[["SPY"]], F, {"eq": -0.2})
    assert got["SPY"] == pytest.approx(-0.2, rel=1e-12)


# --------------------------------------------------------------------------- engine


def test_hypothetical_shocks_through_proxies(panel):
    eng = ScenarioEngine(panel, groups=GROUPS)
    positions = {"SPY": 1000.0, "AGG": 500.0, "XLE": -300.0, "BTC": 200.0, "AAPL": 400.0}
    res = eng.run("equities_down_20", positions)
    assert res.by_position.loc["SPY", "return"] == pytest.approx(-0.2, rel=1e-12)
    # the engine's numbers are the conditional mean over the last 756 days
    window = panel.iloc[-756:]
    expected = conditional_expectation(
        window, window[["SPY"]].rename(columns={"SPY": "equities"}), {"equities": -0.2}
    )
    np.testing.assert_allclose(res.by_position["return"], expected[list(positions)], rtol=1e-12)
    assert res.by_position.loc["AAPL", "return"] == pytest.approx(-0.24, abs=0.02)  # true beta 1.2

    rates = eng.run("rates_up_100bp", positions)
    assert rates.factors_used == {"rates": "AGG"}  # TLT absent: the next proxy, duration 6
    assert rates.by_position.loc["AGG", "return"] == pytest.approx(-0.06, rel=1e-12)
    oil = eng.run("oil_up_30", positions)
    assert oil.factors_used == {"oil": "XLE"}
    assert oil.by_position.loc["XLE", "return"] == pytest.approx(0.5 * 0.30, rel=1e-12)


def test_others_zero_conditions_on_every_factor(panel):
    eng = ScenarioEngine(panel, groups=GROUPS)
    res = eng.run("stagflation", {"AAPL": 100.0, "ETH": 100.0})
    w = panel.iloc[-756:]
    F = pd.DataFrame({"eq": w["SPY"], "r": w["AGG"] / -6e-4, "oil": w["XLE"] / 0.5, "c": w["BTC"]})
    for sym in ("AAPL", "ETH"):
        X = np.column_stack([np.ones(len(F)), F.to_numpy()])
        coef = np.linalg.lstsq(X, w[sym].to_numpy(), rcond=None)[0]
        assert res.by_position.loc[sym, "return"] == pytest.approx(
            coef[1:] @ [-0.15, 100, 0.30, 0.0], rel=1e-9
        )


def test_factor_series_replaces_the_proxy(panel):
    bp = pd.Series(
        panel["AGG"].to_numpy() / -6e-4 * 1.01, index=panel.index
    )  # a yield series in bp
    eng = ScenarioEngine(panel, groups=GROUPS, factor_series={"rates": bp})
    res = eng.run("rates_up_100bp", {"AGG": 1.0})
    assert res.factors_used == {"rates": "series"}
    assert res.by_position.loc["AGG", "return"] == pytest.approx(-0.06 / 1.01, rel=1e-10)


def test_replay_is_compounded_window_return(panel):
    eng = ScenarioEngine(panel, groups=GROUPS)
    sc = load_scenarios()["covid_crash_2020"]
    got = eng.replay(sc.start, sc.end, ["SPY", "AAPL", "BTC"])
    w = panel[(panel.index > "2020-02-19") & (panel.index <= "2020-03-23")]
    for sym in ("SPY", "AAPL", "BTC"):
        assert got.loc[sym, "return"] == pytest.approx(
            np.prod(1 + w[sym].to_numpy()) - 1, rel=1e-12
        )
        assert got.loc[sym, "method"] == "replay"


def test_replay_proxies_assets_without_data(panel):
    eng = ScenarioEngine(panel, groups=GROUPS)
    got = eng.replay(dt.date(2008, 9, 1), dt.date(2009, 3, 9), ["NEWCO", "BTC", "ETH", "LONER"])
    w = panel[(panel.index > "2008-09-01") & (panel.index <= "2009-03-09")]
    window_ret = np.prod(1 + w.to_numpy(), axis=0) - 1
    ret = dict(zip(panel.columns, window_ret, strict=True))
    # NEWCO (listed 2019): beta to its group's leave-one-out mean x the group's window return
    peers = panel[["AAPL", "MSFT"]].mean(axis=1)
    ok = panel["NEWCO"].notna()
    beta = np.polyfit(peers[ok], panel.loc[ok, "NEWCO"], 1)[0]
    assert got.loc["NEWCO", "method"] == "proxy_group:us_megacap"
    assert got.loc["NEWCO", "beta"] == pytest.approx(beta, rel=1e-9)
    assert got.loc["NEWCO", "return"] == pytest.approx(
        beta * (ret["AAPL"] + ret["MSFT"]) / 2, rel=1e-9
    )
    # crypto: no group member existed, so beta to the market
    for sym in ("BTC", "ETH"):
        ok = panel[sym].notna()
        beta = np.polyfit(panel.loc[ok, "SPY"], panel.loc[ok, sym], 1)[0]
        assert got.loc[sym, "method"] == "proxy_market:SPY"
        assert got.loc[sym, "return"] == pytest.approx(beta * ret["SPY"], rel=1e-9)
    # unknown symbol, no history: beta 1 to the market
    assert got.loc["LONER", "return"] == pytest.approx(ret["SPY"], rel=1e-12)


def test_portfolio_pnl_adds_up(panel):
    eng = ScenarioEngine(panel, groups=GROUPS)
    positions = pd.Series(
        {"SPY": 1e6, "AGG": 4e5, "XLE": -2.5e5, "BTC": 1e5, "NEWCO": 3e5, "MSFT": -1.5e5}
    )
    names = ["gfc_2008", "covid_crash_2020", "risk_off", "replay"]
    summary, results = eng.run_all(positions, names=names)
    assert list(results) == names
    for name, res in results.items():
        bp = res.by_position
        np.testing.assert_array_equal(bp["pnl"], bp["market_value"] * bp["return"])
        assert bp["pnl"].sum() == res.total
        assert res.by_group.sum() == pytest.approx(res.total, rel=1e-12, abs=1e-6)
        assert set(res.by_group.index) == {GROUPS[s] for s in positions.index}
        assert summary.loc[name, "pnl"] == res.total
    gfc = results["gfc_2008"]
    assert gfc.by_position.loc["SPY", "method"] == "conditional"
    # a short loses when its asset rises: XLE is short and oil fell 59% in the GFC window
    assert gfc.by_position.loc["XLE", "return"] < 0 < gfc.by_position.loc["XLE", "pnl"]
    assert results["replay"].by_position.loc["SPY", "method"] == "replay"


def test_crisis_moves_through_factor_betas(panel):
    """A crisis moves each factor proxy by its real move and every asset by its betas."""
    eng = ScenarioEngine(panel, groups=GROUPS)
    sc = load_scenarios()["gfc_2008"]
    res = eng.run("gfc_2008", {"SPY": 1.0, "AGG": 1.0, "XLE": 1.0, "AAPL": 1.0, "BTC": 1.0})
    r = res.by_position["return"]
    assert r["SPY"] == pytest.approx(sc.moves["equities"], abs=1e-12)
    assert r["AGG"] == pytest.approx(-6.0 * sc.moves["rates"] / 1e4, abs=1e-12)  # duration 6
    assert r["XLE"] == pytest.approx(0.5 * sc.moves["oil"], abs=1e-12)  # proxy beta 0.5
    assert res.factors_used == {"equities": "SPY", "rates": "AGG", "oil": "XLE"}
    assert "not applied: nasdaq100, small_caps, gold, dollar, vix" in res.notes[0]
    # AAPL: OLS (with intercept) on the three factor series over the estimation window
    window = eng.estimation_panel()
    F = np.column_stack([window["SPY"], window["AGG"] / -6e-4, window["XLE"] / 0.5])
    X = np.column_stack([np.ones(len(F)), F])
    for sym in ("AAPL", "BTC"):
        ok = window[sym].notna().to_numpy()
        coef = np.linalg.lstsq(X[ok], window[sym].to_numpy()[ok], rcond=None)[0][1:]
        shock = np.array([sc.moves["equities"], sc.moves["rates"], sc.moves["oil"]])
        assert r[sym] == pytest.approx(float(coef @ shock), rel=1e-8)
    # the crisis does not depend on the warehouse holding prices of its window
    late = ScenarioEngine(panel.loc["2019":], groups=GROUPS)
    assert late.run("gfc_2008", {"SPY": 1.0}).total == pytest.approx(sc.moves["equities"])


@pytest.fixture(scope="module")
def broad() -> pd.DataFrame:
    """Three years of a market factor with growth, size, rates, oil, gold and crypto factors."""
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2021-01-04", "2023-12-29")
    T = len(dates)
    m, g, sz, y, o, au, c = (rng.normal(0, s, T) for s in (0.01, 0.005, 0.006, 0.0035, 0.02,
                                                           0.009, 0.035))  # fmt: skip
    e = lambda s: rng.normal(0, s, T)  # noqa: E731
    cols = {
        "SPY": m + e(0.0005), "QQQ": 1.15 * m + g, "IWM": 1.1 * m + sz, "AGG": y - 0.05 * m,
        "XLE": 0.8 * m + 0.5 * o, "GLD": 0.05 * m + au, "BTC": 0.5 * m + c,
        "AAPL": 1.2 * m + 0.5 * g + e(0.012), "MSFT": 1.1 * m + 0.4 * g + e(0.01),
        "BRK.B": 0.85 * m + e(0.008), "JPM": 1.1 * m + 0.2 * sz + e(0.012),
        "XOM": 0.7 * m + 0.6 * o + e(0.01),
    }  # fmt: skip
    return pd.DataFrame(cols, index=dates)


CRISES = ["gfc_2008", "euro_debt_2011", "china_deval_2015", "volmageddon_2018",
          "q4_selloff_2018", "covid_crash_2020", "rate_shock_2022"]  # fmt: skip


@pytest.mark.parametrize("name", CRISES)
def test_crisis_sign_and_size_on_a_broad_long_book(broad, name):
    """A long equity book loses about what the S&P 500 lost in each crisis."""
    sc = load_scenarios()[name]
    names = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "BRK.B", "JPM", "XOM"]
    book = pd.Series(100_000.0, index=names)
    res = ScenarioEngine(broad, groups={}).run(name, book)
    spx = sc.moves["equities"]
    assert res.by_position.loc["SPY", "return"] == pytest.approx(spx, abs=1e-9)
    assert res.by_position.loc["QQQ", "return"] == pytest.approx(sc.moves["nasdaq100"], abs=1e-9)
    assert res.by_position.loc["IWM", "return"] == pytest.approx(sc.moves["small_caps"], abs=1e-9)
    ret = res.total / book.sum()
    assert ret < 0
    assert 0.6 * abs(spx) < abs(ret) < 1.6 * abs(spx), (name, ret, spx)
    # every position but the oil producer falls (oil rose in 2022: XOM may too, as it did);
    # a broad book's members stay within 2x of the index move
    equities = res.by_position["return"]
    assert (equities.drop("XOM") < 0).all(), equities
    assert (equities.abs() < 2.0 * abs(spx)).all(), equities


def test_replay_worst_window(panel):
    eng = ScenarioEngine(panel, groups=GROUPS, as_of="2015-12-31")
    start, end = eng.worst_window(63)
    m = eng.aligned["SPY"].dropna()
    level = np.log1p(m).cumsum()
    worst = min(level.iloc[i + 63] - level.iloc[i] for i in range(len(m) - 63))
    assert level[pd.Timestamp(end)] - level[pd.Timestamp(start)] == pytest.approx(worst)
    res = eng.run("replay", {"SPY": 1.0})
    assert res.total == pytest.approx(np.expm1(worst), rel=1e-10)
    assert res.notes[0] == f"replayed window {start}..{end}"
    assert pd.Timestamp(end) <= pd.Timestamp("2015-12-31")  # no look-ahead past as_of


def test_as_of_and_missing_data_errors(panel, tmp_path):
    dated = write(tmp_path, "scenarios:\n  covid_replay: {kind: replay, start: 2020-02-19, "
                            "end: 2020-03-23}\n")  # fmt: skip
    eng = ScenarioEngine(panel, load_scenarios(dated), groups=GROUPS, as_of="2019-12-31")
    with pytest.raises(ScenarioError, match="no rows"):
        eng.run("covid_replay", {"SPY": 1.0})
    no_crypto = ScenarioEngine(panel.drop(columns=["BTC"]), groups=GROUPS)
    with pytest.raises(ScenarioError, match="crypto"):
        no_crypto.run("crypto_down_50", {"SPY": 1.0})
    assert isinstance(load_scenarios()["risk_off"], HypotheticalScenario)
    # run_all reports a scenario the data cannot serve and carries on with the others
    summary, results = eng.run_all({"SPY": 1.0}, names=["covid_replay", "gfc_2008"])
    assert "no rows" in summary.loc["covid_replay", "error"] and np.isnan(
        summary.loc["covid_replay", "pnl"]
    )
    assert summary.loc["gfc_2008", "pnl"] == results["gfc_2008"].total and list(results) == [
        "gfc_2008"
    ]
    # a crisis none of whose moved factors has data cannot be applied
    bare = ScenarioEngine(panel[["AAPL", "MSFT"]], groups=GROUPS)
    with pytest.raises(ScenarioError, match="without data"):
        bare.run("gfc_2008", {"AAPL": 1.0})


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(list(GROUPS)),
        st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: abs(x) > 1.0),
        min_size=1,
    ),
    st.sampled_from(["gfc_2008", "rate_shock_2022", "risk_off", "stagflation", "replay"]),
)
def test_scenario_pnl_sums_over_positions_to_the_book(panel, positions, name):
    """Property: position PnLs sum to the book total, groups to the same total, and the
    book PnL is linear in the positions (twice the book, twice the PnL)."""
    eng = _engine(panel)
    res = eng.run(name, positions)
    assert res.by_position["pnl"].sum() == pytest.approx(res.total, rel=1e-12, abs=1e-9)
    assert res.by_group.sum() == pytest.approx(res.total, rel=1e-9, abs=1e-6)
    assert np.isfinite(res.by_position["pnl"]).all()
    double = eng.run(name, {k: 2 * v for k, v in positions.items()})
    assert double.total == pytest.approx(2 * res.total, rel=1e-9, abs=1e-6)


_ENGINES: dict[int, ScenarioEngine] = {}


def _engine(panel: pd.DataFrame) -> ScenarioEngine:
    return _ENGINES.setdefault(id(panel), ScenarioEngine(panel, groups=GROUPS))
