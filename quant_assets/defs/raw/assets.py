"""Raw assets: each fetches one data domain for a partition range and loads one table.

Backfills run as one run per range (`BackfillPolicy.single_run()`) and fetch the range in
one call, not day by day. Every materialization records rows loaded and quarantined,
the source and the date range, and announces the landed partition on the event bus.
"""

import datetime as dt

import dagster as dg

from quant_assets.bus import PartitionLanded
from quant_assets.defs.raw.partitions import daily_partitions, weekday_partitions
from quant_assets.defs.resources import PublisherResource, SourcesResource, WarehouseResource
from quant_assets.ingest import RAW_SPECS, RawSpec, ingest, score_news
from quant_assets.universe import load_universe
from quant_assets.warehouse.loading import LoadResult

INSTRUMENTS_KEY = dg.AssetKey(["market_data", "instruments"])
INSTRUMENT_GROUPS_KEY = dg.AssetKey(["market_data", "instrument_groups"])
PARTITIONS = {"weekday": weekday_partitions, "daily": daily_partitions}


def partition_dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """Inclusive first and last calendar day covered by the run's partition range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


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
    return meta


def _build_raw_asset(spec: RawSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(spec.name.split("."))

    @dg.asset(
        key=key,
        group_name="raw",
        partitions_def=PARTITIONS[spec.calendar],
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[INSTRUMENTS_KEY],
        description=spec.description,
        kinds={"python", "duckdb"},
    )
    def _raw(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        sources: SourcesResource,
        publisher: PublisherResource,
    ) -> dg.MaterializeResult:
        start, end = partition_dates(context)
        source = sources.for_domain(spec.domain)
        with warehouse.session() as wh:
            result = ingest(
                wh, spec, source, load_universe(), start, end, partition_key=range_label(context)
            )
        for line in (result.files or {}).get("files_attention", []):
            context.log.warning(f"{spec.name}: {line}")
        publisher.publisher().publish(
            PartitionLanded(
                asset=key.to_user_string(),
                partition_key=range_label(context),
                rows=result.rows_loaded,
                source=source.name,
            )
        )
        return dg.MaterializeResult(metadata=load_metadata(result, source.name, start, end))

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
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def news_sentiment(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    start, end = partition_dates(context)
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

WEEKDAY_KEYS = [k for a in raw_assets if a.partitions_def is weekday_partitions for k in a.keys]
DAILY_KEYS = [k for a in raw_assets if a.partitions_def is daily_partitions for k in a.keys]
