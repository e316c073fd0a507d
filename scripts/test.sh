#!/usr/bin/env bash
# The whole test suite: set up, lint, then pytest on both warehouse backends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test drives Debian's headless Chromium; install it when we can (root + apt).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: /usr/bin/chromium missing and cannot apt-get install it; the browser test will skip" >&2
  fi
fi
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
# Let Python cache compiled bytecode: where the environment sets PYTHONDONTWRITEBYTECODE,
# every process (each Dagster run worker, code server, test subprocess) recompiles what it
# imports, about 3 s of CPU per import of the definitions.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Two workers (this machine has 2 cores); a test module's tests stay on one worker, so its
# module-scoped fixtures (a built warehouse, a Ray cluster, a `quant main` data dir) are built once.
exec .venv/bin/pytest -n 2 --dist loadfile --durations=25 "$@"
