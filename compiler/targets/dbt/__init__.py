"""The dbt project: profiles, one schema rule, models, seeds, snapshots, sources, data and unit tests.

Only models the analysis puts on dbt become dbt nodes. Cross-engine wiring:

* every dbt node lands by the rule SQLMesh's virtual layer follows (`<schema>`
  in prod, `<schema>__<env>` elsewhere, `<env>` being the target's name unless
  MESHGEN_ENVIRONMENT renames it): `macros/generate_schema_name.sql` implements
  it, and each folder gets its `+schema`;
* a dbt model reads a SQLMesh model through a source `sqlmesh_<schema>` whose
  schema is the same rule evaluated for the target, so dev reads dev;
* dbt models that SQLMesh reads are `access: public`: they are an interface.

Model SQL is the AST from the analysis (never parsed again) with its table
references swapped for `ref()`/`source()` calls, generated in the dialect of
the dev environment's gateway. Every piece of spec text that lands in a file
dbt renders goes through `jinja_literal`, so it reaches dbt as written.
"""

from __future__ import annotations

from ...build.memo import Memo
from ...errors import Diagnostic
from ...ir import Model, Spec
from ..files import GeneratedFile
from ..render import render
from .profiles import dbt_project_yml, profiles_yml
from .project import DbtProject, sqlmesh_source
from .properties import generic_tests, groups, properties_file, sources
from .sql import node_file


def check(spec: Spec) -> list[Diagnostic]:
    """What dbt cannot build, found before anything is written (`meshgen validate` runs it too)."""
    project = DbtProject(spec)
    errors = []
    seen: dict[str, Model] = {}
    for model in project.models:
        other = seen.setdefault(model.table, model)
        if other is not model:
            errors.append(
                Diagnostic(
                    model.location,
                    f"dbt models '{other.name}' and '{model.name}' have the same table name '{model.table}'",
                    "dbt names a model by its table, so tables of dbt models must be unique across schemas: rename one",
                )
            )
    raw_schemas = {s.schema: s for s in reversed(spec.sources)}
    for schema in sorted({sqlmesh_source(n) for n in project.sqlmesh_upstreams()}):
        if schema in raw_schemas:
            errors.append(
                Diagnostic(
                    raw_schemas[schema].location,
                    f"source schema '{schema}' clashes with the dbt source meshgen declares for SQLMesh-built tables",
                    "rename that source schema",
                )
            )
    return errors


def emit(spec: Spec, memo: Memo | None = None) -> list[GeneratedFile]:
    if not any(spec.analysis.engine(m.name) == "dbt" for m in spec.models):
        return []
    project = DbtProject(spec, memo)
    files = [
        GeneratedFile(project.path("dbt_project.yml"), dbt_project_yml(project)),
        GeneratedFile(project.path("profiles.yml"), profiles_yml(project)),
        GeneratedFile(project.path(".gitignore"), render("dbt/gitignore.j2")),
        GeneratedFile(project.path("macros", "generate_schema_name.sql"), render("dbt/generate_schema_name.sql.j2")),
        # What `meshgen deploy` runs around its stages, so a failed deploy leaves the environment as it was.
        GeneratedFile(project.path("macros", "meshgen_deploy.sql"), render("dbt/meshgen_deploy.sql.j2")),
    ]
    if project.has_time_ranges():
        files.append(GeneratedFile(project.path("macros", "meshgen_time_range.sql"), render("dbt/meshgen_time_range.sql.j2")))
    files.extend(generic_tests(project))
    files.extend(sources(project))
    files.extend(groups(project))
    by_folder: dict[str, list[Model]] = {}
    for model in project.models:
        by_folder.setdefault(project.folder(model), []).append(model)
    for folder, models in by_folder.items():
        files.extend(node_file(project, m) for m in models)
        files.append(properties_file(project, folder, models))
    return sorted(files, key=lambda f: f.path)


def emit_models(spec: Spec, names: set[str], memo: Memo | None = None) -> list[GeneratedFile]:
    """The files of these models that their SQL and fingerprints feed: each one's node file."""
    project = DbtProject(spec, memo)
    return [node_file(project, m) for m in project.models if m.name in names]
