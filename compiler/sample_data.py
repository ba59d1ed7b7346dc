"""`meshgen load-sample-data`: the spec's sample data loaded into an environment's local DuckDB file.

A CI runner starts with no warehouse file, so the pull-request job loads the sources
from fixtures (or the spec's command) before it deploys. Only a local DuckDB file is
ever loaded: a shared warehouse already holds the sources, and prod is never touched.
"""

from __future__ import annotations

import os
import subprocess

from .errors import Location, fail
from .execution import environment
from .interrupts import deferred_interrupt
from .ir import SampleData, Spec
from .warehouses import database_file

# Tells the spec's command which environment it loads (its gateway names the DuckDB file).
SAMPLE_ENV_VARIABLE = "MESHGEN_SAMPLE_ENV"


def load_sample_data(spec: Spec, env_name: str) -> str:
    """Load the sample data into `env_name`'s warehouse; return a one-line report."""
    env = environment(spec, env_name)
    sample = spec.output.sample_data
    where = sample.location if sample else Location(spec.project.spec_file)
    if sample is None:
        raise fail(where, "the spec has no sample data", "add `output.ci.sample_data` with a file per source, or a command that loads them")
    if env.is_prod:
        raise fail(where, f"sample data is never loaded into {env.name}", "load it into a development or CI environment")
    file = database_file(spec.gateway(env.gateway))
    if not file:
        raise fail(where, f"environment {env.name}'s warehouse is not a local DuckDB file", "a shared warehouse already holds the sources: its models read them there")
    if sample.command:
        _run_command(spec, sample, env.name)
        return f"{spec.project.name}: ran the sample-data command for {env.name}"
    _load_tables(spec, sample, spec.project.spec_dir / file)
    return f"{spec.project.name}: {len(sample.tables)} source table(s) loaded into {env.name} ({file})"


def _run_command(spec: Spec, sample: SampleData, env_name: str) -> None:
    done = subprocess.run(sample.command, shell=True, cwd=spec.project.spec_dir, env={**os.environ, SAMPLE_ENV_VARIABLE: env_name})
    if done.returncode != 0:
        raise fail(sample.location, f"the sample-data command failed (exit {done.returncode}): {sample.command}", "its output is above")


def _load_tables(spec: Spec, sample: SampleData, database) -> None:
    import duckdb
    from sqlglot import exp

    database.parent.mkdir(parents=True, exist_ok=True)
    with deferred_interrupt(), duckdb.connect(str(database)) as connection:
        for name, file in sample.tables:
            schema, table = name.split(".")
            path = str(spec.project.spec_dir / file)
            reader = "read_parquet(?)" if file.endswith(".parquet") else "read_csv(?, header = true, all_varchar = true)"
            # Each column cast to the source's declared type: the fixture's text means what the source says.
            columns = ", ".join(
                f'CAST("{c.name}" AS {exp.DataType.build(c.type, dialect=spec.project.dialect).sql("duckdb")}) AS "{c.name}"'
                for c in spec.source(name).columns
            ) or "*"
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            try:
                connection.execute(f'CREATE OR REPLACE TABLE "{schema}"."{table}" AS SELECT {columns} FROM {reader}', [path])
            except duckdb.Error as error:
                raise fail(sample.location, f"sample data {file} does not load into {name}: {error}", "the file needs every column the source declares") from None
