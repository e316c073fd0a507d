"""Loading the definitions stays light: every Dagster run worker and the code server import
`quant_assets.definitions` before doing anything, so a library that only some step uses
(charts, statistics, model training, MLflow) must be imported by the function that needs it.

A fresh interpreter imports the definitions and reports which of those libraries it loaded;
no timing is asserted (benchmarks/README.md has the numbers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# imported only by the steps that draw, test, split, fit or track
HEAVY = (
    "matplotlib", "mpl_toolkits", "scipy.stats", "statsmodels", "sklearn", "xgboost", "mlflow",
    "ray",
)  # fmt: skip
# the session partitions' holidays come from the cache under the data dir once it is written
CALENDARS = "pandas_market_calendars"


def _loaded_after_import(data_dir: Path) -> list[str]:
    """The watched modules in sys.modules after a fresh `import quant_assets.definitions`."""
    watched = [*HEAVY, CALENDARS]
    code = (
        "import json, sys\n"
        "import quant_assets.definitions\n"
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "QUANT_DATA_DIR": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loading_the_definitions_imports_no_heavy_library(tmp_path):
    first = _loaded_after_import(tmp_path)
    # a first load on a new data dir lists the NYSE sessions with pandas_market_calendars
    assert [m for m in first if m != CALENDARS] == []
    assert (tmp_path / "cache" / "closed-weekdays-NYSE.json").exists()
    # the next one (every later run worker) reads the holidays from the cache
    assert _loaded_after_import(tmp_path) == []
