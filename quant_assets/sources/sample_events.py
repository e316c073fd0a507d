"""Sample geopolitical events (GDELT-like) and the market shocks the severe ones cause.

Events arrive as a Poisson stream over calendar days. Severity is skewed (most events are
minor); hostile categories with severity >= 6 push the market factor down on the next
NYSE session, and the GARCH recursion then carries the raised volatility forward.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from quant_assets.schemas.tables import GEOPOLITICAL_EVENTS
from quant_assets.sources.sample_common import as_dates, finish, stream, trading_days

CATEGORIES = ("conflict", "election", "sanctions", "disaster", "trade", "other")
_CATEGORY_P = (0.30, 0.15, 0.15, 0.15, 0.15, 0.10)
_HOSTILE = {"conflict", "sanctions", "disaster", "trade"}
_COUNTRIES = (
    "Ukraine", "Russia", "China", "Taiwan", "Iran", "Israel", "Syria", "North Korea", "India",
    "Pakistan", "Turkey", "Brazil", "Mexico", "Venezuela", "Nigeria", "Ethiopia", "Japan",
    "South Korea", "Germany", "France", "United Kingdom", "Saudi Arabia", "Egypt", "Indonesia",
    "Philippines", "Argentina",
)  # fmt: skip
_TITLES = {
    "conflict": (
        "Armed clashes escalate along {c} border",
        "Missile strikes reported in {c} as conflict widens",
        "Military buildup near {c} raises fears of wider war",
        "Ceasefire talks collapse in {c}",
    ),
    "election": (
        "{c} votes in closely watched national election",
        "Opposition claims victory in {c} presidential runoff",
        "{c} coalition talks drag on after inconclusive vote",
    ),
    "sanctions": (
        "New sanctions target {c} energy exports",
        "Western allies expand sanctions on {c} banks",
        "{c} retaliates with export ban after sanctions",
    ),
    "disaster": (
        "Powerful earthquake strikes {c}, damage widespread",
        "Severe flooding displaces thousands in {c}",
        "Typhoon makes landfall in {c}, ports shut",
    ),
    "trade": (
        "Tariffs on {c} imports raised as trade dispute deepens",
        "{c} trade talks stall over market access",
        "Shipping disruption near {c} snarls supply chains",
    ),
    "other": (
        "{c} announces cabinet reshuffle",
        "Protests spread in {c} capital over cost of living",
        "{c} hosts regional security summit",
    ),
}
MAJOR_SEVERITY = 6.0  # hostile events at or above this move the market
_SHOCK_PER_POINT = -0.45  # market-factor sd per severity point above 5


_ARRIVALS_PER_DAY = 0.25
_SEVERITY_SHAPE, _SEVERITY_SCALE = 2.0, 1.3


def expected_shock_per_session(power: int = 1) -> float:
    """E[shock**power] per NYSE session. The market model adds the mean back as drift, so
    rare crashes do not silently lower every instrument's long-run return, and uses the
    second moment to keep the market factor's unconditional variance at one."""
    from scipy import integrate, stats

    dist = stats.gamma(_SEVERITY_SHAPE, scale=_SEVERITY_SCALE)
    per_event, _ = integrate.quad(
        lambda s: (_SHOCK_PER_POINT * (min(s, 10.0) - 5.0)) ** power * dist.pdf(s),
        MAJOR_SEVERITY,
        80.0,
    )
    p_hostile = sum(p for c, p in zip(CATEGORIES, _CATEGORY_P, strict=True) if c in _HOSTILE)
    return _ARRIVALS_PER_DAY * p_hostile * per_event * 365.25 / 252.0


@dataclass(frozen=True)
class Geo:
    events: pd.DataFrame  # table rows without source columns; dates as datetime64
    market_shock: np.ndarray  # per NYSE session, standardized units


@lru_cache(maxsize=4)
def geopolitics(seed: int, start: dt.date, end: dt.date) -> Geo:
    """Generate every event from `start` through `end` (cached per process)."""
    cal_days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    counts = stream(seed, "geo", "arrivals").poisson(_ARRIVALS_PER_DAY, size=len(cal_days))
    n = int(counts.sum())
    u = stream(seed, "geo", "attributes").random((n, 6))
    sev_draw = stream(seed, "geo", "severity").gamma(_SEVERITY_SHAPE, _SEVERITY_SCALE, size=n)
    tone_noise = stream(seed, "geo", "tone").standard_normal(n)

    day = np.repeat(cal_days, counts)
    seq = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    category = np.array(CATEGORIES)[np.searchsorted(np.cumsum(_CATEGORY_P), u[:, 0] * 0.999999)]
    country = np.array(_COUNTRIES)[(u[:, 1] * len(_COUNTRIES)).astype(int)]
    severity = np.round(np.minimum(sev_draw, 10.0), 1)
    hostile = np.isin(category, list(_HOSTILE))
    tone = np.where(hostile, -(1.0 + 0.8 * severity) + 1.2 * tone_noise, 0.3 + 2.0 * tone_noise)
    tone = np.round(np.clip(tone, -10, 10), 2)
    seconds = (u[:, 2] * 86_400).astype(np.int64)
    event_time = pd.DatetimeIndex(
        day.astype("datetime64[ns]") + seconds.astype("timedelta64[s]")
    ).tz_localize("UTC")
    titles = [
        _TITLES[cat][int(x * len(_TITLES[cat]))].format(c=c)
        for cat, c, x in zip(category, country, u[:, 3], strict=True)
    ]
    day_str = np.datetime_as_string(day, unit="D")
    event_id = np.char.add(
        np.char.add("sample-geo-", np.char.replace(day_str, "-", "")),
        np.char.add("-", np.char.zfill(seq.astype(str), 2)),
    )
    events = pd.DataFrame(
        {
            "event_id": event_id,
            "event_time": event_time,
            "event_date": day,
            "country": country,
            "category": category,
            "title": titles,
            "severity": severity,
            "tone": tone,
            "url": np.char.add("https://geo.sample.invalid/events/", event_id),
        }
    )

    # The shock lands on the first NYSE session that opens after the event (after 20:00 UTC
    # the US session is over).
    sessions = trading_days("NYSE", start, end)
    late = seconds >= 20 * 3600
    idx = np.searchsorted(sessions, day + late.astype("timedelta64[D]"))
    major = hostile & (severity >= MAJOR_SEVERITY) & (idx < len(sessions))
    shock = np.bincount(
        idx[major], weights=_SHOCK_PER_POINT * (severity[major] - 5.0), minlength=len(sessions)
    )
    return Geo(events=events, market_shock=shock[: len(sessions)])


def geopolitical_frame(geo: Geo, start: dt.date, end: dt.date) -> pd.DataFrame:
    """events.geopolitical_events rows dated start..end."""
    d = geo.events["event_date"].to_numpy()
    sel = geo.events[(d >= np.datetime64(start, "D")) & (d <= np.datetime64(end, "D"))]
    sel = sel.assign(event_date=as_dates(sel["event_date"].to_numpy()))
    return finish(sel, GEOPOLITICAL_EVENTS)
