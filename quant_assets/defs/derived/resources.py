"""The dbt CLI resource, pointed at the warehouse by URL.

profiles.yml reads only environment variables; this resource sets them for each dbt
invocation from `quant_assets.warehouse.dbt_profile.dbt_env`. The password is kept out of
the resource's config (which Dagster shows in its UI) and only enters dbt's environment.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from dagster_dbt import DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from pydantic import PrivateAttr

from quant_assets.defs.derived.project import DBT_EXECUTABLE, dbt_project
from quant_assets.warehouse.dbt_profile import dbt_env, dbt_target, redact_url

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
    _password: str | None = PrivateAttr(default=None)

    def _full_url(self) -> str:
        if not self._password:
            return self.warehouse_url
        parts = urlsplit(self.warehouse_url)
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return parts._replace(netloc=f"{user}:{self._password}@{host}{port}").geturl()

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        # dbt starts inside cli(), so its process inherits exactly this environment
        with _environ(dbt_env(self._full_url())):
            return super().cli(args, **kwargs)


def dbt_resource(settings_or_url: Any) -> WarehouseDbtCliResource:
    """A dbt resource for a `Settings` object (its warehouse_url) or a warehouse URL string."""
    url = settings_or_url if isinstance(settings_or_url, str) else settings_or_url.warehouse_url
    if hasattr(url, "get_secret_value"):
        url = url.get_secret_value()
    resource = WarehouseDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=DBT_EXECUTABLE,
        target=dbt_target(url),
        warehouse_url=redact_url(url),
    )
    resource._password = urlsplit(url).password
    return resource
