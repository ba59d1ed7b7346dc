"""The differential oracle: one spec, run by the real engines on fresh warehouses under
different engine assignments, must leave the same tables.

A scenario deploys dev first (no prod ever run), then prod, then gives the raw
tables one more day and runs both environments on the schedule. After every
step each model table is summarised as (row count, checksum over its sorted
rows, column types), over the columns the spec defines for it.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

duckdb = pytest.importorskip("duckdb")

import demo_data
from conftest import copy_spec, local_prod
from meshgen.build.pipeline import load

T1 = "2024-04-01 00:00:00"  # deploys load everything before this
T2 = "2024-04-02 00:00:00"  # the run a day later
SCD_COLUMNS = ("valid_from", "valid_to")


def meshgen(*args: str, cwd: Path) -> str:
    """Run the real CLI in a child process, with the engines of this venv on PATH; fail with its output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MESHGEN_ENVIRONMENT", None)
    result = subprocess.run([sys.executable, "-m", "meshgen", *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"meshgen {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def assign_all(data: dict, engine: str) -> dict:
    """The spec with every model on one engine: no rules, no overrides, no pins."""
    forced = copy.deepcopy(data)
    forced["engines"] = {"default": engine}
    for model in forced["models"]:
        model.pop("engine", None)
    return forced


def rewrite_spec(spec_path: Path, change: Callable[[dict], dict]) -> None:
    data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    spec_path.write_text(yaml.safe_dump(change(data), sort_keys=False), encoding="utf-8")


def model_columns(spec, name: str) -> list[str]:
    model = spec.model(name)
    columns = [c.name for c in model.contract.columns] if model.contract else [c.name for c in spec.analysis.models[name].output]
    return columns + list(SCD_COLUMNS) if model.kind == "scd_type_2" else columns


@dataclass(frozen=True)
class Table:
    rows: int
    checksum: str
    # Column types, where the spec fixes them (contracts, seeds). Elsewhere each engine derives its own:
    # dbt takes the warehouse's, SQLMesh sqlglot's (SUM of a DECIMAL(18,2) is DECIMAL(38,2) in DuckDB,
    # DECIMAL(18,2) to sqlglot), so those are compared by value only.
    types: tuple[tuple[str, str], ...]


def summarise(database: Path, spec, env: str) -> dict[str, Table]:
    """Every model table of an environment: rows, checksum of the sorted rows, column types.

    The checksum reads exactly the spec's columns, so a table missing one fails here.
    """
    tables = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        for model in spec.models:
            schema = model.schema if env == "prod" else f"{model.schema}__{env}"
            columns = model_columns(spec, model.name)
            text = ", ".join(f"COALESCE(CAST(\"{c}\" AS VARCHAR), '<null>')" for c in columns)
            count, checksum = connection.execute(
                f"SELECT COUNT(*), md5(COALESCE(string_agg(r, chr(10) ORDER BY r), '')) "
                f'FROM (SELECT concat_ws(chr(31), {text}) AS r FROM "{schema}"."{model.table}")'
            ).fetchone()
            found = dict(
                connection.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                    [schema, model.table],
                ).fetchall()
            )
            declared = model.contract is not None or model.seed is not None
            types = tuple((c, found.get(c, "missing")) for c in columns) if declared else ()
            tables[model.name] = Table(count, checksum, types)
    return tables


@dataclass
class Scenario:
    """How to set up a fresh copy of a spec and its raw data, before and after the extra day."""

    make_project: Callable[[Path], Path]  # folder -> spec path
    load_raw: Callable[[Path, object], None]  # (database, spec) -> the first raw data
    load_next_day: Callable[[Path, object], None]  # (database, spec) -> the raw data a day later
    database: str = "warehouse.duckdb"


def load_rows(database: Path, spec, data: dict) -> None:
    with duckdb.connect(str(database)) as connection:
        demo_data.seed(connection, spec, data)


def _example_project(folder: Path) -> Path:
    spec_path = copy_spec("example.yaml", folder)
    local_prod(spec_path)  # prod on the local DuckDB file too
    return spec_path


EXAMPLE = Scenario(
    make_project=_example_project,
    load_raw=lambda database, spec: load_rows(database, spec, demo_data.generate()),
    load_next_day=lambda database, spec: load_rows(database, spec, demo_data.next_day(demo_data.generate())),
)


STEPS = (("deploy", "dev", T1), ("deploy", "prod", T1), ("run", "dev", T2), ("run", "prod", T2))


def step_label(verb: str, env: str, at: str) -> str:
    return f"{verb} {env} at {at}"


@dataclass
class Played:
    project: Path  # the spec's folder, as the last step left it
    steps: dict[str, dict[str, Table]]  # step -> model -> table
    outputs: dict[str, str]  # step -> what meshgen printed
    seconds: dict[str, float]  # step -> how long meshgen took
    warehouses: dict[str, Path]  # step -> a copy of the warehouse file right after it


def play(scenario: Scenario, folder: Path, assignment: Callable[[dict], dict] | None) -> Played:
    """Deploy dev, then prod, from a fresh warehouse; add a day of data; run dev, then prod."""
    spec_path = scenario.make_project(folder)
    if assignment is not None:
        rewrite_spec(spec_path, assignment)
    spec = load(spec_path)
    database = spec_path.parent / scenario.database
    assert not database.exists(), "a scenario starts from a fresh warehouse"
    scenario.load_raw(database, spec)
    played = Played(spec_path.parent, {}, {}, {}, {})
    for verb, env, at in STEPS:
        if verb == "run" and env == "dev":
            scenario.load_next_day(database, spec)
        label = step_label(verb, env, at)
        started = time.monotonic()
        played.outputs[label] = meshgen(verb, spec_path.name, "--env", env, "--execution-time", at, cwd=spec_path.parent)
        played.seconds[label] = time.monotonic() - started
        played.steps[label] = summarise(database, spec, env)
        # Views name the database by its file name: each copy keeps it, in a folder of its own.
        copy = folder.parent / f"{folder.name}-after-{verb}-{env}" / database.name
        copy.parent.mkdir()
        copy.write_bytes(database.read_bytes())
        played.warehouses[label] = copy
    return played


def differences(left: dict[str, dict[str, Table]], right: dict[str, dict[str, Table]]) -> list[str]:
    """What differs between two scenarios' tables, step by step and model by model."""
    found = []
    for step, tables in left.items():
        for model, table in tables.items():
            other = right[step][model]
            if table != other:
                found.append(f"{step}: {model}: {table} != {other}")
    return found
