#!/usr/bin/env bash
# Run the benchmark harness from a fresh clone: `benchmarks/bench.sh [run options]`.
# Uses the .venv of ./test.sh (set up by the same script, with the dev extras that bring
# sqlmesh and dbt), reinstalls meshgen from this checkout, then runs
# `python -m benchmarks run` with the given options.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/dev-venv.sh
# meshgen[fast] (the compiled sqlglot, of the same release as .venv's) in .venv-bench-fast: SQLMesh cannot
# share a venv with it. Its commands are measured beside the pure-Python ones.
sqlglot_version=$(.venv/bin/python -c "import sqlglot; print(sqlglot.__version__)")
fast_stamp=".venv-bench-fast/.bench-$(sha256sum pyproject.toml | cut -c1-16)-$sqlglot_version"
if [ ! -f "$fast_stamp" ]; then
  "${PYTHON:-python3}" -m venv --clear .venv-bench-fast
  .venv-bench-fast/bin/python -m pip install --quiet --disable-pip-version-check ".[fast]" "sqlglot[c]==$sqlglot_version"
  touch "$fast_stamp"
fi
.venv-bench-fast/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall .
exec .venv/bin/python -m benchmarks run --fast-bin .venv-bench-fast/bin "$@"
