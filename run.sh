#!/usr/bin/env bash
# Set up .venv and compile the example spec into build/example/.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check .
.venv/bin/meshgen validate specs/example.yaml
.venv/bin/meshgen build specs/example.yaml --out build/example "$@"
echo "generated tree: build/example/"
