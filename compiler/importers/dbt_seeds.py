"""A seed's column types, as dbt's own seed loader gives them.

dbt reads a seed with agate and asks the adapter for each column's type (`column_types` in the
project wins); the importer asks the same two, so the spec pins the types dbt would create and
both engines load the seed alike.
"""

from __future__ import annotations

from .dbt_run import DbtProject


def seed_types(node: dict, project: DbtProject) -> dict[str, str]:
    from dbt.adapters.factory import get_adapter_class_by_name, load_plugin
    from dbt_common.clients import agate_helper

    config = node["config"]
    declared = {c.lower(): t for c, t in (config.get("column_types") or {}).items()}
    table = agate_helper.from_csv(
        str(project.folder / node["original_file_path"]), text_columns=config.get("column_types") or {},
        delimiter=config.get("delimiter") or ",",
    )
    load_plugin(project.adapter_type)
    adapter = get_adapter_class_by_name(project.adapter_type)
    types = {}
    for index, column in enumerate(table.column_names):
        name = column.lower()
        types[name] = " ".join(str(declared.get(name) or adapter.convert_type(table, index)).lower().split())
    return types
