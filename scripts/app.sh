#!/usr/bin/env bash
# The analytics app: Streamlit on http://127.0.0.1:${PORT:-8501}, reading the warehouse
# (QUANT_WAREHOUSE_URL, default data/warehouse.duckdb) read-only. Runs beside `dagster dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/streamlit ]; then
  bash scripts/setup.sh
fi
exec .venv/bin/streamlit run streamlit_app/Home.py \
  --server.address 127.0.0.1 --server.port "${PORT:-8501}" --server.headless true \
  --browser.gatherUsageStats false --client.toolbarMode viewer "$@"
