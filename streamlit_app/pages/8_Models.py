"""Models & predictions: the ML specs, their MLflow registry state and champion, and the
scores they write to strategies.predictions (the latest ranking, out-of-sample rank IC)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from ml.evaluate import ic_stats
from ml.specs import ModelSpec, SpecError, load_specs
from ml.tracking import DEFAULT_METRIC, DEFAULT_THRESHOLD
from streamlit_app import analytics, charts, data, ui

ctx = ui.setup("Models & predictions", ":material/model_training:")
URI = ctx.settings.mlflow_tracking_uri

# Out-of-sample metrics of a fit (ml.evaluate.summary), shown when the run logged them.
METRICS = (
    ("ic", "IC", ".4f"),
    ("ic_t", "IC t", ".2f"),
    ("rank_ic", "Rank IC", ".4f"),
    ("rank_ic_t", "Rank-IC t", ".2f"),
    ("auc", "AUC", ".3f"),
    ("auc_z", "AUC z", ".2f"),
    ("accuracy", "Accuracy", ".3f"),
    ("rank_ic_n_dates", "OOS dates", ",.0f"),
)
LABELS = {key: label for key, label, _ in METRICS}
IN_TEXT = {
    "rank_ic_t": "rank-IC t",
    "ic_t": "IC t",
    "rank_ic": "rank IC",
    "ic": "IC",
    "auc_z": "AUC z",
}
APPROVAL_COLUMN = "approval stat"


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(value: Any, spec: str) -> str:
    v = _num(value)
    return "—" if v is None else format(v, spec)


def _rule(name: str) -> tuple[str, float]:
    """The approval metric and threshold of a model: its spec's, else the default."""
    spec = specs.get(name)
    return (
        (spec.approve.metric, spec.approve.threshold)
        if spec is not None
        else (DEFAULT_METRIC, DEFAULT_THRESHOLD)
    )


def _rule_text(name: str) -> str:
    metric, threshold = _rule(name)
    return f"{IN_TEXT.get(metric, metric)} >= {threshold:g}"


def _not_approved(metrics: dict[str, float], name: str) -> str:
    """Why a version is not the champion, from its run's approval metric."""
    metric, threshold = _rule(name)
    label = IN_TEXT.get(metric, metric)
    value = _num(metrics.get(metric))
    if value is None:
        return f"not approved: no {label} logged"
    if value < threshold:
        return f"not approved: {label} {value:.2f} < {threshold:g}"
    return f"not approved yet: {label} {value:.2f} >= {threshold:g}, no champion alias"


def _run(run_id: Any) -> dict[str, Any] | None:
    if not isinstance(run_id, str) or not run_id:
        return None
    return ui.fetch(data.model_run, URI, run_id, what=f"MLflow run {run_id}")


def _augmented(spec: ModelSpec) -> str:
    a = spec.augment
    return "no" if a is None else f"{a.model}, {a.n_paths} paths x {a.n_days} bars"


def _metric_row(title: str, version: str, run: dict[str, Any]) -> None:
    """The version, its out-of-sample metrics and its training window as metric cells."""
    metrics, params = run["metrics"], run["params"]
    shown = [(key, label, f) for key, label, f in METRICS if key in metrics]
    cells = st.columns(len(shown) + 1)
    cells[0].metric(title, f"v{version}")
    for cell, (key, label, f) in zip(cells[1:], shown, strict=True):
        cell.metric(label, _fmt(metrics[key], f))
    p1, p2, p3, p4 = st.columns(4)
    p1.metric("Train start", str(params.get("train_start", "—")))
    p2.metric("Train end", str(params.get("train_end", "—")))
    p3.metric("Rows", _fmt(params.get("n_rows"), ",.0f"))
    p4.metric("Run", run["run_id"][:8])
    with st.expander(f"Every metric and parameter of v{version} (run {run['run_id']})"):
        left, right = st.columns(2)
        left.dataframe(
            pd.DataFrame(sorted(metrics.items()), columns=["metric", "value"]),
            hide_index=True,
            key=f"run_metrics_{version}",
        )
        right.dataframe(
            pd.DataFrame(sorted(params.items()), columns=["param", "value"]),
            hide_index=True,
            key=f"run_params_{version}",
        )


# --- specs and registry -----------------------------------------------------------------------

st.subheader("Models")
st.caption(
    f"Specs from `ml/specs.yaml`; registry state from the MLflow store `{data._safe(URI)}` "
    f"(read-only). A version becomes the `champion` when its out-of-sample approval "
    f"statistic passes its spec's rule (column `approval`; default rank-IC t >= "
    f"{DEFAULT_THRESHOLD:g}); only champions write predictions."
)
try:
    specs = load_specs()
except SpecError as exc:
    st.warning(f"ml/specs.yaml is invalid: {exc}", icon=":material/warning:")
    specs = {}

registry = ui.fetch(data.model_registry, URI, what="MLflow model registry")
by_model = registry.set_index("model") if registry is not None else pd.DataFrame()
status: dict[str, str] = {}
approval_value: dict[str, float | None] = {}
for name in [*specs, *(m for m in by_model.index if m not in specs)]:
    if name not in by_model.index:
        status[name] = "not registered"
        continue
    r = by_model.loc[name]
    latest_run = _run(r["latest_run_id"])
    latest_metrics = latest_run["metrics"] if latest_run else {}
    if pd.notna(r["champion_version"]):
        champ_run = latest_run if r["champion_version"] == r["latest_version"] else None
        champ_run = champ_run or _run(r["champion_run_id"])
        approval_value[name] = _num((champ_run or {}).get("metrics", {}).get(_rule(name)[0]))
        text = f"champion v{r['champion_version']}"
        if r["latest_version"] != r["champion_version"]:
            text += f"; v{r['latest_version']} {_not_approved(latest_metrics, name)}"
        status[name] = text
    else:
        approval_value[name] = _num(latest_metrics.get(_rule(name)[0]))
        status[name] = _not_approved(latest_metrics, name)

rows = []
for name in status:
    spec = specs.get(name)
    reg = by_model.loc[name] if name in by_model.index else None
    rows.append(
        {
            "model": name,
            "kind": spec.kind if spec else None,
            "target": spec.target if spec else None,
            "horizon": spec.horizon if spec else None,
            "features": len(spec.features) if spec else None,
            "augmented": _augmented(spec) if spec else None,
            "latest": None if reg is None else f"v{reg['latest_version']}",
            "champion": (
                None
                if reg is None or pd.isna(reg["champion_version"])
                else f"v{reg['champion_version']}"
            ),
            "approval": _rule_text(name),
            APPROVAL_COLUMN: approval_value.get(name),
            "status": status[name] if registry is not None else "registry not read",
            "description": spec.description if spec else "(registered, not in ml/specs.yaml)",
        }
    )
if not rows:
    ui.empty("no model specs", "add models to ml/specs.yaml")
else:
    table = pd.DataFrame(rows)
    if registry is None:
        table = table.drop(columns=["latest", "champion", "approval", APPROVAL_COLUMN, "status"])
    st.dataframe(
        table,
        hide_index=True,
        column_config={APPROVAL_COLUMN: st.column_config.NumberColumn(format="%.2f")},
        key="models_table",
    )

# --- one model --------------------------------------------------------------------------------

try:
    predicted = data.prediction_models(ctx.url)
    predicted_names = list(predicted["model"])
except data.DataUnavailable:
    predicted_names = []
options = [*status, *(m for m in predicted_names if m not in status)]
if not options:
    st.stop()
champions = [m for m in options if status.get(m, "").startswith("champion")]
default = (champions or [m for m in options if m in predicted_names] or options)[0]
name = st.selectbox("Model", options, index=options.index(default), key="ml_model")
spec = specs.get(name)
st.subheader(f"Model {name}")
if spec is not None:
    st.caption(
        f"{spec.description} — {spec.kind} · target {spec.target} · horizon {spec.horizon} "
        f"· {len(spec.features)} features · augmented: {_augmented(spec)}"
    )

if registry is not None:
    if name not in by_model.index:
        ui.empty(f"{name} has no registered version in the MLflow store")
    else:
        r = by_model.loc[name]
        if pd.isna(r["champion_version"]):
            latest_run = _run(r["latest_run_id"])
            if latest_run is not None:
                st.info(
                    f"{name} v{r['latest_version']}: "
                    f"{_not_approved(latest_run['metrics'], name)}. "
                    "No champion, so the model writes no predictions.",
                    icon=":material/block:",
                )
                _metric_row("Latest version", str(r["latest_version"]), latest_run)
        else:
            champ_run = _run(r["champion_run_id"])
            if r["latest_version"] != r["champion_version"]:
                latest_run = _run(r["latest_run_id"])
                st.caption(
                    f"v{r['latest_version']} is newer: "
                    f"{_not_approved(latest_run['metrics'] if latest_run else {}, name)}."
                )
            if champ_run is not None:
                _metric_row("Champion", str(r["champion_version"]), champ_run)
                imp = ui.fetch(
                    data.feature_importance, URI, champ_run["run_id"], what="feature importance"
                )
                if imp is not None and imp.empty:
                    st.caption("The champion's run logged no feature importance.")
                elif imp is not None:
                    st.markdown("**Feature importance of the champion**")
                    st.plotly_chart(charts.feature_importance(imp), key="importance_chart")

# --- predictions --------------------------------------------------------------------------------

st.subheader("Predictions")
models = ui.fetch(data.prediction_models, ctx.url, what="predictions")
if models is not None:
    if models.empty:
        ui.empty("no predictions (only a champion model writes them)")
    elif name not in set(models["model"]):
        ui.empty(
            f"no predictions of {name} (only a champion model writes them)",
            f"get a version approved ({_rule_text(name)} out of sample), then {ui.RUN_HINT}",
        )
    else:
        horizon = spec.horizon if spec is not None else 1
        st.markdown("**Latest ranking**")
        latest = ui.fetch(data.latest_predictions, ctx.url, name, ctx.end, what="predictions")
        if latest is not None and ctx.groups:
            latest = latest[latest["symbol"].isin(ctx.symbols)]
        if latest is not None and latest.empty:
            ui.empty(f"no live scores of {name} on or before {ctx.end} for the selected groups")
        elif latest is not None:
            ranks = analytics.ranked(latest, ctx.instruments)
            if ctx.groups:
                st.caption(f"Ranked within the groups {', '.join(ctx.groups)} (sidebar).")
            c1, c2, c3 = st.columns(3)
            c1.metric("Scored on", str(ui.day(ranks["date"].iloc[0])))
            c2.metric("Version", f"v{ranks['model_version'].iloc[0]}")
            c3.metric("Names scored", len(ranks))
            n = st.slider("Names at each end", 3, 25, 10, key="pred_top_n")
            each = min(n, len(ranks) // 2)  # top and bottom never show the same name
            if each < n:
                st.caption(
                    f"{len(ranks)} names scored: {each} at each end, so no name is in both lists."
                )
            cols = ["rank", "symbol", "name", "score"]
            config = {"score": st.column_config.NumberColumn(format="%.4f")}
            top, bottom = st.columns(2)
            top.markdown(f"Top {each} (highest score)")
            top.dataframe(
                ranks[cols].head(each), hide_index=True, column_config=config, key="pred_top"
            )
            bottom.markdown(f"Bottom {each} (lowest score)")
            bottom.dataframe(
                ranks[cols].tail(each).iloc[::-1],
                hide_index=True,
                column_config=config,
                key="pred_bottom",
            )

        st.markdown("**Out-of-sample rank IC**")
        hist = ui.fetch(data.predictions, ctx.url, name, ctx.start, ctx.end, what="predictions")
        if hist is not None:
            oos = hist[hist["oos"]]
            if oos.empty:
                ui.empty(f"no out-of-sample history of {name} between {ctx.start} and {ctx.end}")
            else:
                symbols = tuple(sorted(oos["symbol"].astype(str).unique()))
                found = ui.fetch(data.levels, ctx.url, symbols, ctx.start, ctx.end, what="prices")
                ic = (
                    analytics.prediction_ic(oos, found[0], horizon)
                    if found is not None
                    else pd.Series(dtype=float)
                )
                if found is not None and ic.empty:
                    st.info(
                        f"No date between {ctx.start} and {ctx.end} has both out-of-sample "
                        f"scores and {horizon}-bar forward returns for 5 or more symbols.",
                        icon=":material/info:",
                    )
                elif found is not None:
                    stats = ic_stats(ic, horizon)
                    k1, k2, k3, k4 = st.columns(4)
                    k1.metric("Mean rank IC", _fmt(stats.mean, ".4f"))
                    k2.metric("t-stat (Newey-West)", _fmt(stats.t_stat, ".2f"))
                    k3.metric("Days with IC > 0", _fmt(stats.hit_rate, ".0%"))
                    k4.metric("Dates", f"{stats.n_dates:,}")
                    st.plotly_chart(charts.rank_ic(ic), key="rank_ic_chart")
                    st.caption(
                        "Spearman correlation, across every symbol scored, of each date's "
                        f"walk-forward (out-of-sample, `-oos`) score with the return over the "
                        f"next {horizon} bar(s), from the {found[1]}; only bars up to {ctx.end} "
                        "are used."
                    )
            if ctx.symbol:
                st.markdown(f"**Scores of {ctx.symbol}**")
                mine = hist[hist["symbol"] == ctx.symbol]
                if mine.empty:
                    st.caption(
                        f"{name} has no score for {ctx.symbol} between {ctx.start} and {ctx.end}."
                    )
                else:
                    st.plotly_chart(
                        charts.score_history(mine, ctx.symbol), key="score_history_chart"
                    )
