#!/usr/bin/env bash
# Set up .venv, compile specs/example.yaml into build/example/, load the example's
# raw data into its local DuckDB file and deploy every stage (SQLMesh and dbt) to dev.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# dev runs on DuckDB: its drivers are all it needs (prod's PostgreSQL ones are `.[postgres]`).
.venv/bin/python -m pip install --quiet --disable-pip-version-check ".[duckdb]"
export PATH="$PWD/.venv/bin:$PATH"
# The showcase as a repository of its own (build/example, a git work tree): the spec in specs/,
# the generated tree at the top, where the generated CI workflow must be.
mkdir -p build/example/specs
[ -d build/example/.git ] || git init -q build/example
cp -R specs/. build/example/specs/
meshgen validate build/example/specs/example.yaml
meshgen build build/example/specs/example.yaml --out build/example
python build/example/specs/demo_data.py build/example/specs/example.yaml
meshgen deploy build/example/specs/example.yaml --env dev --out build/example
echo "generated tree: build/example/ · warehouse: build/example/specs/warehouse.duckdb"
