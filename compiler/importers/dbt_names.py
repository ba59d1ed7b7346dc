"""dbt's relations and meshgen's table names, both ways.

A dbt relation is `database.schema.identifier`, where the schema is the one dbt built for a
target (`main_staging`). meshgen names a table `schema.table` without any environment: the
node's custom schema (`+schema: staging`), else the folder it sits in under `models/`, else the
target's schema. Compiled SQL is rewritten from the first to the second on sqlglot's syntax tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from ..errors import Location, fail

_NOT_NAME = re.compile(r"[^a-z0-9_]")


def plain_identifier(text: str) -> str:
    """A dbt name as a meshgen name part: lower case, other characters as `_`, never a leading digit."""
    name = _NOT_NAME.sub("_", text.lower())
    return f"_{name}" if not name or name[0].isdigit() else name


def node_name(node: dict) -> str:
    """The meshgen name of a model, seed or snapshot."""
    schema = node["config"].get("schema") or _folder(node) or node["schema"]
    table = node.get("alias") or node["name"]
    return f"{plain_identifier(schema)}.{plain_identifier(table)}"


def source_name(source: dict) -> str:
    return f"{plain_identifier(source['schema'])}.{plain_identifier(source['identifier'])}"


def _folder(node: dict) -> str:
    """The first folder of a model's path under its resource folder (`staging` of `staging/stg_orders.sql`)."""
    if node["resource_type"] != "model":
        return ""
    parts = node["path"].split("/")
    return parts[0] if len(parts) > 1 else ""


def _key(table: exp.Table) -> tuple[str, ...]:
    parts = [table.catalog, table.db, table.name]
    return tuple(p.lower() for p in parts if p)


@dataclass
class Relations:
    """dbt's relation names (as compiled SQL spells them) -> meshgen table names."""

    dialect: str
    names: dict[tuple[str, ...], str]

    @classmethod
    def of(cls, dialect: str, relation_names: dict[str, str]) -> "Relations":
        """From {relation_name: meshgen name}, e.g. {'"db"."main_staging"."stg_orders"': 'staging.stg_orders'}."""
        names: dict[tuple[str, ...], str] = {}
        for relation, name in relation_names.items():
            key = _key(exp.to_table(relation, dialect=dialect))
            names[key] = name
            names[key[1:]] = name  # the same relation written without its database
        return cls(dialect, names)

    def plain_sql(self, compiled: str, path: str) -> str:
        """Compiled SQL with every dbt relation named as meshgen names it, pretty-printed."""
        try:
            tree = sqlglot.parse_one(compiled, read=self.dialect)
        except sqlglot.errors.ParseError as error:
            raise fail(Location(path), f"sqlglot cannot parse the SQL dbt compiled: {str(error).splitlines()[0]}",
                       "simplify the model's SQL, or exclude the model from the import") from None
        for table in list(tree.find_all(exp.Table)):
            name = self.names.get(_key(table))
            if name is None:
                continue
            schema, _, table_name = name.partition(".")
            table.set("catalog", None)
            table.set("db", exp.to_identifier(schema))
            table.set("this", exp.to_identifier(table_name))
        return tree.sql(dialect=self.dialect, pretty=True) + "\n"
