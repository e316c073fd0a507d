"""Ingestion: which source feeds which raw table, and one function that loads a range.

The raw Dagster assets call `ingest` for their partition range (a range of years, in one
call per feed). `bulk_load` calls the same function for every feed at once: tests and
benchmarks use it to seed a throwaway warehouse without a Dagster instance; the platform
itself loads history only through the raw assets, so every row belongs to a partition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from quant_assets.sources.base import Source
from quant_assets.sources.select import Domain, macro_series
from quant_assets.universe import Universe
from quant_assets.warehouse import Warehouse
from quant_assets.warehouse.loading import LoadResult, load_frame

Fetch = Callable[[Source, Universe, dt.date, dt.date], pd.DataFrame]


def listed_symbols(universe: Universe) -> list[str]:
    return [i.symbol for i in universe.instruments if i.asset_class != "crypto"]


def crypto_symbols(universe: Universe) -> list[str]:
    return [i.symbol for i in universe.instruments if i.asset_class == "crypto"]


@dataclass(frozen=True)
class RawSpec:
    """One raw feed: a domain of a source loaded into a table, over some symbols."""

    name: str  # the Dagster asset key as "schema.name"
    table: str
    domain: Domain
    fetch: Fetch
    calendar: str  # "weekday" (listed markets) or "daily"
    description: str
    symbols: Callable[[Universe], list[str]] | None = None


RAW_SPECS: tuple[RawSpec, ...] = (
    RawSpec(
        "market_data.ohlcv_daily",
        "market_data.ohlcv_daily",
        "ohlcv_listed",
        lambda src, u, s, e: src.ohlcv(listed_symbols(u), s, e),
        "weekday",
        "Daily OHLCV bars of listed ETFs and stocks (unadjusted), per NYSE weekday.",
        listed_symbols,
    ),
    RawSpec(
        "events.security_events",
        "events.security_events",
        "security_events",
        lambda src, u, s, e: src.security_events(listed_symbols(u), s, e),
        "weekday",
        "Earnings, dividends and splits of listed instruments.",
        listed_symbols,
    ),
    RawSpec(
        "market_data.crypto_ohlcv_daily",
        "market_data.ohlcv_daily",
        "ohlcv_crypto",
        lambda src, u, s, e: src.ohlcv(crypto_symbols(u), s, e),
        "daily",
        "Daily OHLCV bars of crypto assets (UTC days), loaded into market_data.ohlcv_daily.",
        crypto_symbols,
    ),
    RawSpec(
        "events.economic_events",
        "events.economic_events",
        "economic_events",
        lambda src, u, s, e: src.economic_events(s, e),
        "daily",
        "Economic calendar releases with actual, consensus and previous.",
    ),
    RawSpec(
        "events.geopolitical_events",
        "events.geopolitical_events",
        "geopolitical_events",
        lambda src, u, s, e: src.geopolitical_events(s, e),
        "daily",
        "Geopolitical events with category, severity and tone.",
    ),
    RawSpec(
        "macro.observations",
        "macro.observations",
        "macro",
        lambda src, u, s, e: src.macro_observations(macro_series(src), s, e),
        "daily",
        "Macro series observations, every vintage (point-in-time).",
    ),
    RawSpec(
        "news.articles",
        "news.articles",
        "news",
        lambda src, u, s, e: src.news(u.symbols, s, e),
        "daily",
        "News articles tagged with universe symbols.",
    ),
)


def ingest(
    wh: Warehouse,
    spec: RawSpec,
    source: Source,
    universe: Universe,
    start: dt.date,
    end: dt.date,
    *,
    partition_key: str | None = None,
) -> LoadResult:
    """Fetch `spec`'s domain for start..end in one call and replace that slice of its table."""
    frame = spec.fetch(source, universe, start, end)
    # The files source accounts for every file it read (loaded, quarantined, skipped).
    take_report = getattr(source, "take_report", None)
    report = take_report() if callable(take_report) else None
    # A vendor chain's rows carry each vendor's own name: its slice covers all of them.
    where: dict[str, object] = {"source": list(getattr(source, "names", [source.name]))}
    if spec.symbols is not None:
        where["symbol"] = spec.symbols(universe)
    return load_frame(
        wh,
        spec.table,
        frame,
        source=source.name,
        start=start,
        end=end,
        where=where,
        partition_key=partition_key or f"{start.isoformat()}..{end.isoformat()}",
        refused=report.rejects if report is not None else None,
        files=report.metadata() if report is not None else None,
    )


def score_news(wh: Warehouse, start: dt.date, end: dt.date) -> tuple[LoadResult, LoadResult]:
    """Score stored articles of start..end, then aggregate them per symbol and day."""
    from quant_assets.sources.sentiment import daily_sentiment, score_articles

    articles = wh.read_table("news.articles", start=start, end=end)
    scored = score_articles(articles, channel="news")
    label = f"{start.isoformat()}..{end.isoformat()}"
    # Scores inherit each article's source, so the slice is replaced across sources at once.
    sources = ",".join(sorted(scored["source"].unique())) if len(scored) else "none"
    per_article = load_frame(
        wh,
        "news.article_sentiment",
        scored,
        source=sources,
        start=start,
        end=end,
        partition_key=label,
    )
    daily = daily_sentiment(scored)
    per_day = load_frame(
        wh, "news.sentiment_daily", daily, source=sources, start=start, end=end, partition_key=label
    )
    return per_article, per_day


def bulk_label(spec_name: str, start: dt.date, end: dt.date) -> str:
    return f"bulk:{spec_name}:{start.isoformat()}..{end.isoformat()}"


def bulk_loaded_through(wh: Warehouse, spec_name: str) -> dt.date | None:
    """The last day a bulk (non-Dagster) load of this feed covered, from ops.ingestion_log."""
    # A files load that found no rows does not count as done: once the user fixes the
    # mapping or adds the files, the next run loads the history instead of skipping it.
    frame = wh.query(
        "select partition_key from ops.ingestion_log where partition_key like ? "
        "and (rows_loaded > 0 or source is null or source <> ?)",
        [f"bulk:{spec_name}:%", "files"],
    )
    if frame.empty:
        return None
    return max(dt.date.fromisoformat(key.rsplit("..", 1)[1]) for key in frame["partition_key"])


def bulk_load(
    wh: Warehouse,
    source_of: Callable[[Domain], Source],
    universe: Universe,
    start: dt.date,
    end: dt.date,
) -> list[tuple[str, LoadResult]]:
    """Load every raw feed for start..end in one call each (history seeding and catch-up)."""
    results = []
    news_first: dt.date | None = None
    for spec in RAW_SPECS:
        done = bulk_loaded_through(wh, spec.name)
        first = start if done is None else max(start, done + dt.timedelta(days=1))
        if first > end:
            continue
        result = ingest(
            wh,
            spec,
            source_of(spec.domain),
            universe,
            first,
            end,
            partition_key=bulk_label(spec.name, first, end),
        )
        results.append((spec.name, result))
        if spec.domain == "news":
            news_first = first
    if news_first is not None:
        articles, daily = score_news(wh, news_first, end)
        results += [("news.article_sentiment", articles), ("news.sentiment_daily", daily)]
    return results


# Calendar days of bars read before a window so every indicator is past its warm-up.
INDICATOR_WARMUP_DAYS = 200


def load_indicators(
    wh: Warehouse, start: dt.date, end: dt.date, *, partition_key: str | None = None
) -> LoadResult:
    """Compute TA-Lib indicators on point-in-time total-return bars and replace start..end."""
    from quant_assets.strategy.indicators import compute_indicators, rescale_to_total_return
    from quant_assets.warehouse.derived_reads import total_return_bars

    bars = total_return_bars(wh, start - dt.timedelta(days=INDICATOR_WARMUP_DAYS), end)
    indicators = compute_indicators(rescale_to_total_return(bars))
    dates = pd.to_datetime(indicators["date"])
    window = indicators[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
    return load_frame(
        wh,
        "derived.technical_indicators",
        window,
        source="derived",
        start=start,
        end=end,
        partition_key=partition_key or f"{start.isoformat()}..{end.isoformat()}",
    )
