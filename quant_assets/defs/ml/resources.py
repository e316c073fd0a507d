"""The MLflow store as a resource, so assets never read the tracking URI from the environment."""

from __future__ import annotations

import dagster as dg

from ml.tracking import DEFAULT_EXPERIMENT, Tracker


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking + registry store (Settings.mlflow_tracking_uri) and experiment."""

    tracking_uri: str
    experiment: str = DEFAULT_EXPERIMENT

    def tracker(self) -> Tracker:
        return Tracker(self.tracking_uri, experiment=self.experiment)
