#!/usr/bin/env bash
# The main job: set up, create the warehouse, materialize the daily graph (offline sample
# data unless vendor keys or QUANT_SOURCE_MODE say otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
# Let Python cache compiled bytecode: where the environment sets PYTHONDONTWRITEBYTECODE,
# every process (each Dagster run worker, code server, test subprocess) recompiles what it
# imports, about 3 s of CPU per import of the definitions.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/quant main "$@"
