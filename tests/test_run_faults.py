"""`meshgen deploy` and `meshgen run` meet a busy warehouse, a missing engine or Ctrl-C with a message, never a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_spec, run_cli


def test_a_locked_warehouse_stops_everything_before_stage_one(tmp_path: Path):
    spec = copy_spec("minimal.yaml", tmp_path)
    database = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(database)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        result = run_cli("deploy", spec.name, "--env", "dev", cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1, result.output
    assert "warehouse.duckdb: error: the warehouse file is locked by another process" in result.stderr
    assert "hint: DuckDB has one writer" in result.stderr
    assert "[1/" not in result.stdout and "internal error" not in result.output


def test_a_missing_engine_is_named_before_anything_runs(tmp_path: Path, monkeypatch):
    spec = copy_spec("minimal.yaml", tmp_path)
    (tmp_path / "bin").mkdir()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin/python"))  # no engine beside this Python
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # nor on PATH
    result = run_cli("deploy", spec.name, "--env", "dev", cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert "error: the dbt command is not installed" in result.stderr
    assert "hint: " in result.stderr
    assert "[1/" not in result.stdout and not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.integration
def test_ctrl_c_during_a_deploy_says_what_was_applied(tmp_path: Path):
    import duckdb

    spec = copy_spec("minimal.yaml", tmp_path)
    # The source exists, so the interrupt lands while stage 1's dbt build runs (seconds), not in
    # the rollback after a failed prerequisite, which a loaded machine may finish first.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute("CREATE SCHEMA raw")
        connection.execute("CREATE TABLE raw.orders AS SELECT 1 AS order_id, 1 AS customer_id, 9.5::DECIMAL(18,2) AS amount, TIMESTAMP '2024-01-01' AS ordered_at")
    process = subprocess.Popen(
        [sys.executable, "-m", "meshgen", "deploy", spec.name, "--env", "dev"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("[1/"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    output = "".join(seen) + out + err
    assert process.returncode == 130, output
    assert "meshgen: interrupted; the environment was not switched over" in output
    assert "prerequisite failed" not in output and "Traceback" not in output


@pytest.mark.integration
def test_dbt_enforces_the_exact_type_validate_checks(tmp_path: Path):
    """The oracle for the exact-type check: dbt's enforced contract refuses integer for COUNT(*)'s bigint."""
    import yaml

    from conftest import write_spec

    counted = {
        "meshgen": 1,
        "project": {"name": "shop"},
        "sources": [{"name": "raw.orders", "columns": {"order_id": "integer"}}],
        "contracts": {"counts": {"version": "1.0.0", "columns": {"n": "bigint"}}},
        "models": [{"name": "marts.counts", "contract": "counts", "sql": "SELECT COUNT(*) AS n FROM raw.orders"}],
    }
    spec = write_spec(tmp_path, counted)
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute("CREATE SCHEMA raw; CREATE TABLE raw.orders AS SELECT 1 AS order_id")
    counted["contracts"]["counts"]["columns"]["n"] = "integer"
    refused = run_cli("validate", write_spec(tmp_path / "integer", counted).name, cwd=tmp_path / "integer")
    assert refused.exit_code == 1 and "dbt's enforced contract refuses the difference" in refused.stderr

    assert run_cli("build", spec.name, cwd=tmp_path).exit_code == 0
    dbt_dir = tmp_path / "transforms/dbt"
    properties = dbt_dir / "models/marts/_marts__models.yml"
    properties.write_text(properties.read_text().replace("data_type: bigint", "data_type: integer"))  # what validate refused
    dbt = Path(sys.executable).with_name("dbt")
    run = lambda: subprocess.run([str(dbt), "build", "--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir), "--target", "dev"], capture_output=True, text=True)  # noqa: E731
    failed = run()
    assert failed.returncode != 0 and "contract" in failed.stdout.lower(), failed.stdout[-2000:]
    properties.write_text(properties.read_text().replace("data_type: integer", "data_type: bigint"))  # what validate accepted
    passed = run()
    assert passed.returncode == 0, passed.stdout[-2000:]


def test_ctrl_c_during_a_duckdb_query_is_delivered_once_the_query_ends():
    # DuckDB's client, left alone, drops a SIGINT that lands mid-query or raises a RuntimeError:
    # the prerequisite check, the lock check and the sample-data load all query inside this guard.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb\n"
            "from meshgen.interrupts import deferred_interrupt\n"
            "try:\n"
            "    with deferred_interrupt(), duckdb.connect() as connection:\n"
            "        connection.execute('SET enable_progress_bar = false')\n"
            "        print('querying', flush=True)\n"
            "        total = connection.execute('SELECT sum(i * i) FROM range(400000000) t(i)').fetchone()[0]\n"
            "        print('finished', total, flush=True)\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "querying\n"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    n = 400000000
    assert out.splitlines() == [f"finished {(n - 1) * n * (2 * n - 1) // 6}", "interrupted"], err
    assert child.returncode == 0, err


def test_the_interrupt_guard_puts_the_previous_handler_back():
    from meshgen.interrupts import deferred_interrupt

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            signal.raise_signal(signal.SIGINT)
            reached = True
    assert reached
    with deferred_interrupt():
        pass
    assert signal.getsignal(signal.SIGINT) is before
