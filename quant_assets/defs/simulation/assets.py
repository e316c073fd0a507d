"""Simulation assets: Monte Carlo fan and risk, stress scenarios and event studies of the book.

One partition per NYSE session, as of the last bar of derived.fct_features_daily before
it; each replaces its own slice of its tables (see compute.py for the conventions).
"""

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from quant_assets.defs.metadata import md_table
from quant_assets.defs.partitions import session_as_of, session_partitions
from quant_assets.defs.resources import ComputeResource, WarehouseResource
from quant_assets.defs.strategy.assets import MONTE_CARLO_KEY, SCENARIOS_KEY, TARGET_KEY
from quant_assets.defs.strategy.resources import BookResource
from quant_assets.schemas.tables import EVENT_STUDY, MONTE_CARLO, RISK_SNAPSHOT, SCENARIO_RESULTS
from quant_assets.sim import book as sc
from quant_assets.strategy.recommend import read_book
from quant_assets.universe import load_universe

EVENT_STUDY_KEY = dg.AssetKey(["simulation", "event_study"])
CALIBRATIONS_KEY = dg.AssetKey(["simulation", "model_calibrations"])


class MonteCarloConfig(dg.Config):
    # "regime" and "garch" are opt-in: the regime draw is reproducible only to ~1e-5 across
    # runs (BLAS-threaded float32 products), so a re-run would not write identical rows.
    models: list[str] = Field(default_factory=lambda: ["gbm", "bootstrap"])
    n_paths: int = 2_000
    n_days: int = 63
    seed: int = 0
    lookback_days: int = 3 * 365
    drawdown_limit: float = 0.10


def _crypto(universe) -> set[str]:
    return {i.symbol for i in universe.by_asset_class("crypto")}


def _book(wh, as_of) -> pd.Series:
    b = read_book(wh, as_of)
    return b.groupby("symbol")["book_weight"].sum() if len(b) else pd.Series(dtype=float)


@dg.asset(
    key=MONTE_CARLO_KEY,
    group_name="simulation",
    partitions_def=session_partitions,
    deps=[TARGET_KEY, dg.AssetKey(["derived", "fct_returns_daily"])],
    kinds={"python"},
    description="Fan chart of the target book's cumulative return per model "
    "(strategies.monte_carlo, subject 'portfolio') and its VaR/CVaR, drawdown distribution "
    "and P(drawdown >= limit) (strategies.risk_snapshot, mc_* and hist_*/normal_* metrics).",
)
def monte_carlo(
    context: dg.AssetExecutionContext,
    config: MonteCarloConfig,
    warehouse: WarehouseResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.session() as wh:
        as_of, _session = session_as_of(wh, context)
        out = sc.monte_carlo(
            wh, as_of, _book(wh, as_of), crypto=_crypto(universe), models=config.models,
            n_paths=config.n_paths, n_days=config.n_days, seed=config.seed,
            lookback_days=config.lookback_days, drawdown_limit=config.drawdown_limit,
            executor=compute.executor(),
        )  # fmt: skip
        wh.replace_slice(
            MONTE_CARLO.fqn, out.fan, start=as_of, end=as_of, where={"subject": "portfolio"}
        )
        wh.replace_slice(
            RISK_SNAPSHOT.fqn, out.snapshot, start=as_of, end=as_of,
            where={"metric": list(sc.MC_METRICS)},
        )  # fmt: skip
    snap = out.snapshot.set_index("metric")["value"]
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "models": ", ".join(out.fitted) or "(flat book: nothing simulated)",
            "paths": config.n_paths,
            "days": config.n_days,
            "fan_rows": len(out.fan),
            "history_days_used": len(out.panel),
            **{k: float(v) for k, v in snap.items() if k.endswith(("var_95", "cvar_95"))},
            "risk": md_table(out.snapshot[["metric", "value"]], max_rows=80),
        }
    )


@dg.asset(
    key=SCENARIOS_KEY,
    group_name="simulation",
    partitions_def=session_partitions,
    deps=[TARGET_KEY, dg.AssetKey(["derived", "fct_returns_daily"])],
    kinds={"python"},
    description="Stress scenarios (sim/scenarios.yaml) on the target book: PnL per scenario and "
    "position (strategies.scenario_results); positions sum to the scenario's book PnL.",
)
def scenario_results(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, book: BookResource
) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.session() as wh:
        as_of, _session = session_as_of(wh, context)
        mv = _book(wh, as_of) * book.capital
        rows, summary = sc.scenario_results(wh, as_of, mv, sc.primary_groups(universe))
        wh.replace_slice(SCENARIO_RESULTS.fqn, rows, start=as_of, end=as_of)
    errors = summary[summary["error"].notna()]["error"].to_dict() if len(summary) else {}
    ran = summary[summary["error"].isna()].reset_index() if len(summary) else summary
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "scenarios_run": len(ran),
            "rows": len(rows),
            "worst_pnl": float(ran["pnl"].min()) if len(ran) else float("nan"),
            "summary": md_table(ran[["scenario", "kind", "pnl", "return_on_gross", "n_proxied"]])
            if len(ran)
            else md_table(pd.DataFrame()),
            "not_run": dg.MetadataValue.json(errors),
        }
    )


@dg.asset(
    key=EVENT_STUDY_KEY,
    group_name="simulation",
    partitions_def=session_partitions,
    deps=[
        dg.AssetKey(["derived", "fct_returns_daily"]),
        dg.AssetKey(["events", "economic_events"]),
        dg.AssetKey(["events", "security_events"]),
        dg.AssetKey(["events", "geopolitical_events"]),
    ],
    kinds={"python"},
    description="Cumulative abnormal returns around stored events by class and surprise bucket, "
    "per group (symbol 'all') and per symbol (strategies.event_study).",
)
def event_study(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.session() as wh:
        as_of, _session = session_as_of(wh, context)
        rows, n_events = sc.event_study_rows(wh, as_of, sc.primary_groups(universe))
        wh.replace_slice(EVENT_STUDY.fqn, rows, start=as_of, end=as_of)
    top = rows[rows["symbol"] == "all"].reindex(
        rows[rows["symbol"] == "all"]["t_stat"].abs().sort_values(ascending=False).index
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "events": n_events,
            "rows": len(rows),
            "strongest": md_table(
                top[["event_class", "bucket", "group_name", "n_events", "mean_car", "t_stat"]],
                max_rows=15,
            ),
        }
    )


@dg.asset(
    key=CALIBRATIONS_KEY,
    group_name="simulation",
    partitions_def=session_partitions,
    deps=[TARGET_KEY, dg.AssetKey(["derived", "fct_returns_daily"])],
    kinds={"python"},
    description="Fitted parameters of the book's return models, as metadata only: annualised "
    "GBM volatilities and correlations, GARCH(1,1) for the largest positions.",
)
def model_calibrations(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.session() as wh:
        as_of, _session = session_as_of(wh, context)
        book = _book(wh, as_of)
        out = sc.monte_carlo(
            wh, as_of, book, crypto=_crypto(universe), models=["gbm"], n_paths=1, n_days=1
        )
    if "gbm" not in out.fitted:
        return dg.MaterializeResult(metadata={"as_of": as_of.isoformat(), "note": "flat book"})
    gbm = out.fitted["gbm"]
    vols = pd.DataFrame(
        {"symbol": gbm.symbols, "annual_vol": np.sqrt(np.diag(gbm.cov_.to_numpy()) * 252)}
    )
    corr = gbm.cov_.to_numpy() / np.outer(*(2 * [np.sqrt(np.diag(gbm.cov_.to_numpy()))]))
    corr_frame = pd.DataFrame(corr, index=gbm.symbols, columns=gbm.symbols).round(3)
    largest = book.abs().sort_values(ascending=False).index[:3].tolist()
    garch = sc.make_model("garch").fit(out.panel[largest])
    params = garch.params_.assign(persistence=garch.params_["alpha"] + garch.params_["beta"])
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "observations": len(out.panel),
            "gbm_vols": md_table(vols),
            "gbm_correlation": md_table(corr_frame.reset_index(names="symbol")),
            "garch": md_table(params.reset_index(names="symbol")),
        }
    )


simulation_assets: list[dg.AssetsDefinition] = [
    monte_carlo,
    scenario_results,
    event_study,
    model_calibrations,
]
