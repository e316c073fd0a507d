"""Report assets: the SOD report (before the open) and the EOD report (after the close).

Each renders its report from the stored outputs (quant_assets.reports.assemble), writes
<reports_dir>/<date>/<kind>.html (+ .txt and chart PNGs), mails it when SMTP is configured
(otherwise the status is `not_configured`, not an error) and records one
strategies.reports row per (date, kind).
"""

import datetime as dt

import dagster as dg
import pandas as pd

from quant_assets.defs.metadata import latest_record, metadata_value
from quant_assets.defs.partitions import session_as_of, session_of, session_partitions
from quant_assets.defs.raw.assets import BAR_KEYS, no_bar_note, refused_bars
from quant_assets.defs.reports.resources import ReportsResource
from quant_assets.defs.resources import WarehouseResource
from quant_assets.defs.strategy.assets import (
    MONTE_CARLO_KEY,
    RECOMMENDATIONS_KEY,
    SCENARIOS_KEY,
    TARGET_KEY,
)
from quant_assets.reports.assemble import build_eod, build_sod
from quant_assets.reports.publish import Published, publish
from quant_assets.schemas.tables import REPORTS
from quant_assets.sim.book import primary_groups
from quant_assets.strategy.panels import as_of_date
from quant_assets.strategy.recommend import next_session
from quant_assets.universe import load_universe

SOD_KEY = dg.AssetKey(["reports", "sod_report"])
EOD_KEY = dg.AssetKey(["reports", "eod_report"])
FILLS_KEY = dg.AssetKey(["execution", "fills"])


class ReportConfig(dg.Config):
    charts: bool = True


def email_status(published: Published) -> str:
    d = published.delivery
    return d.status if d.status != "failed" else f"failed: {d.detail}"


def report_row(day: dt.date, kind: str, published: Published, is_sample: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "report_date": [pd.Timestamp(day)],
            "kind": [kind],
            "html_path": [str(published.saved.html)],
            "text_path": [str(published.saved.text)],
            "email_status": [email_status(published)],
            "created_at": [pd.Timestamp.now(tz="UTC")],
            "is_sample": [is_sample],
        }
    )


def require_bars_of(wh, day: dt.date) -> None:
    """The EOD report of a session needs that session's bars in the derived layer."""
    if as_of_date(wh, before=day + dt.timedelta(days=1)) < day:
        raise dg.Failure(
            f"EOD report for {day}: derived.fct_features_daily has no bar of {day} yet; "
            "build the day's raw feeds and derived layer first"
        )


def _metadata(published: Published, day: dt.date) -> dict:
    return {
        "report_date": day.isoformat(),
        "html": dg.MetadataValue.path(str(published.saved.html)),
        "email_status": email_status(published),
        "subject": published.rendered.subject,
        "charts": len(published.rendered.images),
    }


def _value(num) -> float | None:
    return None if num is None or num.value is None else float(num.value)


def sod_headline(report) -> dict:
    """The numbers a PM reads first, so the UI's partition list compares days at a glance:
    recommendation and action counts, equity, exposure, drawdown and the first VaR row in $
    (a number the report shows as n/a is left out here)."""
    meta: dict = {
        "recommendations": len(report.recommendations),
        "actions": dg.MetadataValue.json(dict(report.action_counts)),
    }
    risk = report.risk
    if risk is None:
        return meta
    numbers = {
        "equity": _value(risk.equity),
        "gross_exposure": _value(risk.gross_exposure),
        "net_exposure": _value(risk.net_exposure),
        "drawdown": _value(risk.drawdown.drawdown) if risk.drawdown is not None else None,
    }
    if risk.var:
        first = risk.var[0]
        level, horizon = _value(first.level), _value(first.horizon_days)
        if level is not None and horizon is not None:
            numbers[f"var_{level * 100:.0f}_{horizon:.0f}d_money"] = _value(first.var_money)
    meta.update({k: v for k, v in numbers.items() if v is not None})
    return meta


SIGNALS_KEY = dg.AssetKey(["strategy", "signals"])
DATASET_KEY = dg.AssetKey(["ml", "training_dataset"])


def not_run_today(context: dg.AssetExecutionContext) -> list[str]:
    """ "Not run today: <strategy or model spec>: <reason>", from the latest strategy signals
    materialization and each model spec's latest dataset materialization (a skipped spec's
    carries the reason)."""
    from quant_assets.defs.ml.assets import model_specs

    notes = []
    instance = context.instance
    signals = instance.get_latest_materialization_event(SIGNALS_KEY)
    skipped = signals.asset_materialization.metadata.get("strategies_skipped") if signals else None
    for name, reason in sorted(((skipped.value if skipped else None) or {}).items()):
        notes.append(f"not run today: strategy {name}: {reason}")
    for spec in model_specs.get_partition_keys():
        record = latest_record(instance, DATASET_KEY, spec)
        reason = metadata_value(record, "skipped")
        if reason is not None:
            notes.append(f"not run today: model {spec}: {reason}")
    # Why a universe symbol has no bar: the latest load of its feed refused every file of it.
    records = [latest_record(instance, key) for key in BAR_KEYS]
    refused = refused_bars(
        r.asset_materialization for r in records if r and r.asset_materialization
    )
    universe = set(load_universe().symbols)
    notes += [no_bar_note(s, why) for s, why in sorted(refused.items()) if s in universe]
    return notes


@dg.asset(
    key=SOD_KEY,
    group_name="reports",
    partitions_def=session_partitions,
    deps=[RECOMMENDATIONS_KEY, TARGET_KEY, MONTE_CARLO_KEY, SCENARIOS_KEY,
          dg.AssetKey(["events", "economic_events"])],
    kinds={"python", "html"},
    description="Start-of-day report for the next session: recommendations, today's calendar, "
    "risk budget, Monte Carlo fan, scenarios, correlation; saved, mailed, recorded.",
)  # fmt: skip
def sod_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    reports: ReportsResource,
) -> dg.MaterializeResult:
    with warehouse.session() as wh:
        as_of, day = session_as_of(wh, context)
        report = build_sod(wh, as_of, day, charts=config.charts, notes=not_run_today(context),
                           generated_at=dt.datetime.now(dt.UTC))  # fmt: skip
        published = publish(report, reports.directory, reports.smtp())
        wh.replace_slice(
            REPORTS.fqn, report_row(day, "sod", published, report.is_sample),
            start=day, end=day, where={"kind": "sod"},
        )  # fmt: skip
    if published.delivery.status == "failed":
        context.log.warning(f"SOD report saved but not mailed: {published.delivery.detail}")
    return dg.MaterializeResult(metadata={**_metadata(published, day), **sod_headline(report)})


@dg.asset(
    key=EOD_KEY,
    group_name="reports",
    partitions_def=session_partitions,
    deps=[RECOMMENDATIONS_KEY, TARGET_KEY, FILLS_KEY],
    kinds={"python", "html"},
    description="End-of-day report: PnL and attribution, positions, fills (execution.fills, "
    "else the paper book), drawdown state, changes vs the previous recommendations, "
    "tomorrow's calendar; saved, mailed, recorded.",
)
def eod_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    warehouse: WarehouseResource,
    reports: ReportsResource,
) -> dg.MaterializeResult:
    groups = primary_groups(load_universe())
    with warehouse.session() as wh:
        as_of = session_of(context)
        require_bars_of(wh, as_of)
        report = build_eod(wh, as_of, next_session(as_of), groups,
                           generated_at=dt.datetime.now(dt.UTC))  # fmt: skip
        published = publish(report, reports.directory, reports.smtp())
        wh.replace_slice(
            REPORTS.fqn, report_row(as_of, "eod", published, report.is_sample),
            start=as_of, end=as_of, where={"kind": "eod"},
        )  # fmt: skip
    if published.delivery.status == "failed":
        context.log.warning(f"EOD report saved but not mailed: {published.delivery.detail}")
    fills = [
        {"symbol": f.symbol, "side": f.side, "qty": f.qty.value, "price": f.price.value,
         "order_id": f.order_id}
        for f in report.fills
    ]  # fmt: skip
    fills_pnl = report.fills_pnl.total.value if report.fills_pnl is not None else None
    return dg.MaterializeResult(
        metadata={
            **_metadata(published, as_of),
            "pnl": report.pnl.total.value or 0.0,
            "n_fills": len(fills),
            "fills": dg.MetadataValue.json(fills),
            # None (no fill, or no close yet) is not a zero PnL
            "fills_pnl": dg.MetadataValue.float(fills_pnl) if fills_pnl is not None else None,
        }
    )


report_assets: list[dg.AssetsDefinition] = [sod_report, eod_report]
