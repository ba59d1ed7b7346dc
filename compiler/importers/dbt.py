"""`meshgen import dbt`: a dbt project as a meshgen spec that builds the same tables.

dbt itself parses and compiles the project (dbt_run.py), so every Jinja loop, macro and docs
block is already rendered; this module maps dbt's manifest onto the spec language:

- models: their compiled SQL with dbt's relations renamed to plain `schema.table`
  (dbt_names.py), materializations to kinds, descriptions, owners (`meta.owner`), tags;
- ephemeral models: dbt inlines them into their readers as CTEs, which the compiled SQL keeps;
- seeds: the CSV copied, every column's type pinned to the one dbt's seed loader gives it;
- sources: with the columns the project declares or the warehouse's catalogue knows;
- tests: contract constraints (dbt_tests.py), in an inline contract with the exact types.

Every model goes on dbt (`engines.default: dbt`), so the import changes nothing until rules move
models. What is not carried over goes into the report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import Location, fail
from .dbt_names import Relations, node_name, plain_identifier, source_name
from .dbt_run import DbtProject
from .dbt_tests import TestConstraints, map_tests
from .report import Imported, Report

_IMPORTED = ("model", "seed", "snapshot")
# Model settings with no meshgen counterpart: reported when set.
_UNCARRIED_CONFIG = ("pre-hook", "post-hook", "grants", "sql_header", "indexes", "persist_docs")
_OTHER_RESOURCES = ("exposures", "metrics", "semantic_models", "saved_queries", "unit_tests")


def import_project(project: DbtProject) -> Imported:
    manifest = project.manifest
    imported = Imported(spec={})
    report = imported.report
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] in _IMPORTED}
    ephemeral = {uid for uid, n in nodes.items() if n["config"].get("materialized") == "ephemeral"}
    skipped = {uid for uid, n in nodes.items() if _skipped(n, report)}
    built = {uid: n for uid, n in nodes.items() if uid not in ephemeral}
    names = {uid: node_name(n) for uid, n in built.items()}
    source_names = {uid: source_name(s) for uid, s in manifest["sources"].items()}
    _refuse_clashes(project.folder, names, source_names)
    relations = Relations.of(
        project.adapter_type,
        {**{n["relation_name"]: names[uid] for uid, n in built.items() if n.get("relation_name")},
         **{s["relation_name"]: source_names[uid] for uid, s in manifest["sources"].items()}},
    )
    tests = map_tests(manifest, {uid: names[uid] for uid in built if uid not in skipped}, project.folder, report)
    models = [_model(built[uid], names[uid], project, relations, tests, imported)
              for uid in sorted(built, key=lambda u: names[u]) if uid not in skipped]
    _report_ephemeral(manifest, ephemeral, names, report)
    sources = [_source(s, source_names[uid], project) for uid, s in sorted(manifest["sources"].items(), key=lambda i: source_names[i[0]])]
    # A node that cannot be a model is declared as a source, so that what reads it still validates.
    sources += [{"name": names[uid], "description": f"built outside meshgen (dbt {built[uid]['resource_type']} {built[uid]['name']})"}
                for uid in sorted(skipped)]
    _report_other_resources(manifest, report)
    imported.spec = _spec(project, models, sources, _upstream_names(manifest, names), report)
    return imported


def _report_ephemeral(manifest: dict, ephemeral: set[str], names: dict[str, str], report: Report) -> None:
    for uid in sorted(ephemeral):
        node = manifest["nodes"][uid]
        readers = sorted(names[c] for c in manifest["child_map"].get(uid, ()) if c in names)
        report.add(f"{node['original_file_path']}:1", f"ephemeral model {node['name']}",
                   f"inlined as the CTE __dbt__cte__{node['name']} into {', '.join(readers) or 'no model'} (as dbt compiles it)")


def _spec(project: DbtProject, models: list[dict], sources: list[dict], reads: dict[str, set[str]], report: Report) -> dict:
    project_section: dict[str, Any] = {"name": plain_identifier(project.name), "dialect": project.adapter_type}
    layers = _layer_order(models, reads)
    if layers:
        project_section["layers"] = layers
    else:
        for model in models:
            model.pop("layer", None)
        report.add("dbt_project.yml:1", "schemas that read each other both ways", "no `layers:` (the spec orders nothing by layer)")
    report.add("profiles.yml:1", f"the {project.adapter_type} connection of the dbt profile",
               "the spec's environments (dev, prod) use meshgen's default gateway, a DuckDB file warehouse.duckdb next to "
               "the spec; point `gateways:` at the team's warehouse")
    spec: dict[str, Any] = {"meshgen": 1, "project": project_section}
    if sources:
        spec["sources"] = sources
    spec["engines"] = {"default": "dbt"}
    spec["models"] = models
    return spec


def _skipped(node: dict, report: Report) -> bool:
    """Whether a node cannot be a meshgen model (it is reported, and readers see it as a source)."""
    where = f"{node['original_file_path']}:1"
    if node.get("language", "sql") != "sql":
        report.add(where, f"{node['language']} model {node['name']}", "declared as a source: build it outside meshgen, or rewrite it as a meshgen Python model")
        return True
    if node["resource_type"] == "snapshot" and node["config"].get("strategy") != "timestamp":
        report.add(where, f"snapshot {node['name']} with strategy {node['config'].get('strategy')}",
                   "declared as a source: meshgen's scd_type_2 compares an updated_at column (strategy timestamp)")
        return True
    return False


def _refuse_clashes(folder: Path, names: dict[str, str], sources: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for uid, name in list(names.items()) + list(sources.items()):
        if name in seen:
            raise fail(Location(str(folder / "dbt_project.yml")), f"{seen[name]} and {uid} would both be the table {name}",
                       "give one of them another alias or schema")
        seen[name] = uid


def _model(node: dict, name: str, project: DbtProject, relations: Relations, tests: TestConstraints, imported: Imported) -> dict:
    report = imported.report
    schema, _, table = name.partition(".")
    model: dict[str, Any] = {"name": name, "layer": schema}
    model.update(_kind(node, report))
    if node.get("description"):
        model["description"] = node["description"].strip()
    owner = (node.get("meta") or {}).get("owner") or (node["config"].get("meta") or {}).get("owner")
    if owner:
        model["owner"] = str(owner)
    tags = _tags(node, report)
    if tags:
        model["tags"] = tags
    contract = _contract(node, name, project, tests.of(node["unique_id"]), report)
    if contract:
        model["contract"] = contract
    if node["resource_type"] == "seed":
        seed_file = f"seeds/{node['original_file_path'].split('/', 1)[-1]}"
        imported.copies[seed_file] = project.folder / node["original_file_path"]
        model["seed_file"] = seed_file
    else:
        sql_file = f"sql/{schema}/{table}.sql"
        imported.files[sql_file] = relations.plain_sql(node["compiled_code"], node["original_file_path"])
        model["sql_file"] = sql_file
    _report_config(node, report)
    return model


def _kind(node: dict, report: Report) -> dict:
    config = node["config"]
    where = _line_of(node, "materialized")
    if node["resource_type"] == "seed":
        return {"kind": "seed"}
    if node["resource_type"] == "snapshot":
        report.add(_line_of(node, "strategy"), f"snapshot {node['name']}: dbt's columns dbt_valid_from and dbt_valid_to",
                   "kind scd_type_2, which names them valid_from and valid_to (on SQLMesh there is no dbt_scd_id or dbt_updated_at)")
        return {"kind": "scd_type_2", "unique_key": _keys(config.get("unique_key")), "updated_at": config["updated_at"].lower()}
    materialized = config.get("materialized")
    if materialized == "view":
        return {"kind": "view"}
    if materialized == "table":
        return {"kind": "full"}
    if materialized == "incremental":
        return _incremental(node, report)
    report.add(where, f"materialization {materialized} of {node['name']}", "kind full (a table rebuilt on every run)")
    return {"kind": "full"}


def _incremental(node: dict, report: Report) -> dict:
    config = node["config"]
    if "is_incremental" in node.get("raw_code", ""):
        report.add(_line_of(node, "is_incremental"), f"the is_incremental() filter of {node['name']}",
                   "not carried over: the model selects every row, and each run replaces rows by key (or interval)")
    if config.get("incremental_strategy") == "microbatch":
        kind: dict[str, Any] = {"kind": "incremental_by_time_range", "time_column": config["event_time"].lower()}
        if config.get("begin"):
            kind["start"] = str(config["begin"])[:10]
        return kind
    if config.get("unique_key"):
        return {"kind": "incremental_by_unique_key", "unique_key": _keys(config["unique_key"])}
    report.add(_line_of(node, "materialized"), f"incremental model {node['name']} without a unique_key (strategy append)",
               "kind full: meshgen has no append-only kind")
    return {"kind": "full"}


def _keys(value: Any) -> Any:
    keys = [str(k).lower() for k in (value if isinstance(value, list) else [value])]
    return keys[0] if len(keys) == 1 else keys


def _tags(node: dict, report: Report) -> list[str]:
    tags = []
    for tag in node.get("tags") or ():
        if re.fullmatch(r"[A-Za-z0-9_.-]+", tag):
            tags.append(tag)
        else:
            report.add(_line_of(node, "tags"), f"tag {tag!r} of {node['name']}", "dropped: meshgen tags are letters, digits, `_`, `.` or `-`")
    return tags


def _contract(node: dict, name: str, project: DbtProject, constraints: dict, report: Report) -> dict | None:
    """An inline contract when the model has anything column-wise to keep: constraints, descriptions, enforced types."""
    declared = {c.lower(): col for c, col in (node.get("columns") or {}).items()}
    enforced = (node["config"].get("contract") or {}).get("enforced", False)
    wanted = constraints or enforced or any(c.get("description") for c in declared.values()) or node["resource_type"] == "seed"
    if not wanted:
        return None
    types = _column_types(node, project, declared)
    if types is None:
        report.add(_line_of(node, "columns"), f"the column types of {node['name']}",
                   "unknown (the warehouse has not built it and the project does not declare them): its constraints, "
                   "column descriptions and contract are not imported; run `dbt build` once and import again")
        return None
    columns: dict[str, Any] = {}
    for column, column_type in types.items():
        entry: dict[str, Any] = {"type": column_type}
        description = (declared.get(column) or {}).get("description", "").strip()
        if description:
            entry["description"] = description
        if constraints.get(column):
            entry["constraints"] = constraints[column]
        columns[column] = entry if len(entry) > 1 else column_type
    for column in sorted(set(constraints) - set(types)):
        report.add(_line_of(node, column), f"tests of column {column} of {node['name']}", "not imported: the model has no such column")
    return {"columns": columns}


def _column_types(node: dict, project: DbtProject, declared: dict) -> dict[str, str] | None:
    """Every output column's exact type: declared in the project, else the warehouse's; None if any is unknown."""
    if node["resource_type"] == "seed":
        from .dbt_seeds import seed_types

        return seed_types(node, project)
    known = project.catalog.get(node["unique_id"])
    order = list(known) if known else [c for c in declared]
    if not order:
        return None
    types = {}
    for column in order:
        column_type = (declared.get(column) or {}).get("data_type") or (known or {}).get(column)
        if not column_type:
            return None
        types[column] = " ".join(str(column_type).lower().split())
    return types


def _source(source: dict, name: str, project: DbtProject) -> dict:
    entry: dict[str, Any] = {"name": name}
    description = (source.get("description") or source.get("source_description") or "").strip()
    if description:
        entry["description"] = description
    owner = (source.get("meta") or {}).get("owner") or (source.get("source_meta") or {}).get("owner")
    if owner:
        entry["owner"] = str(owner)
    declared = {c.lower(): col.get("data_type") for c, col in (source.get("columns") or {}).items()}
    known = project.catalog.get(source["unique_id"]) or {}
    types = {c: declared.get(c) or known.get(c) for c in (list(known) or list(declared))}
    # Columns only when every type is known: a partial list would hide the others from `SELECT *`.
    if types and all(types.values()):
        entry["columns"] = {c: " ".join(str(t).lower().split()) for c, t in types.items()}
    return entry


def _layer_order(models: list[dict], reads: dict[str, set[str]]) -> list[str]:
    """The models' schemas, each after the schemas it reads; [] if two schemas read each other."""
    schemas = {m["layer"] for m in models}
    needs = {s: set() for s in schemas}
    for model in models:
        needs[model["layer"]] |= {t.partition(".")[0] for t in reads.get(model["name"], ())} & schemas - {model["layer"]}
    order: list[str] = []
    while len(order) < len(schemas):
        ready = sorted(s for s in schemas if s not in order and needs[s] <= set(order))
        if not ready:
            return []
        order.append(ready[0])
    return order


def _upstream_names(manifest: dict, names: dict[str, str]) -> dict[str, set[str]]:
    """meshgen name -> the meshgen names it reads, through ephemeral models (inlined, so read by the reader)."""

    def reads(uid: str, seen: frozenset = frozenset()) -> set[str]:
        found: set[str] = set()
        for parent in manifest["parent_map"].get(uid, ()):
            if parent in names:
                found.add(names[parent])
            elif parent in manifest["nodes"] and parent not in seen:
                found |= reads(parent, seen | {parent})
        return found

    return {name: reads(uid) for uid, name in names.items()}


def _line_of(node: dict, word: str) -> str:
    """`path:line` of the first line of the node's file that mentions `word` (line 1 if none does)."""
    for number, line in enumerate(node.get("raw_code", "").splitlines(), start=1):
        if word in line:
            return f"{node['original_file_path']}:{number}"
    return f"{node['original_file_path']}:1"


def _report_config(node: dict, report: Report) -> None:
    config = node["config"]
    for key in _UNCARRIED_CONFIG:
        if config.get(key):
            report.add(_line_of(node, key.replace("-", "_")), f"{key} of {node['name']}", "not carried over: meshgen has no such setting")


def _report_other_resources(manifest: dict, report: Report) -> None:
    for section in _OTHER_RESOURCES:
        for resource in (manifest.get(section) or {}).values():
            report.add(f"{resource.get('original_file_path', 'dbt_project.yml')}:1", f"{section[:-1].replace('_', ' ')} {resource['name']}",
                       "not carried over: meshgen has no such resource")
    for disabled in (manifest.get("disabled") or {}).values():
        node = disabled[0]
        report.add(f"{node.get('original_file_path', 'dbt_project.yml')}:1", f"disabled {node['resource_type']} {node['name']}", "not imported")
