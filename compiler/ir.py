"""The intermediate representation: frozen dataclasses built from a validated spec.

Everything after the resolve stage reads these, never raw YAML. Defaults are
already applied; optional text is "" rather than None so templates need no
guards.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping, Union

from .errors import Location
from .frontend.seeds import SeedTable

if TYPE_CHECKING:
    from .analysis.result import Analysis

ENGINES = ("sqlmesh", "dbt")


@dataclass(frozen=True)
class EnvRef:
    """A value the tools read from an environment variable at run time."""

    name: str


Setting = Union[str, int, bool, EnvRef, tuple]


@dataclass(frozen=True)
class Constraint:
    kind: str  # not_null | unique | primary_key | accepted_values | range | check | references
    values: tuple = ()  # accepted_values
    low: float | int | None = None  # range
    high: float | int | None = None
    expression: str = ""  # check
    references: str = ""  # references: `schema.table.column`

    @property
    def referenced_table(self) -> str:
        return self.references.rsplit(".", 1)[0]

    @property
    def referenced_column(self) -> str:
        return self.references.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""
    constraints: tuple[Constraint, ...] = ()
    location: Location = field(default=Location(""), compare=False)

    def has(self, kind: str) -> bool:
        return any(c.kind == kind for c in self.constraints)

    @property
    def not_null(self) -> bool:
        return self.has("not_null") or self.has("primary_key")

    @property
    def unique(self) -> bool:
        return self.has("unique") or self.has("primary_key")


@dataclass(frozen=True)
class Contract:
    name: str  # the contract's key, or the model name for an inline contract
    columns: tuple[Column, ...]
    version: str = ""
    description: str = ""
    owner: str = ""
    freshness: str = ""  # e.g. "1h"
    availability: str = ""  # e.g. "99.9%"
    consumers: tuple[str, ...] = ()
    inline: bool = False
    location: Location = Location("")

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...] = ()
    description: str = ""
    owner: str = ""
    location: Location = Location("")

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]


@dataclass(frozen=True)
class SqlText:
    """A model's SQL and where its first line sits, to report parse errors in place."""

    text: str
    location: Location  # first character of the SQL text in the spec or sql_file
    file: str = ""  # the sql_file as written in the spec, when the SQL lives there


@dataclass(frozen=True)
class UnitTest:
    name: str
    given: tuple[tuple[str, tuple[Mapping[str, Any], ...]], ...]  # (table, rows)
    expect: tuple[Mapping[str, Any], ...]
    description: str = ""
    location: Location = Location("")


@dataclass(frozen=True)
class Model:
    name: str
    language: str  # sql | python
    kind: str
    location: Location
    sql: SqlText | None = None
    entrypoint: str = ""  # python: "module:function"
    seed_file: str = ""  # relative to the spec folder, posix
    seed: SeedTable | None = None  # the seed file's rows, read once
    time_column: str = ""
    unique_key: tuple[str, ...] = ()
    updated_at: str = ""
    start: str = ""
    lookback: int = 0  # intervals before the newest ones that every run loads again (late rows)
    cron: str = "@daily"
    grain: tuple[str, ...] = ()
    owner: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    layer: str = ""
    domain: str = ""
    contract: Contract | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    memory_gb: float = 0
    cpu_cores: float = 0
    depends_on: tuple[str, ...] = ()
    engine_pin: str = ""
    tests: tuple[UnitTest, ...] = ()
    python_digest: str = ""  # sha256 of the entrypoint's module file: a change to it changes the data

    @property
    def interval_unit(self) -> str:
        from .schedule import interval_unit

        return interval_unit(self.cron)

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]


@dataclass(frozen=True)
class Gateway:
    name: str
    type: str
    settings: tuple[tuple[str, Setting], ...]  # connection keys in spec order

    def get(self, key: str, default: Setting | None = None) -> Setting | None:
        return dict(self.settings).get(key, default)


@dataclass(frozen=True)
class Environment:
    name: str
    gateway: str
    description: str = ""
    dbt_threads: int = 4
    backfill_start: str = ""  # first date a deploy of this (non-prod) environment loads; "": each model's start

    @property
    def is_prod(self) -> bool:
        return self.name == "prod"

    def schema_for(self, schema: str, name: str = "") -> str:
        """The one naming rule both engines follow: SQLMesh's virtual layer.

        `name` renames a non-prod environment (MESHGEN_ENVIRONMENT, one per pull request, say).
        """
        return schema if self.is_prod else f"{schema}__{name or self.name}"


@dataclass(frozen=True)
class Condition:
    """A rule condition; every field that is set must hold (implicit AND)."""

    language: tuple[str, ...] = ()
    layer: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    name: tuple[str, ...] = ()
    attribute: str = ""
    operator: str = ""  # gt | gte | lt | lte | equals | in
    operand: Any = None
    any_of: tuple["Condition", ...] = ()
    all_of: tuple["Condition", ...] = ()
    negated: "Condition | None" = None


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    engine: str
    description: str = ""
    location: Location = Location("")


@dataclass(frozen=True)
class Override:
    models: tuple[str, ...]
    engine: str
    reason: str = ""
    location: Location = Location("")


@dataclass(frozen=True)
class Engines:
    default: str = "dbt"
    rules: tuple[Rule, ...] = ()
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class MeshgenSource:
    """Where CI installs meshgen from: `version` (an index), `git` (a URL, at `ref`) or `path` (spec-relative)."""

    kind: str = "version"
    location: str = ""  # the version, URL or path; "" with kind `version`: the running meshgen's
    ref: str = ""


@dataclass(frozen=True)
class SampleData:
    """What the pull-request job loads into a local DuckDB: a command, or a file per source."""

    command: str = ""
    tables: tuple[tuple[str, str], ...] = ()  # (source name, spec-relative .csv or .parquet file)
    location: Location = Location("")


@dataclass(frozen=True)
class Output:
    sqlmesh: str = "transforms/sqlmesh"
    dbt: str = "transforms/dbt"
    contracts: str = "transforms/shared/contracts"
    docs: str = "docs"
    ci_provider: str = "github"
    ci_dir: str = ".github/workflows"
    ci_meshgen: MeshgenSource = MeshgenSource()
    sample_data: SampleData | None = None
    orchestration_dir: str = "orchestration"
    airflow: bool = True
    dagster: bool = True


@dataclass(frozen=True)
class Limits:
    max_parallel: int = 0  # 0: no limit
    max_memory_gb: float = 0
    max_cpu_cores: float = 0


@dataclass(frozen=True)
class Retries:
    """How the generated orchestrators retry a failed model, and how long one engine invocation may take."""

    count: int = 2
    delay_seconds: int = 300
    timeout_minutes: int = 120


@dataclass(frozen=True)
class Project:
    name: str
    dialect: str
    spec_file: str  # the spec's file name, as generated headers cite it
    spec_dir: Path  # where sql_file, seed_file and Python entrypoints are read from
    # The spec's folder relative to the output root (posix); set by the build before emitting,
    # so generated files can point at spec-relative files (DuckDB path, Python modules) from
    # wherever they are, without absolute paths.
    spec_folder: str = "."
    # The output root relative to the top of the git work tree holding it ("." when it is the
    # top, "" when no work tree holds it): CI files are read from the top only.
    repository_offset: str = ""
    owner: str = ""
    description: str = ""
    start: str = ""
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    project: Project
    output: Output
    gateways: tuple[Gateway, ...]
    environments: tuple[Environment, ...]
    sources: tuple[Source, ...]
    contracts: tuple[Contract, ...]  # named contracts, then inline ones
    engines: Engines
    limits: Limits
    models: tuple[Model, ...]
    retries: Retries = Retries()
    analysis: Analysis | None = None  # attached by the analyze stage: the analysed spec
    # Where each top-level section starts (`models`, `contracts`, ...), for changes to whole sections.
    section_locations: Mapping[str, Location] = field(default_factory=dict, compare=False)


    def path_from(self, generated_dir: str, spec_relative: str) -> str:
        """A spec-relative path as seen from a generated folder (both relative to the output root)."""
        depth = [p for p in PurePosixPath(generated_dir).parts if p != "."]
        target = posixpath.join(self.project.spec_folder, spec_relative)
        return posixpath.normpath(posixpath.join(*([".."] * len(depth)), target)) if depth else posixpath.normpath(target)

    @cached_property
    def _models_by_name(self) -> dict[str, Model]:
        return {m.name: m for m in self.models}

    def model(self, name: str) -> Model | None:
        return self._models_by_name.get(name)

    @cached_property
    def _sources_by_name(self) -> dict[str, Source]:
        return {s.name: s for s in self.sources}

    def source(self, name: str) -> Source | None:
        return self._sources_by_name.get(name)

    def require_model(self, name: str) -> Model:
        """The model, or a user error naming the closest model (for names typed on the command line)."""
        model = self.model(name)
        if model is None:
            from .errors import did_you_mean, fail

            hint = did_you_mean(name, self._models_by_name, "models")
            raise fail(Location(self.project.spec_file), f"no model named '{name}'", hint)
        return model

    def gateway(self, name: str) -> Gateway:
        return next(g for g in self.gateways if g.name == name)

    def contract_producers(self) -> dict[str, tuple[str, ...]]:
        producers: dict[str, list[str]] = {}
        for model in self.models:
            if model.contract:
                producers.setdefault(model.contract.name, []).append(model.name)
        return {name: tuple(models) for name, models in producers.items()}
