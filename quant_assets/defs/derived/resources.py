"""The dbt CLI resource, pointed at the warehouse by URL.

profiles.yml reads only environment variables; this resource sets them for each dbt
invocation from `quant_assets.warehouse.dbt_profile.dbt_env`. A URL with a password reaches
the resource as `dg.EnvVar("QUANT_WAREHOUSE_URL")` (quant_assets/defs/secrets.py), so the
UI and the run records show the variable's name, never the password.

Partial parsing: dagster-dbt starts every invocation from the project's
target/partial_parse.msgpack, and dbt throws it away (a full parse, ~5 s) when the
command-line vars, the target or the connection differ from the parse that wrote it. So
the run parameters go in the environment, not in `--vars`, and `build` keeps each
invocation's parse state per warehouse connection and starts the next invocation (the next
asset, the next day) from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from quant_assets.defs.derived.project import (
    DBT_EXECUTABLE,
    PARTIAL_PARSE,
    dbt_environ,
    dbt_project,
)
from quant_assets.defs.secrets import warehouse_url_config
from quant_assets.warehouse.dbt_profile import dbt_env, dbt_target


class WarehouseDbtCliResource(DbtCliResource):
    """DbtCliResource whose profile target and connection come from a warehouse URL."""

    warehouse_url: str

    def cli(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> DbtCliInvocation:
        """`dbt <args>` with the warehouse's connection (and `env`) in its environment."""
        # dbt starts inside cli(), so its process inherits exactly this environment
        with dbt_environ({**dbt_env(self.warehouse_url), **(env or {})}):
            return super().cli(args, **kwargs)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        """No dbt adapter in the run's own process. dagster-dbt builds one for every
        invocation (loading the profile, the project and the adapter: ~3 s of CPU) only to
        fetch row counts and column metadata, which these assets never ask for; it accepts
        None. tests/quant_assets/defs/test_derived_defs.py checks the hook still exists."""
        return None

    def build(
        self,
        context: dg.AssetExecutionContext,
        args: Sequence[str] = ("build",),
        env: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """Stream a dbt invocation's events; it starts from, and leaves, the parse state of
        this warehouse connection."""
        name = context.op_execution_context.op.name
        target = Path("target") / f"{name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
        state = parse_state_path(self.warehouse_url)
        if state.exists():  # dagster-dbt copies the project's state only where none is
            (dbt_project.project_dir / target).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state, dbt_project.project_dir / target / PARTIAL_PARSE)
        invocation = self.cli(list(args), env=env, context=context, target_path=target)
        yield from invocation.stream()
        keep_partial_parse(invocation.target_path, state)


def parse_state_path(warehouse_url: str) -> Path:
    """Where the parse state of one warehouse connection is kept: one file per target and
    connection (dbt re-parses fully when they differ), named by a digest that leaves out
    any password."""
    env = {k: v for k, v in dbt_env(warehouse_url).items() if "PASSWORD" not in k}
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:16]
    return dbt_project.project_dir / dbt_project.target_path / "parse_state" / f"{digest}.msgpack"


def keep_partial_parse(invocation_target: Path, state: Path) -> None:
    """Keep an invocation's partial_parse.msgpack as `state` (atomic replace)."""
    source = Path(invocation_target) / PARTIAL_PARSE
    if not source.exists():
        return
    state.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=state.parent, delete=False) as tmp:
        shutil.copyfile(source, tmp.name)
    os.replace(tmp.name, state)


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
