"""The package boundaries the design states, checked on the source tree.

- No module imports a private Dagster module (`dagster._*`, or a private part of a
  `dagster_*` library): those change without notice between Dagster releases.
- Domain packages never import Dagster: every capability runs without it.
- `warehouse/` and `schemas/` sit below the domain packages that read through them, so
  importing them pulls in no strategy, simulation, risk or reports code (no cycle).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("quant_assets", "ml", "execution", "api", "streamlit_app", "benchmarks", "tests",
           "scripts")  # fmt: skip
DOMAIN_PACKAGES = (
    "quant_assets/sim",
    "quant_assets/strategy",
    "quant_assets/risk",
    "quant_assets/reports",
    "quant_assets/sources",
    "quant_assets/warehouse",
    "quant_assets/schemas",
    "ml",
    "execution",
    "api",
)
LOWER_LAYERS = ("quant_assets/warehouse", "quant_assets/schemas")
UPPER_PACKAGES = ("quant_assets.strategy", "quant_assets.sim", "quant_assets.risk",
                  "quant_assets.reports")  # fmt: skip


def _is_private_dagster(module: str) -> bool:
    parts = module.split(".")
    return parts[0].startswith("dagster") and any(p.startswith("_") for p in parts[1:])


def private_dagster_imports(source: str) -> list[str]:
    """Private Dagster modules `source` imports, statically or by name (importlib)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.append(node.value)  # a name handed to importlib; prose has spaces
    return [n for n in names if " " not in n and _is_private_dagster(n)]


def _python_files(folders: tuple[str, ...]) -> list[Path]:
    return sorted(p for f in folders if (ROOT / f).is_dir() for p in (ROOT / f).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_detector_finds_every_form_of_private_import():
    src = (
        "import dagster._core.storage.tags\n"
        "from dagster._utils import run_with_concurrent_update_guard\n"
        "from dagster_dbt._internal import x\n"
        "import importlib\nimportlib.import_module('dagster._core.definitions')\n"
        "import dagster as dg\nfrom dagster_dbt import DbtProject\n"
        "'''mentions dagster._ in prose'''\n"
    )
    assert private_dagster_imports(src) == [
        "dagster._core.storage.tags",
        "dagster._utils",
        "dagster_dbt._internal",
        "dagster._core.definitions",
    ]


def test_no_private_dagster_import():
    offenders = {}
    for path in _python_files(SCANNED):
        rel = path.relative_to(ROOT).as_posix()
        if path == Path(__file__).resolve():
            continue
        found = private_dagster_imports(path.read_text(encoding="utf-8"))
        if found:
            offenders[rel] = found
    assert offenders == {}, f"private Dagster imports (use public APIs): {offenders}"


def _run(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_IMPORT_EACH = """
import importlib, json, sys
modules = {modules!r}
watch = {watch!r}
first = {{}}
for name in modules:
    importlib.import_module(name)
    hit = sorted(m for m in sys.modules if any(m == w or m.startswith(w + ".") or m.startswith(w + "_") for w in watch))
    if hit and not first:
        first = {{"module": name, "imported": hit[:5]}}
print(json.dumps(first))
"""


def test_domain_packages_never_import_dagster():
    """Every module of every domain package, imported in one fresh interpreter: the first
    module after which any dagster module is loaded is named."""
    modules = [_module(p) for p in _python_files(DOMAIN_PACKAGES)]
    assert len(modules) > 50  # the walk found the packages
    first = _run(_IMPORT_EACH.format(modules=modules, watch=["dagster"]))
    assert first == {}, f"domain code imported dagster: {first}"


def test_lower_layers_import_no_domain_package():
    """warehouse/ and schemas/ load without strategy, sim, risk or reports code."""
    modules = [_module(p) for p in _python_files(LOWER_LAYERS)]
    first = _run(_IMPORT_EACH.format(modules=modules, watch=list(UPPER_PACKAGES)))
    assert first == {}, f"a lower layer imports a domain package: {first}"


@pytest.mark.parametrize(
    "order",
    [
        ("quant_assets.warehouse.strategy_reads", "quant_assets.strategy.panels"),
        ("quant_assets.strategy.panels", "quant_assets.warehouse.strategy_reads"),
    ],
)
def test_strategy_reads_and_panels_import_in_either_order(order):
    code = (
        "import importlib, json\n"
        f"mods = [importlib.import_module(n) for n in {list(order)!r}]\n"
        "print(json.dumps([m.__name__ for m in mods]))"
    )
    assert _run(code) == list(order)
