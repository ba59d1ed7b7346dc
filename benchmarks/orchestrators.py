"""`python -m benchmarks orchestrators`: the showcase's scheduled run through `meshgen run`, Airflow and Dagster.

Each from a fresh warehouse: `meshgen deploy` of dev, a day of new raw data, then
the run at midnight (every model due), timed, with the engine processes it
started (the commands the run printed as `$ sqlmesh ...`, `$ dbt ...` or
`$ meshgen run ...`, each one engine process) and a digest of every model table
after it, which is the same in every row. The orchestrators run for real
(`airflow dags test`, `dagster job execute`) in the test suite's venvs. Not a
test: nothing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_ENGINE_COMMAND = re.compile(r"\$ (sqlmesh|dbt|meshgen run)\b")
# `meshgen run` prints a line per stage; one with something to run starts one engine process.
_STAGE_LINE = re.compile(r"^\[\d+/\d+\] stage \d+ .*$", re.M)


def main() -> int:
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "specs"), str(REPO)]
    import oracle
    from benchmarks.execution import _digest
    import test_orchestrators as orchestrators

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for runner in ("meshgen run", "airflow", "dagster"):
            root, spec = orchestrators.fresh_example(Path(folder) / runner.replace(" ", "_") / "project")
            oracle.meshgen("deploy", spec.project.spec_file, "--env", "dev", "--execution-time", oracle.T1, cwd=root)
            oracle.EXAMPLE.load_next_day(root / "warehouse.duckdb", spec)
            started = time.monotonic()
            output = _scheduled_run(orchestrators, runner, root, spec)
            seconds = time.monotonic() - started
            processes = _processes(runner, output)
            rows.append((runner, seconds, processes, _digest(oracle.summarise(root / "warehouse.duckdb", spec, "dev"))))
    print("| scheduled run of dev at midnight | seconds | engine processes | digest |")
    print("|---|---|---|---|")
    for runner, seconds, processes, digest in rows:
        print(f"| {runner} | {seconds:.1f} | {processes} | {digest} |")
    return 0


def _processes(runner: str, output: str) -> int:
    if runner == "meshgen run":
        return sum(": nothing" not in line for line in _STAGE_LINE.findall(output))
    return len(_ENGINE_COMMAND.findall(output))


def _scheduled_run(orchestrators, runner: str, root: Path, spec) -> str:
    if runner == "meshgen run":
        import oracle

        return oracle.meshgen("run", spec.project.spec_file, "--env", "dev", "--execution-time", oracle.T2, cwd=root)
    if runner == "airflow":
        result = orchestrators.airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T00:00:00+00:00")
        return result.stdout + result.stderr
    python = orchestrators.repo_venv("dagster", orchestrators.DAGSTER_REQUIREMENT)
    home = root.parent / "dagster-home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    tags = '{"meshgen/execution_time": "2024-04-02 00:00:00"}'
    argv = [str(python.with_name("dagster")), "job", "execute", "-f", orchestrators.DAGSTER_FILE, "-j", "acme_analytics__dev", "--tags", tags]
    result = subprocess.run(argv, cwd=root, env=orchestrators.engines_env(DAGSTER_HOME=str(home)), capture_output=True, text=True)
    return result.stdout + result.stderr


if __name__ == "__main__":
    raise SystemExit(main())
