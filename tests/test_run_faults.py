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
    spec = copy_spec("minimal.yaml", tmp_path)
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
    assert "Traceback" not in output
