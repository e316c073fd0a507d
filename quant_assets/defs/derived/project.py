"""The dbt project behind the derived schema, with its manifest ready at load time.

The manifest (target/manifest.json) is not committed: it is parsed here when missing
(a clean clone) or on every load under `dagster dev`. `dbt parse` needs no database and no
network, so loading the code location works offline from a fresh checkout.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The venv's dbt, also when the venv is not activated (dagster started by full path).
DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))


def _parse(project: DbtProject) -> None:
    DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
        ["parse", "--quiet"], target_path=project.target_path
    ).wait()


def prepare_manifest(project: DbtProject) -> Path:
    """Parse the project if dagster dev is running or no manifest exists yet; return its path."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        run_with_concurrent_update_guard(project.manifest_path, _parse, project=project)
    return project.manifest_path


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=Path("target"))
prepare_manifest(dbt_project)
