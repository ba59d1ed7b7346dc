# Sourced from the repository root by ./test.sh and benchmarks/bench.sh: the development .venv,
# its dependencies (the dev extras: sqlmesh, dbt, test tools) reinstalled only when pyproject.toml
# changes, and meshgen reinstalled from this checkout every time (the package is mapped from
# compiler/ to meshgen/, so it cannot be installed editable).
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
