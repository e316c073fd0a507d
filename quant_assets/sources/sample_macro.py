"""Sample economy: monthly macro series with ALFRED-style vintages, FOMC decisions, the 10-year
yield, and the economic calendar whose surprises move the market factor.

One latent business cycle drives payrolls, unemployment, GDP and retail sales; a drifting
inflation trend drives CPI and PCE; a Taylor-like rule sets the funds rate at eight FOMC
meetings a year. First releases carry errors that later vintages revise away, so a backtest
reading "as known on date d" sees different numbers than the latest vintage.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from quant_assets.schemas.tables import ECONOMIC_EVENTS, MACRO_OBSERVATIONS
from quant_assets.sources.sample_common import (
    OPEN_END,
    Garch,
    as_dates,
    finish,
    garch_path,
    local_to_utc,
    next_session,
    stream,
    trading_days,
)

MACRO_SERIES = ("CPIAUCSL", "PCEPI", "PAYEMS", "UNRATE", "GDP", "RSAFS", "FEDFUNDS", "DGS10")

# FOMC meeting months and which Wednesday of the month the statement comes out (-1 = last).
_FOMC_RULE = ((1, -1), (3, 3), (5, 1), (6, 3), (7, -1), (9, 3), (11, 1), (12, 2))
_BOND_GARCH = Garch(alpha=0.06, beta=0.92, df=5.0)
BOND_DAILY_SD = 0.06  # percentage points of 10y yield per day, unconditional

# name, unit, release hour ET, market shock per standardized surprise (factor sd units)
EVENT_META = {
    "CPI": ("Consumer Price Index (MoM)", "%", 8, -0.30),
    "NFP": ("Nonfarm Payrolls (change)", "K", 8, 0.15),
    "UNEMPLOYMENT": ("Unemployment Rate", "%", 8, -0.10),
    "RETAIL_SALES": ("Retail Sales (MoM)", "%", 8, 0.10),
    "PCE": ("PCE Price Index (MoM)", "%", 8, -0.15),
    "GDP": ("GDP Growth Rate, advance (QoQ annualized)", "%", 8, 0.15),
    "FOMC": ("FOMC Rate Decision (upper bound)", "%", 14, -0.80),
}


@dataclass(frozen=True)
class Economy:
    """Everything macro the market and the tables need, over one horizon."""

    days: np.ndarray  # NYSE sessions, datetime64[D]
    market_shock: np.ndarray  # per session, standardized units added to the market factor
    cycle: np.ndarray  # per session, business-cycle state g of that month
    bond_factor: np.ndarray  # per session, unit-variance bond return factor (-dy / sd)
    bond_variance: np.ndarray  # per session, conditional variance of the bond factor
    events: pd.DataFrame  # economic calendar rows (without source columns)
    vintages: pd.DataFrame  # macro observations rows (without source columns)


def _month_start(months: np.ndarray) -> np.ndarray:
    return months.astype("datetime64[M]").astype("datetime64[D]")


def _session_on_or_after(days: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Session index on or after each date, clipped to the horizon (len(days) = beyond)."""
    return next_session(days, np.asarray(when, dtype="datetime64[D]"))


def _first_friday(months: np.ndarray) -> np.ndarray:
    first = _month_start(months)
    weekday = (first.astype(np.int64) - 4) % 7  # 1970-01-01 was a Thursday -> Monday = 0
    return first + ((4 - weekday) % 7).astype("timedelta64[D]")


def _fomc_dates(years: range) -> np.ndarray:
    out = []
    for y in years:
        for month, nth in _FOMC_RULE:
            first = dt.date(y, month, 1)
            wed = first + dt.timedelta(days=(2 - first.weekday()) % 7)
            if nth == -1:
                nxt = dt.date(y + (month == 12), month % 12 + 1, 1)
                while wed + dt.timedelta(days=7) < nxt:
                    wed += dt.timedelta(days=7)
            else:
                wed += dt.timedelta(days=7 * (nth - 1))
            out.append(wed)
    return np.array(out, dtype="datetime64[D]")


@lru_cache(maxsize=4)
def economy(seed: int, start: dt.date, end: dt.date) -> Economy:
    """Simulate the economy from `start`'s month through `end` (cached per process)."""
    days = trading_days("NYSE", start, end)
    months = np.arange(np.datetime64(start, "M"), np.datetime64(end, "M") + 1)
    n_m = len(months)
    z = stream(seed, "macro", "monthly").standard_normal((n_m, 10))
    u_regime = stream(seed, "macro", "regime").random(n_m)

    g = np.empty(n_m)
    recession = np.zeros(n_m, dtype=bool)
    trend = np.empty(n_m)
    cpi_mom = np.empty(n_m)
    unrate = np.empty(n_m)
    payroll_chg = np.empty(n_m)
    g_prev, rec, tau, pi_prev, u_prev = 0.3, False, 0.19, 0.19, 5.3
    for m in range(n_m):
        rec = (u_regime[m] < 0.10) if rec else (u_regime[m] < 0.008)
        g_prev = 0.8 * g_prev + 0.2 * (-2.0 if rec else 0.4) + 0.45 * z[m, 0]
        tau = float(np.clip(tau + 0.04 * (0.18 - tau) + 0.012 * z[m, 1], 0.02, 0.6))
        pi_prev = tau + 0.5 * (pi_prev - tau) + 0.02 * g_prev + 0.16 * z[m, 2]
        u_prev = max(3.2, u_prev - 0.12 * (g_prev - 0.3) + 0.03 * (4.6 - u_prev) + 0.06 * z[m, 3])
        g[m], recession[m], trend[m], cpi_mom[m], unrate[m] = g_prev, rec, tau, pi_prev, u_prev
        payroll_chg[m] = 110.0 + 170.0 * g_prev + 45.0 * z[m, 4]
    pce_mom = 0.85 * cpi_mom + 0.04 * z[:, 5]
    retail_mom = 0.35 + 0.55 * g + 0.6 * z[:, 6]
    cpi = 190.7 * np.cumprod(1 + cpi_mom / 100)
    pcepi = 87.0 * np.cumprod(1 + pce_mom / 100)
    payems = 132_450.0 + np.cumsum(payroll_chg)
    rsafs = 330_000.0 * np.cumprod(1 + retail_mom / 100)
    unrate = np.round(unrate, 1)
    yoy = np.full(n_m, 2.4)
    yoy[12:] = 100 * (cpi[12:] / cpi[:-12] - 1)

    # Quarters: real growth, first/second/third estimates, nominal level.
    n_q = (n_m + 2) // 3
    zq = stream(seed, "macro", "quarterly").standard_normal((n_q, 4))
    q_of_m = np.arange(n_m) // 3
    g_q = np.bincount(q_of_m, weights=g, minlength=n_q) / np.maximum(
        np.bincount(q_of_m, minlength=n_q), 1
    )
    infl_q = 4 * np.bincount(q_of_m, weights=pce_mom, minlength=n_q)
    growth_final = 2.0 + 1.8 * g_q + 1.0 * zq[:, 0]
    estimates = np.stack(
        [growth_final + 0.6 * zq[:, 1], growth_final + 0.3 * zq[:, 2], growth_final], axis=1
    )
    gdp_final = 12_800.0 * np.cumprod(1 + (growth_final + infl_q) / 400)
    gdp_prev = np.concatenate([[12_800.0], gdp_final[:-1]])
    gdp_est = gdp_prev[:, None] * (1 + (estimates + infl_q[:, None]) / 400)
    gdp_est[:, 2] = gdp_final

    # FOMC: Taylor-like rule, quarter-point steps, occasional surprises vs consensus.
    years = range(start.year, end.year + 1)
    meet_days = _fomc_dates(years)
    meet_days = meet_days[
        (meet_days >= np.datetime64(start, "D")) & (meet_days <= np.datetime64(end, "D"))
    ]
    zf = stream(seed, "macro", "fomc").random((len(years) * 8, 2))
    meet_month = (meet_days.astype("datetime64[M]") - months[0]).astype(int)
    target = 2.25
    fomc_prev, fomc_new, fomc_cons = [], [], []
    for j, m in enumerate(meet_month):
        info = max(m - 1, 0)
        desired = max(
            0.25,
            2.5
            + 1.5 * (yoy[info] - 2.0)
            - 1.2 * (unrate[info] - 4.8)
            + (-1.5 if recession[info] else 0),
        )
        gap = desired - target
        step = (
            0.0
            if abs(gap) < 0.3
            else np.sign(gap) * (0.25 if abs(gap) < 1.5 else 0.5 if abs(gap) < 2.5 else 0.75)
        )
        new = min(max(0.25, target + step), 12.0)
        cons = new
        if zf[j, 0] < 0.12:
            cons = target if new != target else target + (0.25 if zf[j, 1] < 0.5 else -0.25)
        fomc_prev.append(target)
        fomc_new.append(new)
        fomc_cons.append(max(0.25, cons))
        target = new
    fomc_new_a = np.array(fomc_new)
    meet_idx = _session_on_or_after(days, meet_days)
    # Funds-rate upper bound per session: the latest decision in force (start value before).
    decided = np.searchsorted(meet_idx, np.arange(len(days)), side="right") - 1
    ff_upper = np.where(decided >= 0, fomc_new_a[np.maximum(decided, 0)], 2.25)

    # 10-year yield per session, mean-reverting to the funds rate plus a term premium; its
    # GARCH innovations are the bond factor that fixed-income ETFs load on.
    session_month = (days.astype("datetime64[M]") - months[0]).astype(int)
    eta = _BOND_GARCH.innovations(stream(seed, "macro", "dgs10"), len(days))
    e, bond_h = garch_path(eta, _BOND_GARCH.alpha, _BOND_GARCH.beta)
    anchor = ff_upper + 1.3 + 0.4 * (yoy[session_month] - 2.0)
    dgs10 = np.empty(len(days))
    y = 4.22
    for t in range(len(days)):
        y = max(0.4, y + (anchor[t] - y) / 250.0 + BOND_DAILY_SD * e[t, 0])
        dgs10[t] = y
    dy = np.diff(np.concatenate([[4.22], dgs10]))
    bond_factor = -dy / BOND_DAILY_SD

    vintages = _vintages(
        seed,
        days,
        months,
        cpi,
        pcepi,
        payems,
        unrate,
        rsafs,
        gdp_est,
        ff_upper,
        session_month,
        dgs10,
    )
    events, shock_idx, shock_val = _calendar(
        seed,
        days,
        months,
        vintages,
        unrate,
        estimates,
        meet_days,
        meet_idx,
        fomc_prev,
        fomc_new,
        fomc_cons,
    )
    market_shock = np.bincount(shock_idx, weights=shock_val, minlength=len(days) + 1)[: len(days)]
    return Economy(
        days=days,
        market_shock=market_shock,
        cycle=g[session_month],
        bond_factor=bond_factor,
        bond_variance=bond_h[:, 0],
        events=events,
        vintages=vintages,
    )


def _release_days(
    days: np.ndarray, months: np.ndarray, day_of_month: int, jitter: np.ndarray, lag: int = 1
) -> np.ndarray:
    """Release session for each reference month: first session on/after day+jitter of month+lag."""
    when = _month_start(months + lag) + (day_of_month - 1 + jitter).astype("timedelta64[D]")
    idx = _session_on_or_after(days, when)
    return idx


def _vintage_rows(
    series: str, obs: np.ndarray, releases: list[tuple[np.ndarray, np.ndarray]], days: np.ndarray
) -> pd.DataFrame:
    """Rows for one series: releases is [(session index, value)] per vintage, in order."""
    frames = []
    n = len(obs)
    for k, (idx, value) in enumerate(releases):
        nxt = releases[k + 1][0] if k + 1 < len(releases) else np.full(n, -1)
        frames.append(pd.DataFrame({"obs": np.arange(n), "rs": idx, "re_idx": nxt, "value": value}))
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["rs"] < len(days)]
    rs = days[rows["rs"].to_numpy()]
    re_idx = rows["re_idx"].to_numpy()
    has_next = (re_idx >= 0) & (re_idx < len(days))
    open_end = np.datetime64(OPEN_END, "D")
    # A revision beyond the horizon is not known yet: the value stays current.
    re = np.where(
        has_next, days[np.clip(re_idx, 0, len(days) - 1)] - np.timedelta64(1, "D"), open_end
    )
    out = pd.DataFrame(
        {
            "series_id": series,
            "date": obs[rows["obs"].to_numpy()],
            "realtime_start": rs,
            "realtime_end": re,
            "value": rows["value"].to_numpy(),
        }
    )
    return out


def _vintages(
    seed, days, months, cpi, pcepi, payems, unrate, rsafs, gdp_est, ff_upper, session_month, dgs10
) -> pd.DataFrame:
    n_m = len(months)
    jit = stream(seed, "macro", "release-jitter").integers(0, 4, size=(n_m, 6))
    err = stream(seed, "macro", "revisions").standard_normal((n_m, 6))
    obs_m = _month_start(months)
    cpi_rel = _release_days(days, months, 10, jit[:, 0])
    retail_rel = _release_days(days, months, 14, jit[:, 1])
    pce_rel = _release_days(days, months, 26, jit[:, 2])
    nfp_rel = _session_on_or_after(days, _first_friday(months + 1))
    ff_rel = _session_on_or_after(days, _month_start(months + 1))

    def later(idx: np.ndarray, k: int) -> np.ndarray:
        # the same release k months later (vintage revisions ride on later releases)
        return np.concatenate([idx[k:], np.full(k, len(days) + 1)])

    payems_v = [
        np.round(payems + 60 * err[:, 0]),
        np.round(payems + 25 * err[:, 1]),
        np.round(payems),
    ]
    rsafs_v = [np.round(rsafs * (1 + 0.003 * err[:, 2])), np.round(rsafs)]
    pce_v = [np.round(pcepi + 0.05 * err[:, 3], 3), np.round(pcepi, 3)]
    # Monthly average effective funds rate from the daily upper bound.
    ff_month = np.bincount(session_month, weights=ff_upper - 0.17, minlength=n_m) / np.maximum(
        np.bincount(session_month, minlength=n_m), 1
    )
    n_q = gdp_est.shape[0]
    quarters = months[::3][:n_q]
    jq = stream(seed, "macro", "gdp-jitter").integers(0, 4, size=(n_q, 3))
    gdp_rel = [_release_days(days, quarters, 26, jq[:, k], lag=3 + k) for k in range(3)]
    nd = len(days)
    frames = [
        _vintage_rows("CPIAUCSL", obs_m, [(cpi_rel, np.round(cpi, 3))], days),
        _vintage_rows("UNRATE", obs_m, [(nfp_rel, unrate)], days),
        _vintage_rows(
            "PAYEMS",
            obs_m,
            [
                (nfp_rel, payems_v[0]),
                (later(nfp_rel, 1), payems_v[1]),
                (later(nfp_rel, 2), payems_v[2]),
            ],
            days,
        ),
        _vintage_rows(
            "RSAFS", obs_m, [(retail_rel, rsafs_v[0]), (later(retail_rel, 1), rsafs_v[1])], days
        ),
        _vintage_rows("PCEPI", obs_m, [(pce_rel, pce_v[0]), (later(pce_rel, 1), pce_v[1])], days),
        _vintage_rows("FEDFUNDS", obs_m, [(ff_rel, np.round(ff_month, 2))], days),
        _vintage_rows(
            "GDP",
            _month_start(quarters),
            [(gdp_rel[k], np.round(gdp_est[:, k], 3)) for k in range(3)],
            days,
        ),
        # DGS10 for a session is published the next session and never revised.
        _vintage_rows("DGS10", days, [(np.arange(1, nd + 1), np.round(dgs10, 2))], days),
    ]
    out = pd.concat(frames, ignore_index=True)
    # A later vintage can land on the same session as an earlier one only if releases collide;
    # keep the last so (series_id, date, realtime_start) stays unique.
    out = out.drop_duplicates(["series_id", "date", "realtime_start"], keep="last")
    return out.sort_values(["series_id", "date", "realtime_start"], kind="stable").reset_index(
        drop=True
    )


def _as_known(vint: pd.DataFrame, series: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per observation of a series: its date, first-release session and first value."""
    v = vint[vint["series_id"] == series]
    first = v.groupby("date", sort=True).first()
    obs = first.index.to_numpy().astype("datetime64[D]")
    return (
        obs,
        first["realtime_start"].to_numpy().astype("datetime64[D]"),
        first["value"].to_numpy(),
    )


def _value_known_at(
    vint: pd.DataFrame, series: str, obs: np.ndarray, when: np.ndarray
) -> np.ndarray:
    """Value of observation `obs` as known on `when` (NaN if not yet released): point in time."""
    v = vint.loc[vint["series_id"] == series, ["date", "realtime_start", "value"]]
    right = pd.DataFrame(
        {
            "date": v["date"].to_numpy().astype("datetime64[ns]"),
            "when": v["realtime_start"].to_numpy().astype("datetime64[ns]"),
            "value": v["value"].to_numpy(),
        }
    ).sort_values("when", kind="stable")
    left = pd.DataFrame(
        {
            "date": np.asarray(obs).astype("datetime64[ns]"),
            "when": np.asarray(when).astype("datetime64[ns]"),
            "i": np.arange(len(obs)),
        }
    ).sort_values("when", kind="stable")
    merged = pd.merge_asof(left, right, on="when", by="date", direction="backward")
    out = np.full(len(obs), np.nan)
    out[merged["i"].to_numpy()] = merged["value"].to_numpy()
    return out


def _calendar(
    seed,
    days,
    months,
    vint,
    unrate,
    gdp_estimates,
    meet_days,
    meet_idx,
    fomc_prev,
    fomc_new,
    fomc_cons,
):
    """Economic calendar rows plus (session index, market shock) for each release."""
    n_m = len(months)
    noise = stream(seed, "macro", "consensus").standard_normal((n_m, 8))
    rows: list[pd.DataFrame] = []
    shock_idx: list[np.ndarray] = []
    shock_val: list[np.ndarray] = []
    period_m = np.datetime_as_string(months, unit="M")

    def add(code, rel_days, period, actual, consensus, previous, surprise_sd):
        name, unit, hour, impact = EVENT_META[code]
        ok = ~np.isnat(rel_days) & ~np.isnan(actual)
        rel_days, period = rel_days[ok], period[ok]
        actual, consensus, previous = actual[ok], consensus[ok], previous[ok]
        minute = 30 if hour == 8 else 0
        rows.append(
            pd.DataFrame(
                {
                    "event_code": code,
                    "name": name,
                    "country": "US",
                    "release_time": local_to_utc(rel_days, hour, minute),
                    "release_date": rel_days,
                    "period": period,
                    "actual": actual,
                    "consensus": consensus,
                    "previous": previous,
                    "unit": unit,
                }
            )
        )
        su = np.clip(np.nan_to_num((actual - consensus) / surprise_sd), -3, 3)
        shock_idx.append(np.searchsorted(days, rel_days))
        shock_val.append(impact * su)

    def mom(series: str, scale_pct: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs, rel, first = _as_known(vint, series)
        prev_obs = (obs.astype("datetime64[M]") - 1).astype("datetime64[D]")
        prev_known = _value_known_at(vint, series, prev_obs, rel)
        change = 100 * (first / prev_known - 1) if scale_pct else first - prev_known
        return obs, rel, change

    # CPI, retail sales, PCE: month-over-month % from first release vs previous as known.
    for code, series, sd, ndig, col in (
        ("CPI", "CPIAUCSL", 0.1, 1, 0),
        ("RETAIL_SALES", "RSAFS", 0.4, 1, 1),
        ("PCE", "PCEPI", 0.1, 1, 2),
    ):
        obs, rel, change = mom(series, True)
        actual = np.round(change, ndig) + 0.0  # no negative zero
        k = (obs.astype("datetime64[M]") - months[0]).astype(int)
        consensus = np.round(change + sd * 0.8 * noise[k, col], ndig) + 0.0
        previous = np.concatenate([[np.nan], actual[:-1]])
        add(code, rel, period_m[k], actual, consensus, previous, sd)

    # Payrolls: change of first release vs previous month as known then; "previous" is the
    # previous month's change as revised on this release day.
    obs, rel, change = mom("PAYEMS", False)
    k = (obs.astype("datetime64[M]") - months[0]).astype(int)
    actual = np.round(change)
    consensus = np.round((change + 75 * noise[k, 3]) / 5) * 5
    prev_obs = (obs.astype("datetime64[M]") - 1).astype("datetime64[D]")
    prev2_obs = (obs.astype("datetime64[M]") - 2).astype("datetime64[D]")
    previous = np.round(
        _value_known_at(vint, "PAYEMS", prev_obs, rel)
        - _value_known_at(vint, "PAYEMS", prev2_obs, rel)
    )
    add("NFP", rel, period_m[k], actual, consensus, previous, 75.0)

    obs, rel, first = _as_known(vint, "UNRATE")
    k = (obs.astype("datetime64[M]") - months[0]).astype(int)
    previous = np.concatenate([[np.nan], first[:-1]])
    consensus = np.round(
        np.where(np.isnan(previous), first, previous) + 0.1 * np.round(noise[k, 4]), 1
    )
    add("UNEMPLOYMENT", rel, period_m[k], first, consensus, previous, 0.1)

    # GDP advance estimate (annualized real growth).
    g_obs, g_rel, _ = _as_known(vint, "GDP")
    q = np.arange(len(g_obs))
    adv = np.round(gdp_estimates[q, 0], 1)
    nq = stream(seed, "macro", "gdp-consensus").standard_normal(gdp_estimates.shape[0])
    consensus = np.round(gdp_estimates[q, 0] + 0.5 * nq[q], 1)
    previous = np.concatenate([[np.nan], np.round(gdp_estimates[q[:-1], 2], 1)])
    qs = pd.PeriodIndex(pd.DatetimeIndex(g_obs), freq="Q").astype(str).to_numpy()
    add("GDP", g_rel, qs, adv, consensus, previous, 0.5)

    # FOMC decisions.
    ok = meet_idx < len(days)
    rel = np.where(ok, days[np.minimum(meet_idx, len(days) - 1)], np.datetime64("NaT"))
    per = np.datetime_as_string(meet_days.astype("datetime64[M]"), unit="M")
    add("FOMC", rel, per, np.array(fomc_new), np.array(fomc_cons), np.array(fomc_prev), 0.25)

    events = pd.concat(rows, ignore_index=True)
    events = events.drop_duplicates(["event_code", "release_date"], keep="first")
    events = events.sort_values(["release_time", "event_code"], kind="stable").reset_index(
        drop=True
    )
    return events, np.concatenate(shock_idx), np.concatenate(shock_val)


def economic_events_frame(econ: Economy, start: dt.date, end: dt.date) -> pd.DataFrame:
    """events.economic_events rows released in start..end."""
    ev = econ.events
    d = ev["release_date"].to_numpy()
    sel = ev[(d >= np.datetime64(start, "D")) & (d <= np.datetime64(end, "D"))]
    # the sample's consensus is its simulated survey, not the expectation model's
    sel = sel.assign(release_date=as_dates(sel["release_date"].to_numpy()), consensus_source=None)
    return finish(sel, ECONOMIC_EVENTS)


def macro_frame(econ: Economy, series_ids: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
    """macro.observations rows whose realtime_start is in start..end."""
    v = econ.vintages
    rs = v["realtime_start"].to_numpy()
    mask = (
        v["series_id"].isin(series_ids).to_numpy()
        & (rs >= np.datetime64(start, "D"))
        & (rs <= np.datetime64(end, "D"))
    )
    sel = v[mask]
    sel = sel.assign(
        date=as_dates(sel["date"].to_numpy()),
        realtime_start=as_dates(sel["realtime_start"].to_numpy()),
        realtime_end=as_dates(sel["realtime_end"].to_numpy()),
    )
    return finish(sel, MACRO_OBSERVATIONS)
