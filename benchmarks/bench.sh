#!/usr/bin/env bash
# Run the benchmark harness from a fresh clone: `benchmarks/bench.sh [run options]`.
# Uses the .venv of ./test.sh (creating it, with the dev extras that bring sqlmesh and
# dbt, exactly as ./test.sh does when it is missing or pyproject.toml changed), reinstalls
# meshgen from this checkout, then runs `python -m benchmarks run` with the given options.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check ".[dev]"
  touch "$stamp"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall .
exec .venv/bin/python -m benchmarks run "$@"
