#!/usr/bin/env bash
# The main job: set up, create the warehouse, materialize the daily graph (offline sample
# data unless vendor keys or QUANT_SOURCE_MODE say otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
exec .venv/bin/quant main "$@"
