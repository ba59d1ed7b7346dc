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
meshgen validate specs/example.yaml
meshgen build specs/example.yaml --out build/example
python specs/demo_data.py specs/example.yaml
meshgen deploy specs/example.yaml --env dev --out build/example
echo "generated tree: build/example/ · warehouse: specs/warehouse.duckdb"
