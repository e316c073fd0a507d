#!/usr/bin/env bash
# Create .venv from uv.lock with the machine's Python (never a downloaded one).
# Idempotent and quick when nothing changed; both README commands call it.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
PY=$(command -v python3.11 || command -v python3)
# The interpreter's real path: given a shim (pyenv), uv sees a different Python on every
# call and re-creates .venv each time.
PY=$("$PY" -c 'import sys; print(sys.executable)')
if ! "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m pip install --quiet "uv==0.13.9"
fi
"$PY" -m uv sync --frozen --python "$PY" --quiet
