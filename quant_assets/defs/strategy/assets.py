"""Strategy assets: library signals and statistics, the target book, tomorrow's recommendations.

One partition per NYSE session (the trade date): a partition works as of the last bar of
derived.fct_features_daily before its session, so a backfill of a past session uses only
what was known that morning, and it replaces its own slice of each table, so a re-run of
the same session writes the same rows. Tearsheets (quantstats, ~5-10 s each) are off by default:
run config `tearsheets: all` or `tearsheets: btc_trend,gld_mean_reversion` writes them to
<reports_dir>/tearsheets/<strategy>.html.
"""

import datetime as dt

import dagster as dg

from quant_assets.defs.metadata import md_table
from quant_assets.defs.partitions import session_as_of, session_partitions
from quant_assets.defs.reports.resources import ReportsResource
from quant_assets.defs.resources import WarehouseResource
from quant_assets.defs.strategy.resources import BookResource
from quant_assets.schemas.tables import (
    BACKTEST_STATS,
    EQUITY_CURVES,
    RECOMMENDATIONS,
    RISK_SNAPSHOT,
    STRATEGY_SIGNALS,
)
from quant_assets.sim.book import primary_groups
from quant_assets.strategy import recommend as rc
from quant_assets.strategy.config import load_library, resolve_symbols
from quant_assets.strategy.panels import load_panels
from quant_assets.universe import load_universe

SIGNALS_KEY = dg.AssetKey(["strategy", "signals"])
TARGET_KEY = dg.AssetKey(["strategy", "target_portfolio"])
RECOMMENDATIONS_KEY = dg.AssetKey(["strategy", "recommendations"])
SCENARIOS_KEY = dg.AssetKey(["simulation", "scenario_results"])
MONTE_CARLO_KEY = dg.AssetKey(["simulation", "monte_carlo"])
DERIVED_INPUTS = [
    dg.AssetKey(["derived", "fct_features_daily"]),
    dg.AssetKey(["derived", "technical_indicators"]),
    dg.AssetKey(["derived", "fct_returns_daily"]),
]
SESSION_SCORES_KEY = dg.AssetKey(["ml", "session_scores"])  # ml_signal strategies read them


class SignalsConfig(dg.Config):
    tearsheets: str = "none"  # none | all | comma-separated strategy names


def library_symbols(specs, universe) -> list[str]:
    return sorted({s for spec in specs.values() for s in resolve_symbols(spec, universe)})


@dg.asset(
    key=SIGNALS_KEY,
    group_name="strategy",
    partitions_def=session_partitions,
    deps=[*DERIVED_INPUTS, SESSION_SCORES_KEY],
    kinds={"python"},
    description="Every library strategy: signals of the last days (strategies.signals), "
    "backtest statistics with Monte Carlo percentiles (strategies.backtest_stats) and "
    "equity curves (strategies.equity_curves).",
)
def signals(
    context: dg.AssetExecutionContext,
    config: SignalsConfig,
    warehouse: WarehouseResource,
    book: BookResource,
    reports: ReportsResource,
) -> dg.MaterializeResult:
    universe = load_universe()
    specs = load_library(universe=universe)
    ml_models = sorted({getattr(s, "model", "") for s in specs.values() if s.kind == "ml_signal"})
    with warehouse.session() as wh:
        as_of, _session = session_as_of(wh, context)
        panels = load_panels(wh, as_of, library_symbols(specs, universe), book.history_days)
        predictions = wh.read_table("strategies.predictions", end=as_of, where={"model": ml_models})
        run = rc.run_library(
            specs, panels, universe, predictions=predictions, signal_days=book.signal_days,
            n_paths=book.valuation_paths,
        )  # fmt: skip
        names = list(specs)
        first = as_of - dt.timedelta(days=book.signal_days)
        wh.replace_slice(
            STRATEGY_SIGNALS.fqn, run.signals, start=first, end=as_of, where={"strategy": names}
        )
        wh.replace_slice(
            BACKTEST_STATS.fqn, run.stats, start=as_of, end=as_of, where={"strategy": names}
        )
        wh.replace_slice(
            EQUITY_CURVES.fqn, run.equity, start=None, end=None, where={"strategy": names}
        )
    tearsheets = _tearsheets(config.tearsheets, run, panels, reports, names)
    for name, reason in run.skipped.items():
        context.log.warning(f"strategy {name} skipped: {reason}")
    headline = run.stats.pivot_table(index="strategy", columns="metric", values="value")
    cols = [c for c in ("sharpe", "cagr", "max_drawdown", "n_trades", "win_rate") if c in headline]
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "strategies_run": len(run.returns),
            "strategies_skipped": dg.MetadataValue.json(run.skipped),
            "signal_rows": len(run.signals),
            "stat_rows": len(run.stats),
            "equity_rows": len(run.equity),
            "tearsheets": len(tearsheets),
            "stats": md_table(headline[cols].reset_index()),
            "today": md_table(
                run.latest[run.latest["target_weight"] != 0][
                    ["strategy", "symbol", "leg", "target_weight", "reason"]
                ]
            ),
            "is_sample": panels.is_sample(),
        }
    )


def _tearsheets(choice: str, run, panels, reports: ReportsResource, names: list[str]) -> list[str]:
    if choice.strip().lower() in ("", "none"):
        return []
    from quant_assets.strategy.tearsheet import write_tearsheet

    wanted = names if choice.strip().lower() == "all" else [c.strip() for c in choice.split(",")]
    bench = None
    if "SPY" in panels.symbols:
        spy = panels.closes(["SPY"])["SPY"].dropna()
        bench = spy.pct_change().dropna().rename("SPY")
    written = []
    for name in wanted:
        if name not in run.returns:
            continue
        r = run.returns[name]
        b = bench.reindex(r.index).fillna(0.0) if bench is not None else None
        path = reports.directory / "tearsheets" / f"{name}.html"
        write_tearsheet(r, b, path, title=name, sample_data=panels.is_sample())
        written.append(str(path))
    return written


@dg.asset(
    key=TARGET_KEY,
    group_name="strategy",
    partitions_def=session_partitions,
    deps=[SIGNALS_KEY],
    kinds={"python"},
    description="Today's strategy targets combined into one book: capital split, sleeve "
    "sizing, drawdown state and exposure limits (strategies.signals strategy='portfolio', "
    "book metrics in strategies.risk_snapshot, paper equity in strategies.equity_curves).",
)
def target_portfolio(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, book: BookResource
) -> dg.MaterializeResult:
    universe = load_universe()
    specs = load_library(universe=universe)
    cfg = book.book_config()
    with warehouse.session() as wh:
        as_of, _session = session_as_of(wh, context)
        names = list(specs)
        sig = wh.read_table(
            STRATEGY_SIGNALS.fqn, start=as_of - dt.timedelta(days=book.signal_days), end=as_of,
            where={"strategy": names},
        )  # fmt: skip
        eq = wh.read_table(EQUITY_CURVES.fqn, where={"strategy": names})
        run = rc.library_from_tables(sig, eq, as_of)
        symbols = sorted(set(run.latest["symbol"])) if len(run.latest) else []
        panels = load_panels(wh, as_of, symbols, max(cfg.vol_window * 3, 200))
        tp = rc.build_target_portfolio(run, panels, universe, cfg)
        groups = primary_groups(universe)
        wh.replace_slice(
            STRATEGY_SIGNALS.fqn, tp.signal_rows(), start=as_of, end=as_of,
            where={"strategy": rc.PORTFOLIO},
        )  # fmt: skip
        wh.replace_slice(
            RISK_SNAPSHOT.fqn, tp.snapshot_rows(groups), start=as_of, end=as_of,
            where={"metric": list(rc.BOOK_METRICS)},
        )  # fmt: skip
        wh.replace_slice(
            EQUITY_CURVES.fqn, tp.equity_rows(), start=None, end=None,
            where={"strategy": rc.PORTFOLIO},
        )  # fmt: skip
    live = tp.positions[tp.positions["book_weight"] != 0]
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "positions": len(live),
            "gross_exposure": float(tp.book.abs().sum()),
            "net_exposure": float(tp.book.sum()),
            "drawdown": float(tp.drawdown["drawdown"]),
            "drawdown_state": tp.drawdown["state"],
            "sizing_rule": cfg.sizing_rule,
            "book": md_table(live[["strategy", "symbol", "leg", "book_weight", "reason"]]),
            "sleeves": md_table(tp.sleeves[["strategy", "share", "sleeve_vol", "scale", "bound"]]),
        }
    )


@dg.asset(
    key=RECOMMENDATIONS_KEY,
    group_name="strategy",
    partitions_def=session_partitions,
    deps=[TARGET_KEY, SIGNALS_KEY, SCENARIOS_KEY, MONTE_CARLO_KEY,
          dg.AssetKey(["events", "economic_events"]), dg.AssetKey(["events", "security_events"])],
    kinds={"python"},
    description="strategies.recommendations for the next NYSE session: side, quantity, entry, "
    "stop/target, conditions, strategy stats, sizing and limits, upcoming events, scenario PnL.",
)  # fmt: skip
def recommendations(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, book: BookResource
) -> dg.MaterializeResult:
    universe = load_universe()
    specs = load_library(universe=universe)
    cfg = book.book_config()
    with warehouse.session() as wh:
        as_of, trade_date = session_as_of(wh, context)
        target = rc.read_book(wh, as_of)
        sig = wh.read_table(
            STRATEGY_SIGNALS.fqn, start=as_of - dt.timedelta(days=book.signal_days), end=as_of,
            where={"strategy": list(specs)},
        )  # fmt: skip
        symbols = sorted({*target["symbol"], *sig["symbol"]})
        panels = load_panels(wh, as_of, symbols, 120)
        stats = wh.read_table(BACKTEST_STATS.fqn, start=as_of, end=as_of)
        scen = wh.read_table("strategies.scenario_results", start=as_of, end=as_of)
        window = (as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=cfg.events_days))
        econ = wh.read_table("events.economic_events", start=window[0], end=window[1])
        sec = wh.read_table("events.security_events", start=window[0], end=window[1])
        rows = rc.build_recommendations(
            target, sig, panels, specs, stats=stats, scenario_returns=scen, economic=econ,
            security=sec, config=cfg, trade_date=trade_date,
            fractional={i.symbol for i in universe.by_asset_class("crypto")},
        )  # fmt: skip
        wh.replace_slice(RECOMMENDATIONS.fqn, rows, start=trade_date, end=trade_date)
    sides = rows["side"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "trade_date": trade_date.isoformat(),
            "recommendations": len(rows),
            "buys": int(sides.get("buy", 0)),
            "sells": int(sides.get("sell", 0)),
            "closes": int(sides.get("close", 0)),
            "gross_notional": float(rows["notional"].abs().sum()),
            "table": md_table(
                rows[
                    [
                        "strategy",
                        "symbol",
                        "leg",
                        "side",
                        "quantity",
                        "entry_price",
                        "stop_price",
                        "target_price",
                    ]
                ]
            ),
            "is_sample": bool(rows["is_sample"].any()) if len(rows) else False,
        }
    )


strategy_assets: list[dg.AssetsDefinition] = [signals, target_portfolio, recommendations]
