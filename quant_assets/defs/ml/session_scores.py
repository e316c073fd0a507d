"""`ml/session_scores`: every model spec's scores for a session, in the decision chain.

Models are refitted on their own cadence (the `ml` spec partitions); a session's decisions
need scores of the features known that morning. For session T (as of the last bar A
before T), each spec's champion scores A's features when the champion saw no data after
A (its MLflow tag `data_through` <= A). A backfilled past session whose champion is newer
than A keeps the walk-forward out-of-sample score the champion's fit wrote for A (each
from a fold model that never saw A), or has none: never a score from a model that knew
the future. Scores already written for (spec, A) are kept as they were.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ml.data import champion_scores
from quant_assets.defs.metadata import md_table
from quant_assets.defs.ml.assets import DATA_THROUGH_TAG, FEATURES_KEY, MODEL_KEY, SPECS
from quant_assets.defs.ml.resources import MlflowResource
from quant_assets.defs.partitions import session_as_of, session_partitions
from quant_assets.defs.resources import WarehouseResource
from quant_assets.schemas.tables import PREDICTIONS

SESSION_SCORES_KEY = dg.AssetKey(["ml", "session_scores"])


def data_through(tracker, name: str, version: str) -> dt.date | None:
    """The last day of data the registered version's fit saw (None if it was not recorded)."""
    run_id = tracker.client.get_model_version(name, version).run_id
    value = tracker.client.get_run(run_id).data.tags.get(DATA_THROUGH_TAG)
    return dt.date.fromisoformat(value) if value else None


def stored_rows(wh, name: str, as_of: dt.date) -> int:
    frame = wh.query(
        "select count(*) as n from strategies.predictions where model = ? and date = ?",
        [name, as_of],
    )
    return int(frame["n"].iloc[0])


@dg.asset(
    key=SESSION_SCORES_KEY,
    group_name="ml",
    partitions_def=session_partitions,
    deps=[dg.AssetDep(MODEL_KEY, partition_mapping=dg.AllPartitionMapping()), FEATURES_KEY],
    kinds={"python"},
    description="Each model spec's scores of the features known the morning of the session "
    "(strategies.predictions, date = the last bar before it), from a champion that saw no "
    "later data; ml_signal strategies read them.",
)
def session_scores(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    tracker = None  # opened only when a spec needs its champion: a backfilled session
    rows = []  # usually keeps the walk-forward scores, and MLflow costs seconds to load
    with warehouse.session() as wh:
        as_of, session = session_as_of(wh, context)
        for name, spec in SPECS.items():
            kept = stored_rows(wh, name, as_of)
            if kept:
                rows.append({"spec": name, "status": "kept", "rows": kept, "version": ""})
                continue
            from mlflow.exceptions import MlflowException

            tracker = tracker or mlflow.tracker()
            try:
                version = tracker.champion_version(name)
            except MlflowException:
                rows.append({"spec": name, "status": "no champion", "rows": 0, "version": ""})
                continue
            seen = data_through(tracker, name, version)
            if seen is None or seen > as_of:
                status = f"champion saw data to {seen}: no score for {as_of}"
                rows.append({"spec": name, "status": status, "rows": 0, "version": version})
                continue
            out = champion_scores(wh, spec, tracker.load(name, version), version, as_of)
            wh.replace_slice(PREDICTIONS.fqn, out, start=as_of, end=as_of, where={"model": name})
            rows.append({"spec": name, "status": "scored", "rows": len(out), "version": version})
    table = pd.DataFrame(rows)
    return dg.MaterializeResult(
        metadata={
            "session": session.isoformat(),
            "as_of": as_of.isoformat(),
            "scored": int((table["status"] == "scored").sum()) if len(table) else 0,
            "specs": md_table(table),
        }
    )
