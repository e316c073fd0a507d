"""Raw assets: each fetches one data domain for a range of years and loads one table.

Partitions are calendar years (quant_assets/defs/partitions.py); a run over a range of
years fetches it in one call (`BackfillPolicy.single_run()`). A window is cut at the last
complete day of the feed's calendar (or the run's `quant/through` tag), so the current
year is re-materialized as days land, each time replacing its year-to-date slice. Every
materialization records rows loaded and quarantined, the source, the date range and the
day it runs through, and announces the landed partition on the event bus. A bars feed
whose run loads no row at all fails instead of recording an empty range as loaded, unless
the source confirms it: every file of every requested symbol was refused with its reason
(the files source), and the materialization names those symbols and reasons.
"""

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from quant_assets.bus import PartitionLanded
from quant_assets.calendars import CRYPTO_CALENDAR, last_complete_day, sessions
from quant_assets.defs.partitions import HISTORY_START, history_partitions
from quant_assets.defs.resources import PublisherResource, SourcesResource, WarehouseResource
from quant_assets.ingest import RAW_SPECS, RawSpec, ingest, score_news
from quant_assets.sources.pools import fetch_pool
from quant_assets.universe import load_universe
from quant_assets.warehouse.loading import LoadResult

INSTRUMENTS_KEY = dg.AssetKey(["market_data", "instruments"])
INSTRUMENT_GROUPS_KEY = dg.AssetKey(["market_data", "instrument_groups"])
THROUGH_TAG = "quant/through"  # ISO day a run loads through; default: the last complete day
BAR_DOMAINS = {"ohlcv_listed", "ohlcv_crypto"}


def feed_calendar(spec: RawSpec) -> str:
    return "NYSE" if spec.calendar == "weekday" else CRYPTO_CALENDAR


def run_through(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, calendar: str
) -> dt.date:
    """The last day this run may load: its `quant/through` tag, capped at the last complete
    day of the feed's calendar (a day still trading is never loaded)."""
    complete = last_complete_day(calendar, dt.datetime.now(dt.UTC))  # never a partial day
    tag = context.run.tags.get(THROUGH_TAG)
    if tag:
        try:
            return min(dt.date.fromisoformat(tag), complete)
        except ValueError as exc:
            raise dg.Failure(f"run tag {THROUGH_TAG}: {tag!r} is not an ISO date") from exc
    return complete


def partition_dates(
    context: dg.AssetExecutionContext, calendar: str = CRYPTO_CALENDAR
) -> tuple[dt.date, dt.date]:
    """Inclusive first and last day of the run's partition range, cut at the first day of
    history (QUANT_SAMPLE_START, mid-year in the first partition) and at the run's through day."""
    window = context.partition_time_window
    last = (window.end - dt.timedelta(days=1)).date()
    return max(window.start.date(), HISTORY_START), min(last, run_through(context, calendar))


def range_label(context: dg.AssetExecutionContext) -> str:
    keys = context.partition_key_range
    return keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"


def load_metadata(result: LoadResult, source: str, start: dt.date, end: dt.date) -> dict:
    meta = {
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "source": source,
        "date_range": f"{start.isoformat()}..{end.isoformat()}",
        "batch_id": result.batch_id,
    }
    if result.files:  # the files source: every file loaded, quarantined or skipped, and why
        meta.update({k: v for k, v in result.files.items() if k.startswith("files_")})
        meta["files_attention"] = len(result.files["files_attention"])
        meta["files"] = dg.MetadataValue.md("\n".join(f"- {x}" for x in result.files["files"]))
        if result.files.get("symbols_refused"):  # requested symbols whose every file was refused
            meta["symbols_refused"] = dg.MetadataValue.json(result.files["symbols_refused"])
    return meta


BAR_KEYS = [dg.AssetKey(s.name.split(".")) for s in RAW_SPECS if s.domain in BAR_DOMAINS]


def refused_bars(materializations: Iterable[dg.AssetMaterialization]) -> dict[str, str]:
    """symbol -> why it has no bar, from bar feeds' materializations (`symbols_refused`)."""
    out: dict[str, str] = {}
    for mat in materializations:
        entry = mat.metadata.get("symbols_refused") if mat.asset_key in BAR_KEYS else None
        for symbol, why in ((entry.value if entry is not None else None) or {}).items():
            out.setdefault(str(symbol), str(why))
    return out


def no_bar_note(symbol: str, why: str) -> str:
    return f"no bars loaded for {symbol}, every file of it was refused: {why}"


def confirmed_empty(result: LoadResult, wanted: list[str]) -> dict[str, str] | None:
    """symbol -> reason when the source confirms it has no valid row for any of `wanted`
    (the files source refused every file of each, with its reason), else None.

    A silent empty answer (nothing refused, or a symbol with no file at all, which looks the
    same as a file name the mapping does not match) is not a confirmation."""
    refused = (result.files or {}).get("symbols_refused") or {}
    if not wanted or any(s not in refused for s in wanted):
        return None
    return {s: refused[s] for s in wanted}


def _build_raw_asset(spec: RawSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(spec.name.split("."))

    @dg.asset(
        key=key,
        group_name="raw",
        partitions_def=history_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[INSTRUMENTS_KEY],
        description=spec.description,
        kinds={"python", "duckdb"},
        pool=fetch_pool(spec.domain),  # one Dagster concurrency pool per vendor
    )
    def _raw(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        sources: SourcesResource,
        publisher: PublisherResource,
    ) -> dg.MaterializeResult:
        calendar = feed_calendar(spec)
        start, end = partition_dates(context, calendar)
        source = sources.for_domain(spec.domain)
        if start > end:  # the year has no complete day yet
            return dg.MaterializeResult(
                metadata={"rows_loaded": 0, "source": source.name, "through": end.isoformat(),
                          "note": f"nothing due: no complete day in {start}..{end}"}
            )  # fmt: skip
        universe = load_universe()
        with warehouse.session() as wh:
            result = ingest(
                wh, spec, source, universe, start, end, partition_key=range_label(context)
            )
        attention = (result.files or {}).get("files_attention", [])
        for line in attention:
            context.log.warning(f"{spec.name}: {line}")
        wanted = spec.symbols(universe) if spec.symbols is not None else []
        if (
            spec.domain in BAR_DOMAINS
            and wanted  # a universe with no symbol of this calendar loads none
            and result.rows_loaded == 0
            and len(sessions(calendar, start, end))
        ):
            refused = confirmed_empty(result, wanted)
            if refused is None:  # a silent empty answer: fail rather than record it as loaded
                files = "; ".join(attention)
                raise dg.Failure(
                    f"{key.to_user_string()}: source {source.name!r} returned no bar for "
                    f"{start}..{end} ({result.rows_quarantined} quarantined); nothing is "
                    "recorded as loaded. Check the source (files mapping, vendor key) and re-run."
                    + (f" Files: {files}" if files else "")
                )
            # The source refused every file of every requested symbol, each with its reason:
            # an empty feed the user can read about, not a silent vendor failure. Downstream
            # skips the symbols that have no bar.
            for symbol, why in refused.items():
                context.log.warning(f"{spec.name}: {no_bar_note(symbol, why)}")
        publisher.publisher().publish(
            PartitionLanded(
                asset=key.to_user_string(),
                partition_key=range_label(context),
                rows=result.rows_loaded,
                source=source.name,
            )
        )
        return dg.MaterializeResult(
            metadata={**load_metadata(result, source.name, start, end), "through": end.isoformat()}
        )

    return _raw


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            INSTRUMENTS_KEY,
            group_name="raw",
            description="The universe from universe.yaml.",
            kinds={"python", "duckdb"},
        ),
        dg.AssetSpec(
            INSTRUMENT_GROUPS_KEY,
            group_name="raw",
            description="One row per (symbol, group): what cross-sectional ranks partition by.",
            kinds={"python", "duckdb"},
        ),
    ]
)
def instruments(warehouse: WarehouseResource):
    universe = load_universe()
    frames = universe.to_frames()
    with warehouse.session() as wh:
        for table, frame in frames.items():
            wh.replace_slice(table, frame, start=None, end=None)
    groups = frames["market_data.instrument_groups"]
    yield dg.MaterializeResult(
        asset_key=INSTRUMENTS_KEY, metadata={"instruments": len(universe.instruments)}
    )
    yield dg.MaterializeResult(
        asset_key=INSTRUMENT_GROUPS_KEY,
        metadata={"rows": len(groups), "groups": int(groups["group_name"].nunique())},
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["news", "article_sentiment"],
            group_name="raw",
            deps=[dg.AssetKey(["news", "articles"])],
            description="Per-article, per-symbol sentiment (VADER + finance lexicon).",
            kinds={"python", "duckdb"},
        ),
        dg.AssetSpec(
            ["news", "sentiment_daily"],
            group_name="raw",
            deps=[dg.AssetKey(["news", "article_sentiment"])],
            description="Per-symbol daily sentiment: count, mean and sum of article scores.",
            kinds={"python", "duckdb"},
        ),
    ],
    partitions_def=history_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def news_sentiment(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    start, end = partition_dates(context)
    if start > end:
        for key in (["news", "article_sentiment"], ["news", "sentiment_daily"]):
            yield dg.MaterializeResult(asset_key=key, metadata={"rows_loaded": 0})
        return
    with warehouse.session() as wh:
        per_article, per_day = score_news(wh, start, end)
    yield dg.MaterializeResult(
        asset_key=["news", "article_sentiment"],
        metadata=load_metadata(per_article, "news", start, end),
    )
    yield dg.MaterializeResult(
        asset_key=["news", "sentiment_daily"], metadata=load_metadata(per_day, "news", start, end)
    )


raw_assets: list[dg.AssetsDefinition] = [
    instruments,
    *(_build_raw_asset(spec) for spec in RAW_SPECS),
    news_sentiment,
]

LISTED_KEYS = [dg.AssetKey(s.name.split(".")) for s in RAW_SPECS if s.calendar == "weekday"]
DAILY_KEYS = [
    *(dg.AssetKey(s.name.split(".")) for s in RAW_SPECS if s.calendar == "daily"),
    *news_sentiment.keys,
]
HISTORY_KEYS = [*LISTED_KEYS, *DAILY_KEYS]
