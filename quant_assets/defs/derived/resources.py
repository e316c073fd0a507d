"""The dbt CLI resource, pointed at the warehouse by URL.

profiles.yml reads only environment variables; this resource sets them for each dbt
invocation from `quant_assets.warehouse.dbt_profile.dbt_env`. A URL with a password reaches
the resource as `dg.EnvVar("QUANT_WAREHOUSE_URL")` (quant_assets/defs/secrets.py), so the
UI and the run records show the variable's name, never the password.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster_dbt import DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from quant_assets.defs.derived.project import DBT_EXECUTABLE, dbt_project
from quant_assets.defs.secrets import warehouse_url_config
from quant_assets.warehouse.dbt_profile import dbt_env, dbt_target

_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class WarehouseDbtCliResource(DbtCliResource):
    """DbtCliResource whose profile target and connection come from a warehouse URL."""

    warehouse_url: str

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        # dbt starts inside cli(), so its process inherits exactly this environment
        with _environ(dbt_env(self.warehouse_url)):
            return super().cli(args, **kwargs)


def dbt_resource(settings_or_url: Any) -> WarehouseDbtCliResource:
    """A dbt resource for a `Settings` object (its warehouse_url) or a warehouse URL string."""
    url = settings_or_url if isinstance(settings_or_url, str) else settings_or_url.warehouse_url
    if hasattr(url, "get_secret_value"):
        url = url.get_secret_value()
    return WarehouseDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=DBT_EXECUTABLE,
        target=dbt_target(url),
        warehouse_url=warehouse_url_config(url),
    )
