"""Sample news headlines whose tone carries a modest signal about the next session's return.

Why the signal exists: the ML layer must have something real to find in sample data. A
"predictive" article about symbol i published on session t picks its tone from a latent
L = rho * z_i,t+1 + sqrt(1 - rho^2) * noise, where z is the standardised return of the
next session; rho is chosen so that a real scorer (VADER, a finance lexicon) reading the
headline reaches an information coefficient of roughly 0.05-0.15. Earnings articles follow
the EPS surprise (which drives the next-day jump), sector articles follow the sector
factor's next move, and "reaction" articles describe today's large moves (no forecast value).
Headlines use plain finance vocabulary that both VADER and Loughran-McDonald-style lexicons
score: "beats estimates", "strong growth", "downgrade", "lawsuit", "plunges", "weak demand".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from quant_assets.calendars import CRYPTO_CALENDAR
from quant_assets.schemas.tables import NEWS_ARTICLES
from quant_assets.sources.sample_common import as_dates, finish, stream
from quant_assets.sources.sample_market import InstrumentSpec, SymbolPath, factors, market

RHO = 0.18  # correlation of the tone latent with the next session's standardised return
SECTOR_RATE = 0.06  # sector round-up articles per sector per session
REACTION_Z = 2.5  # |z| above which a "shares surge/plunge" story is written
_THRESHOLDS = np.array([-1.0, -0.35, 0.35, 1.0])  # latent -> tone level 0 (very negative) .. 4
PUBLISHERS = (
    "Sample Wire",
    "Synthetic Markets Daily",
    "Offline Finance News",
    "Example Street Journal",
    "Placeholder Business Review",
)

_COMPANY = (
    (
        "{name} plunges after missing estimates and cutting guidance",
        "Regulators open fraud probe into {name}, shares tumble",
        "{name} slumps as losses widen and outlook disappoints",
        "{name} crashes after weak forecast sparks panic selling",
        "{name} hit by crisis as major customer cancels orders",
    ),
    (
        "{name} falls after analyst downgrade on weak demand",
        "{name} faces lawsuit over product claims",
        "{name} warns of weaker margins amid rising cost pressure",
        "{name} shares drop on disappointing trading update",
        "Worries grow over slowing sales at {name}",
    ),
    (
        "{name} to present at industry conference next week",
        "{name} schedules annual shareholder meeting",
        "{name} files quarterly report with regulators",
        "{name} names new chief financial officer",
        "What to watch for {name} this week",
    ),
    (
        "{name} gains as demand outlook improves",
        "{name} shares rise on positive analyst note",
        "{name} expands partnership to support growth",
        "{name} outperforms peers on solid trading update",
        "Investors welcome {name} plan to boost buybacks",
    ),
    (
        "{name} soars after record profit and strong growth outlook",
        "{name} beats estimates, raises guidance on strong demand",
        "Analysts upgrade {name} to buy, citing excellent growth prospects",
        "{name} wins major contract, shares surge on optimism",
        "{name} rallies as record sales boost profit outlook",
    ),
)
_FUND = (
    (
        "{name} suffers heavy outflows as panic selling spreads",
        "{name} plunges as recession fears hit holdings",
        "{name} slumps to worst week in a year amid crisis worries",
    ),
    (
        "{name} slips as investors worry about weaker earnings",
        "{name} sees outflows on negative sentiment",
        "{name} falls as rising rates pressure holdings",
    ),
    (
        "{name} rebalances holdings at quarter end",
        "{name} announces quarterly distribution schedule",
        "{name} trading volume steady ahead of data",
    ),
    (
        "{name} gains as outlook for holdings improves",
        "Investors welcome {name} low fees, inflows rise",
        "{name} edges higher on positive earnings season",
    ),
    (
        "{name} rallies as strong earnings boost optimism",
        "{name} sees record inflows on excellent returns",
        "{name} soars as strong growth lifts holdings",
    ),
)
_COIN = (
    (
        "{name} plunges after exchange hack sparks panic",
        "{name} crashes as fraud charges hit major lender",
        "{name} slumps as regulators threaten crackdown",
    ),
    (
        "{name} falls as regulators warn on risks",
        "{name} slips amid weak demand and outflows",
        "Worries over network outage weigh on {name}",
    ),
    (
        "{name} developers schedule network upgrade",
        "{name} trading volume steady ahead of weekend",
        "{name} foundation publishes quarterly report",
    ),
    (
        "{name} gains as network activity improves",
        "{name} edges higher on positive adoption news",
        "{name} rises as investors welcome new listing",
    ),
    (
        "{name} soars to record as strong inflows boost optimism",
        "{name} rallies after approval of new fund, a major win",
        "{name} surges on excellent adoption growth",
    ),
)
_SECTOR = (
    (
        "{label} plunge as recession fears spark panic",
        "{label} slump as weak outlook hits the group",
    ),
    ("{label} slip on worries about weaker demand", "{label} fall as analysts cut estimates"),
    ("{label} trade mixed ahead of data", "{label} hold steady as investors await earnings"),
    ("{label} gain as outlook improves", "{label} rise on positive analyst notes"),
    ("{label} rally as strong earnings boost optimism", "{label} soar on excellent growth data"),
)
_SECTOR_LABEL = {
    "technology": "Tech stocks", "communication": "Media and telecom stocks",
    "consumer_discretionary": "Retail stocks", "consumer_staples": "Consumer staples",
    "health_care": "Health care stocks", "financials": "Bank stocks", "industrials": "Industrial stocks",
    "energy": "Energy shares", "utilities": "Utility stocks", "real_estate": "REITs",
    "materials": "Materials stocks", "crypto": "Crypto tokens", "commodities": "Commodity funds",
    "fixed_income": "Bond funds",
}  # fmt: skip


def _at(hours: float) -> int:
    """Nanoseconds after midnight UTC, whole seconds (vendors stamp to the second)."""
    return int(hours * 3600) * 1_000_000_000


def _money(x: float) -> str:
    return f"-${abs(x):.2f}" if x < 0 else f"${x:.2f}"


def _templates(path: SymbolPath) -> tuple[tuple[str, ...], ...]:
    ac = path.profile.spec.asset_class
    return _COIN if ac == "crypto" else _FUND if ac == "etf" else _COMPANY


def _level(latent: np.ndarray) -> np.ndarray:
    return np.searchsorted(_THRESHOLDS, latent)


def _symbol_articles(seed: int, path: SymbolPath) -> list[tuple]:
    """(published_at ns, title, symbols, kind, t) for one symbol's own stories."""
    spec = path.profile.spec
    name = spec.name or spec.symbol
    n = len(path.days)
    if n < 2:
        return []
    u = stream(seed, "news", spec.symbol).random((n, 4))
    noise = stream(seed, "news-noise", spec.symbol).standard_normal(n)
    day_ns = path.days.astype("datetime64[ns]").astype(np.int64)
    templates = _templates(path)
    rows: list[tuple] = []

    predictive = np.flatnonzero(u[:-1, 0] < path.profile.news_rate)
    latent = RHO * path.zscore[predictive + 1] + np.sqrt(1 - RHO**2) * noise[predictive]
    for t, lvl in zip(predictive, _level(latent), strict=True):
        choices = templates[lvl]
        title = choices[int(u[t, 1] * len(choices))].format(name=name)
        when = day_ns[t] + _at(10 + 13.5 * u[t, 2])
        rows.append((when, title, spec.symbol, "story", int(t)))

    if path.earnings:
        for t, a, c in zip(
            path.earnings["idx"], path.earnings["actual"], path.earnings["consensus"], strict=True
        ):
            eps = f"EPS {_money(a)} vs {_money(c)} expected"
            if a > c:
                title = f"{name} beats estimates with strong results: {eps}"
            elif a < c:
                title = f"{name} misses estimates on weak results: {eps}"
            else:
                title = f"{name} reports results in line with estimates: {eps}"
            rows.append((day_ns[t] + _at(21.1), title, spec.symbol, "earnings", int(t)))

    big = np.flatnonzero(np.abs(path.zscore) > REACTION_Z)
    crypto = spec.calendar == CRYPTO_CALENDAR
    for t in big:
        pct = 100 * (np.exp(path.log_return[t]) - 1)
        if pct > 0:
            title = f"{name} surges {pct:.1f}% in strong rally"
        else:
            title = f"{name} plunges {abs(pct):.1f}% as fears trigger heavy selling"
        rows.append((day_ns[t] + _at(23.0 if crypto else 21.5), title, spec.symbol, "move", int(t)))
    return rows


def _sector_articles(
    seed: int, start: dt.date, end: dt.date, paths: dict[str, SymbolPath]
) -> list[tuple]:
    """Round-ups naming 2-3 members of a sector; tone follows the sector factor's next move."""
    members: dict[str, list[SymbolPath]] = {}
    for p in paths.values():
        if p.profile.spec.sector in _SECTOR_LABEL and p.profile.kind != "stable":
            members.setdefault(p.profile.spec.sector, []).append(p)
    sectors = tuple(sorted({p.profile.spec.sector for p in paths.values()}))
    facs = factors(seed, start, end, sectors)
    rows: list[tuple] = []
    for sector, group in sorted(members.items()):
        if len(group) < 2:
            continue
        days, e, h = facs[sector]
        n = len(days)
        u = stream(seed, "news-sector", sector).random((n, 5))
        noise = stream(seed, "news-sector-noise", sector).standard_normal(n)
        z_next = e[1:] / np.sqrt(np.maximum(h[1:], 1e-12))
        on = np.flatnonzero(u[:-1, 0] < SECTOR_RATE)
        latent = RHO * z_next[on] + np.sqrt(1 - RHO**2) * noise[on]
        day_ns = days.astype("datetime64[ns]").astype(np.int64)
        label = _SECTOR_LABEL[sector]
        for t, lvl in zip(on, _level(latent), strict=True):
            day = days[t]
            live = [p for p in group if p.days[0] <= day and (t + 1 < n) and p.days[-1] > day]
            if len(live) < 2:
                continue
            k = 2 + int(u[t, 1] < 0.5)
            order = np.argsort(stream(seed, "news-pick", sector, str(day)).random(len(live)))
            chosen = sorted(live[j].profile.spec.symbol for j in order[:k])
            choices = _SECTOR[lvl]
            title = choices[int(u[t, 2] * len(choices))].format(label=label)
            when = day_ns[t] + _at(11 + 10 * u[t, 3])
            rows.append((when, title, ",".join(chosen), "sector", int(t)))
    return rows


def _slug(title: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", title.lower())[:8])


@lru_cache(maxsize=4)
def news_world(
    seed: int, start: dt.date, end: dt.date, specs: tuple[InstrumentSpec, ...]
) -> pd.DataFrame:
    """Every article over the horizon, with an exploded (article row, symbol) helper column."""
    paths = market(seed, start, end, specs)
    rows: list[tuple] = []
    for sym in sorted(paths):
        rows.extend(_symbol_articles(seed, paths[sym]))
    rows.extend(_sector_articles(seed, start, end, paths))
    frame = pd.DataFrame(rows, columns=["ns", "title", "symbols", "kind", "t"])
    frame = frame.sort_values(["ns", "symbols", "kind", "title"], kind="stable").reset_index(
        drop=True
    )
    published = pd.to_datetime(frame["ns"].to_numpy(), utc=True)
    day = published.tz_localize(None).to_numpy().astype("datetime64[D]")
    day_str = np.datetime_as_string(day, unit="D")
    urls = [
        f"https://news.sample.invalid/{d.replace('-', '/')}/{_slug(title)}-{hashlib.sha1(f'{syms}|{kind}|{ns}|{title}'.encode()).hexdigest()[:10]}"
        for d, title, syms, kind, ns in zip(
            day_str, frame["title"], frame["symbols"], frame["kind"], frame["ns"], strict=True
        )
    ]
    ids = [hashlib.sha1(u.encode()).hexdigest() for u in urls]
    pick = np.array([int(i[:8], 16) % len(PUBLISHERS) for i in ids], dtype=int)
    return pd.DataFrame(
        {
            "article_id": ids,
            "published_at": published,
            "published_day": day,
            "title": frame["title"].to_numpy(),
            "description": "Synthetic headline from the offline sample generator; not real news.",
            "url": urls,
            "publisher": np.array(PUBLISHERS)[pick],
            "symbols": frame["symbols"].to_numpy(),
            "kind": frame["kind"].to_numpy(),
        }
    )


def news_frame(
    world: pd.DataFrame, symbols: set[str], start: dt.date, end: dt.date
) -> pd.DataFrame:
    """news.articles rows published start..end naming any of `symbols`."""
    d = world["published_day"].to_numpy()
    in_range = (d >= np.datetime64(start, "D")) & (d <= np.datetime64(end, "D"))
    sel = world[in_range]
    named = sel["symbols"].str.split(",").map(lambda xs: any(x in symbols for x in xs))
    sel = sel[named.to_numpy(dtype=bool)]
    sel = sel.assign(published_date=as_dates(sel["published_day"].to_numpy()))
    return finish(sel, NEWS_ARTICLES)
