"""What meshgen knows of each warehouse (gateway type): one entry each, read by every target.

Adding a warehouse is one entry here and its gateway definition in the JSON
Schema (see ARCHITECTURE.md). A test checks that every gateway type the
schema allows has an entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .ir import Gateway

# The versions meshgen's own tests run the generated projects with.
SQLMESH_VERSION = "0.236.4"
DBT_CORE_VERSION = "1.11.16"


@dataclass(frozen=True)
class MissingOverload:
    """A call the warehouse has no function for with these argument types (found on sqlglot's typed tree).

    `function` is sqlglot's expression class (`Round` for ROUND, `Mod` for %); `arguments`
    maps its argument names to a type family ("float", "boolean", "*" for any). With `cast`, the
    float arguments are cast to it and the result back to its own type, which keeps the value
    and type the other warehouses compute; without, the spec must change (`hint`).
    """

    function: str
    arguments: Mapping[str, str]
    cast: str = ""
    hint: str = ""


@dataclass(frozen=True)
class Driver:
    module: str  # what the engine imports
    requirement: str  # the pip requirement that installs it, pinned as the generated requirements pin it


@dataclass(frozen=True)
class Warehouse:
    name: str  # the gateway `type`
    dbt_adapter_version: str  # of the dbt-<name> package
    # Spec connection key -> dbt profile key, and -> SQLMesh connection key (DuckDB's path is placed separately).
    profile_keys: Mapping[str, str] = field(default_factory=dict)
    sqlmesh_keys: Mapping[str, str] = field(default_factory=dict)
    profile_defaults: Mapping[str, Any] = field(default_factory=dict)
    # Where dbt puts what has no schema of its own (test failures, ...); "" for BigQuery's dataset.
    target_schema: str = "public"
    # The precision and scale it gives a bare DECIMAL/NUMERIC (None: unbounded, written bare).
    decimal_default: tuple[int, int] | None = (38, 0)
    # dbt's upsert strategy: delete+insert where it is reliable and cheap, merge elsewhere.
    upsert: str = "merge"
    dbt_python: bool = False  # whether its dbt adapter runs Python models
    # A warehouse that is a local file (DuckDB): the file a gateway without `path` uses. "" for servers.
    default_file: str = ""
    # Servers whose clients name the authentication method: (dbt's with a password, dbt's without, SQLMesh's with one).
    auth_methods: tuple[str, str, str] | None = None
    missing_overloads: tuple[MissingOverload, ...] = ()
    # Whether it knows every spelling sqlglot reads in its dialect (DuckDB: `double`; PostgreSQL
    # wants `double precision`), so a spec type in its dialect can be passed on as written.
    accepts_sqlglot_types: bool = False
    # The module SQLMesh's connection imports to reach it, installed by the `sqlmesh[<name>]` extra,
    # or by `sqlmesh_driver_package` where that extra would build it from source (psycopg2 needs
    # PostgreSQL's headers and a compiler; psycopg2-binary is the same module, prebuilt).
    sqlmesh_driver: str = ""
    sqlmesh_driver_package: str = ""

    @property
    def dbt_adapter(self) -> str:
        return f"dbt-{self.name}"

    def driver(self, engine: str) -> Driver:
        """What `engine` (sqlmesh | dbt) imports to work on this warehouse, and what installs it."""
        if engine == "sqlmesh":
            return Driver(self.sqlmesh_driver, self.sqlmesh_driver_package or f"sqlmesh[{self.name}]=={SQLMESH_VERSION}")
        return Driver(f"dbt.adapters.{self.name}", f"{self.dbt_adapter}=={self.dbt_adapter_version}")


# PostgreSQL rounds, truncates and takes remainders and logarithms to a base of NUMERIC only;
# DuckDB's division yields a double (sqlglot spells that out as a cast when it transpiles).
_POSTGRES_MISSING = (
    MissingOverload("Round", {"this": "float", "decimals": "*"}, cast="decimal"),
    MissingOverload("Trunc", {"this": "float", "decimals": "*"}, cast="decimal"),
    MissingOverload("Log", {"this": "float", "expression": "*"}, cast="decimal"),
    MissingOverload("Log", {"this": "*", "expression": "float"}, cast="decimal"),
    MissingOverload("Mod", {"this": "float", "expression": "*"}, cast="decimal"),
    MissingOverload("Mod", {"this": "*", "expression": "float"}, cast="decimal"),
    MissingOverload("Max", {"this": "boolean"}, hint="use BOOL_OR(...)"),
    MissingOverload("Min", {"this": "boolean"}, hint="use BOOL_AND(...)"),
    MissingOverload("Sum", {"this": "boolean"}, hint="use COUNT(*) FILTER (WHERE ...) or SUM(CASE WHEN ... THEN 1 ELSE 0 END)"),
    MissingOverload("ArgMax", {"this": "*"}, hint="PostgreSQL has no ARG_MAX: use a window (ROW_NUMBER) or DISTINCT ON"),
    MissingOverload("ArgMin", {"this": "*"}, hint="PostgreSQL has no ARG_MIN: use a window (ROW_NUMBER) or DISTINCT ON"),
)

_SNOWFLAKE_KEYS = {
    k: k
    for k in ("account", "user", "password", "private_key_path", "private_key_passphrase", "role", "warehouse", "database", "authenticator")
}

WAREHOUSES: dict[str, Warehouse] = {
    w.name: w
    for w in (
        Warehouse(
            "duckdb",
            "1.11.1",
            profile_keys={"extensions": "extensions"},
            target_schema="main",
            decimal_default=(18, 3),
            upsert="delete+insert",  # DuckDB's MERGE is recent
            dbt_python=True,
            default_file="warehouse.duckdb",
            accepts_sqlglot_types=True,
            sqlmesh_driver="duckdb",
        ),
        Warehouse(
            "postgres",
            "1.11.0",
            profile_keys={"host": "host", "port": "port", "user": "user", "password": "password", "database": "dbname", "sslmode": "sslmode"},
            sqlmesh_keys={"host": "host", "port": "port", "user": "user", "password": "password", "database": "database", "sslmode": "sslmode"},
            profile_defaults={"port": 5432},
            decimal_default=None,
            upsert="delete+insert",
            missing_overloads=_POSTGRES_MISSING,
            sqlmesh_driver="psycopg2",
            sqlmesh_driver_package="psycopg2-binary==2.9.13",
        ),
        Warehouse(
            "snowflake",
            "1.12.4",
            profile_keys=_SNOWFLAKE_KEYS,
            sqlmesh_keys=_SNOWFLAKE_KEYS,
            dbt_python=True,
            sqlmesh_driver="snowflake.connector",
        ),
        Warehouse(
            "bigquery",
            "1.12.1",
            profile_keys={"method": "method", "project": "project", "location": "location", "keyfile": "keyfile"},
            sqlmesh_keys={"project": "project", "location": "location", "method": "method", "keyfile": "keyfile"},
            profile_defaults={"method": "oauth"},
            target_schema="",
            decimal_default=(38, 9),
            dbt_python=True,
            sqlmesh_driver="google.cloud.bigquery",
        ),
        Warehouse(
            "databricks",
            "1.12.8",
            profile_keys={"host": "host", "http_path": "http_path", "token": "token", "catalog": "catalog"},
            sqlmesh_keys={"host": "server_hostname", "http_path": "http_path", "token": "access_token", "catalog": "catalog"},
            target_schema="default",
            decimal_default=(10, 0),
            dbt_python=True,
            sqlmesh_driver="databricks.sql",
        ),
        Warehouse(
            "trino",
            "1.11.0",
            profile_keys={"host": "host", "port": "port", "user": "user", "password": "password", "catalog": "database", "http_scheme": "http_scheme"},
            sqlmesh_keys={"host": "host", "port": "port", "user": "user", "password": "password", "catalog": "catalog", "http_scheme": "http_scheme"},
            profile_defaults={"port": 443, "http_scheme": "https"},
            target_schema="default",
            upsert="delete+insert",
            auth_methods=("ldap", "none", "basic"),
            sqlmesh_driver="trino",
        ),
    )
}
INTEGER_KEYS = frozenset({"port"})


def warehouse(gateway_type: str) -> Warehouse:
    return WAREHOUSES[gateway_type]


def overload_functions() -> tuple[str, ...]:
    """The sqlglot expression classes some warehouse's missing overloads name, sorted."""
    return tuple(sorted({m.function for w in WAREHOUSES.values() for m in w.missing_overloads}))


def database_file(gateway: "Gateway") -> str:
    """A local-file gateway's database file, relative to the spec's folder; "" for a server."""
    default = warehouse(gateway.type).default_file
    return str(gateway.get("path", default)) if default else ""
