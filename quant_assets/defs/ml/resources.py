"""The MLflow store as a resource, so assets never read the tracking URI from the environment.

Not dagster-mlflow: its `mlflow_tracking` is a function-style resource that starts one
MLflow run per Dagster run and sets the process's global tracking state, while a model
spec's fit here is its own MLflow run (params, fold metrics, OOS predictions, model) and a
registry version under the spec's name, logged through an explicit `MlflowClient`
(ml/tracking.py), which keeps several fits in one process apart.
"""

from __future__ import annotations

import dagster as dg

from ml.tracking import DEFAULT_EXPERIMENT, Tracker


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking + registry store (Settings.mlflow_tracking_uri) and experiment."""

    tracking_uri: str
    experiment: str = DEFAULT_EXPERIMENT

    def tracker(self) -> Tracker:
        return Tracker(self.tracking_uri, experiment=self.experiment)
