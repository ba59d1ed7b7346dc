#!/usr/bin/env bash
# Run the benchmark harness from a fresh clone: `benchmarks/bench.sh [run options]`.
# Uses the .venv of ./test.sh (set up by the same script, with the dev extras that bring
# sqlmesh and dbt), reinstalls meshgen from this checkout, then runs
# `python -m benchmarks run` with the given options.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/dev-venv.sh
exec .venv/bin/python -m benchmarks run "$@"
