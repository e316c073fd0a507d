"""The dbt project behind the derived schema, with its manifest ready at load time.

The manifest (target/manifest.json) is not committed: it is parsed here when missing
(a clean clone) or on every load under `dagster dev`. `dbt parse` needs no database and no
network, so loading the code location works offline from a fresh checkout.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The venv's dbt, also when the venv is not activated (dagster started by full path).
DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
PARTIAL_PARSE = "partial_parse.msgpack"


def _parse(project: DbtProject) -> None:
    """`dbt parse` with the target and connection the runs use, so that the parse state it
    leaves (partial_parse.msgpack) is one the runs' invocations can reuse."""
    from quant_assets.settings import get_settings
    from quant_assets.warehouse.dbt_profile import dbt_env, dbt_target

    url = get_settings().warehouse_url
    resource = DbtCliResource(
        project_dir=project, dbt_executable=DBT_EXECUTABLE, target=dbt_target(url)
    )
    with dbt_environ(dbt_env(url)):
        invocation = resource.cli(["parse", "--quiet"], target_path=project.target_path)
    invocation.wait()


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def dbt_environ(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ while a dbt process is started (it inherits them)."""
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


def update_once(target: Path, update: Callable[[], None], *, timeout_s: float = 60.0) -> bool:
    """Run `update` (which rewrites `target`) in one process at a time; False if skipped.

    Several processes load the code location at once (webserver, daemon, run workers), so
    a lock file beside `target` serialises the parse, and a process that waited while
    another rewrote `target` does not parse again.
    """
    before = target.lstat().st_mtime if target.exists() else 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(target.with_suffix(".concurrent-update-lock"), "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{target}: another process held the update lock for {timeout_s:g} s"
                    ) from None
                time.sleep(0.1)
        try:
            if target.exists() and target.lstat().st_mtime > before:
                return False
            update()
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare_manifest(project: DbtProject) -> Path:
    """Parse the project if dagster dev is running or no manifest exists yet; return its path."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        update_once(project.manifest_path, lambda: _parse(project))
    return project.manifest_path


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=Path("target"))
prepare_manifest(dbt_project)
