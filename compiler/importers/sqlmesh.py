"""`meshgen import sqlmesh`: a SQLMesh project as a meshgen spec that builds the same tables.

SQLMesh itself loads the project and renders every model's query (macros such as `@EACH`
expanded, model names fully qualified); this module maps each model onto the spec language.
A time-range model is rendered with an interval no data falls in, and the predicates that
compare against that interval (SQLMesh's `@start_ds`/`@end_ds` filter) are taken out: meshgen
writes each engine's own filter. Built-in audits become contract constraints; what cannot be
carried over goes into the report. Every model goes on SQLMesh (`engines.default: sqlmesh`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlglot import exp

from ..errors import Location, fail
from ..sqltext import compiled_sqlglot, sqlmesh_beside_compiled
from .report import Imported
from .dbt_names import plain_identifier

# The interval a time-range model is rendered for: no data is dated in it, so any predicate
# that names it is SQLMesh's time filter.
_NO_INTERVAL = "1111-11-11"
_KINDS = {"FULL": "full", "VIEW": "view", "INCREMENTAL_BY_UNIQUE_KEY": "incremental_by_unique_key",
          "INCREMENTAL_BY_TIME_RANGE": "incremental_by_time_range", "SCD_TYPE_2": "scd_type_2",
          "SCD_TYPE_2_BY_TIME": "scd_type_2", "SEED": "seed"}


def load_context(folder: Path, gateway: str | None):
    if not any((folder / name).is_file() for name in ("config.yaml", "config.yml", "config.py")):
        raise fail(Location(str(folder)), "is not a SQLMesh project (no config.yaml or config.py)", "pass the folder that holds the project's config")
    if compiled_sqlglot():
        raise sqlmesh_beside_compiled(str(folder))
    try:
        from sqlmesh import Context
    except ImportError:
        raise fail(Location(str(folder)), "SQLMesh is not installed in this Python", "pip install sqlmesh") from None
    try:
        return Context(paths=str(folder), gateway=gateway)
    except Exception as error:  # noqa: BLE001 - SQLMesh's own load errors, shown as they are
        raise fail(Location(str(folder / "config.yaml")), f"SQLMesh could not load the project: {str(error).strip()}",
                   "run `sqlmesh info` in the project to see SQLMesh's own report") from None


def import_project(context, folder: Path) -> Imported:
    imported = Imported(spec={})
    dialect = context.config.model_defaults.dialect or "duckdb"
    models = {m.fqn: m for m in context.models.values() if not m.kind.is_external}
    externals = {m.fqn: m for m in context.models.values() if m.kind.is_external}
    names = {fqn: _name(m) for fqn, m in {**models, **externals}.items()}
    spec_models = []
    for fqn in sorted(models, key=lambda f: names[f]):
        entry = _model(models[fqn], names, dialect, folder, imported)
        if entry:
            spec_models.append(entry)
    sources = [_source(m, names[fqn], dialect) for fqn, m in sorted(externals.items(), key=lambda i: names[i[0]])]
    spec: dict[str, Any] = {"meshgen": 1, "project": {"name": plain_identifier(folder.resolve().name), "dialect": dialect}}
    if sources:
        spec["sources"] = sources
    spec["engines"] = {"default": "sqlmesh"}
    spec["models"] = spec_models
    imported.spec = spec
    imported.report.add("config.yaml:1", "the gateways of the SQLMesh config",
                        "the spec's environments (dev, prod) use meshgen's default gateway, a DuckDB file warehouse.duckdb next to "
                        "the spec; point `gateways:` at the team's warehouse")
    return imported


def _name(model) -> str:
    table = exp.to_table(model.fqn)
    return f"{plain_identifier(table.db)}.{plain_identifier(table.name)}"


def _where(model, folder: Path) -> str:
    path = Path(model._path) if model._path else folder / "models"
    return f"{os.path.relpath(path, folder)}:1"


def _model(model, names: dict[str, str], dialect: str, folder: Path, imported: Imported) -> dict | None:
    report, where = imported.report, _where(model, folder)
    kind = _KINDS.get(model.kind.name)
    if not model.is_sql and not model.is_seed:
        report.add(where, f"Python model {model.name}", "not imported: wrap its function as a meshgen Python model (`python:`)")
        return None
    if kind is None:
        report.add(where, f"kind {model.kind.name} of {model.name}", "not imported: meshgen has no such kind")
        return None
    name = names[model.fqn]
    schema, _, table = name.partition(".")
    entry: dict[str, Any] = {"name": name, "kind": kind}
    entry.update(_kind_keys(model, kind))
    for key in ("description", "owner"):
        if getattr(model, key):
            entry[key] = str(getattr(model, key))
    tags = [t for t in model.tags if re.fullmatch(r"[A-Za-z0-9_.-]+", t)]
    for tag in sorted(set(model.tags) - set(tags)):
        report.add(where, f"tag {tag!r} of {model.name}", "dropped: meshgen tags are letters, digits, `_`, `.` or `-`")
    if tags:
        entry["tags"] = tags
    if model.cron and model.cron != "@daily":
        entry["cron"] = model.cron
    contract = _contract(model, dialect, where, report)
    if contract:
        entry["contract"] = contract
    if kind == "seed":
        seed_file = f"seeds/{Path(model.kind.path).name}"
        imported.copies[seed_file] = (Path(model._path).parent / model.kind.path).resolve()
        entry["seed_file"] = seed_file
    else:
        sql_file = f"sql/{schema}/{table}.sql"
        imported.files[sql_file] = _plain_query(model, names, dialect, kind, where, report)
        entry["sql_file"] = sql_file
    return entry


def _kind_keys(model, kind: str) -> dict:
    keys: dict[str, Any] = {}
    if kind == "incremental_by_time_range":
        keys["time_column"] = model.time_column.column.name.lower()
        if model.start:
            keys["start"] = str(model.start)[:10]
    if kind in ("incremental_by_unique_key", "scd_type_2"):
        unique = [k.name.lower() for k in model.unique_key]
        keys["unique_key"] = unique[0] if len(unique) == 1 else unique
    if kind == "scd_type_2" and getattr(model.kind, "updated_at_name", None) is not None:
        keys["updated_at"] = model.kind.updated_at_name.name.lower()
    return keys


def _plain_query(model, names: dict[str, str], dialect: str, kind: str, where: str, report) -> str:
    try:
        query = model.render_query(start=_NO_INTERVAL, end=_NO_INTERVAL)
    except Exception as error:  # noqa: BLE001 - SQLMesh's render errors, shown as they are
        raise fail(Location(where), f"SQLMesh could not render {model.name}: {error}", "run `sqlmesh render` on the model") from None
    for table in list(query.find_all(exp.Table)):
        fqn = exp.table_name(table, identify=True)
        name = names.get(fqn) or names.get(exp.table_(table.name, table.db, table.catalog, quoted=True).sql())
        if name:
            schema, _, table_name = name.partition(".")
            table.set("catalog", None)
            table.set("db", exp.to_identifier(schema))
            table.set("this", exp.to_identifier(table_name))
    if kind == "incremental_by_time_range":
        _drop_time_filter(query)
        report.add(where, f"the time-range filter of {model.name}", "taken out: meshgen writes each engine's own filter on the time column")
    return query.sql(dialect=dialect, pretty=True) + "\n"


def _drop_time_filter(query: exp.Expression) -> None:
    """Removes each AND-ed predicate that compares with the rendering interval."""
    for where in list(query.find_all(exp.Where)):
        kept = [p for p in where.this.flatten() if not _names_interval(p)] if isinstance(where.this, exp.And) else (
            [] if _names_interval(where.this) else [where.this])
        if kept:
            where.set("this", exp.and_(*kept))
        else:
            where.pop()


def _names_interval(predicate: exp.Expression) -> bool:
    return any(lit.is_string and lit.this.startswith(_NO_INTERVAL) for lit in predicate.find_all(exp.Literal))


def _contract(model, dialect: str, where: str, report) -> dict | None:
    types = model.columns_to_types or {}
    if not types or any(t.this == exp.DataType.Type.UNKNOWN for t in types.values()):
        if model.audits:
            report.add(where, f"the audits of {model.name}", "not imported: its column types are unknown (declare `columns`)")
        return None
    constraints = _constraints(model, where, report)
    descriptions = model.column_descriptions or {}
    columns: dict[str, Any] = {}
    for column, data_type in types.items():
        entry: dict[str, Any] = {"type": data_type.sql(dialect=dialect).lower()}
        if descriptions.get(column):
            entry["description"] = descriptions[column]
        if constraints.get(column):
            entry["constraints"] = constraints[column]
        columns[column.lower()] = entry if len(entry) > 1 else entry["type"]
    return {"columns": columns}


def _constraints(model, where: str, report) -> dict[str, list]:
    found: dict[str, list] = {}
    for name, args in model.audits:
        mapped = _audit_constraints(name, args)
        if mapped is None:
            report.add(where, f"audit {name} of {model.name}", "not imported: meshgen has no constraint for it")
            continue
        for column, constraint in mapped:
            found.setdefault(column, []).append(constraint)
    return found


def _columns(value: exp.Expression) -> list[str]:
    return [c.name.lower() for c in value.find_all(exp.Column)]


def _audit_constraints(name: str, args: dict) -> list[tuple[str, Any]] | None:
    if name in ("not_null", "unique_values"):
        constraint = "not_null" if name == "not_null" else "unique"
        return [(c, constraint) for c in _columns(args["columns"])]
    if name == "accepted_values" and "column" in args:
        values = [v.to_py() for v in args["is_in"].find_all(exp.Literal)]
        return [(_columns(args["column"])[0], {"accepted_values": values})]
    if name == "accepted_range" and "column" in args and not args.get("inclusive", exp.true()) == exp.false():
        bounds = [args[k].to_py() if k in args else None for k in ("min_v", "max_v")]
        return [(_columns(args["column"])[0], {"range": bounds})]
    return None


def _source(model, name: str, dialect: str) -> dict:
    entry: dict[str, Any] = {"name": name}
    if model.description:
        entry["description"] = model.description
    types = model.columns_to_types or {}
    if types:
        entry["columns"] = {c.lower(): t.sql(dialect=dialect).lower() for c, t in types.items()}
    return entry
