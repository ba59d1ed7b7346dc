"""SQLMesh's config.py (a gateway per environment) and the macros that guard each environment's state."""

from __future__ import annotations

import posixpath

from ...execution import ENVIRONMENT_OVERRIDE, project_start
from ...ir import Environment, EnvRef, Gateway, Spec
from ...warehouses import INTEGER_KEYS, warehouse
from ..files import GeneratedFile
from ..render import python_literal, render


def default_environment(spec: Spec) -> Environment:
    """The environment SQLMesh uses without `--gateway`: dev when there is one (local, cheap)."""
    return next((e for e in spec.environments if e.name == "dev"), spec.environments[0])


# -- config -----------------------------------------------------------------


def _python_value(value, integer: bool = False) -> str:
    if isinstance(value, EnvRef):
        return f"env_int({value.name!r})" if integer else f"env({value.name!r})"
    return python_literal(value)


def _connection(spec: Spec, gateway: Gateway) -> str:
    if gateway.type == "duckdb":
        path = spec.path_from(spec.output.sqlmesh, str(gateway.get("path", "warehouse.duckdb")))
        items = ["'type': 'duckdb'", f"'database': str((HERE / {path!r}).resolve())"]
        if gateway.get("extensions"):
            items.append(f"'extensions': {list(gateway.get('extensions'))!r}")
    else:
        items = [f"'type': {gateway.type!r}"]
        mapping = warehouse(gateway.type).sqlmesh_keys
        for key, value in gateway.settings:
            items.append(f"{mapping[key]!r}: {_python_value(value, integer=key in INTEGER_KEYS)}")
        if gateway.type == "trino" and gateway.get("password"):
            items.append("'method': 'basic'")
        # Import the warehouse driver when the gateway is used, not when the config loads:
        # working on dev must not need every environment's driver installed.
        items.append("'check_import': False")
    return "{" + ", ".join(items) + "}"


def config_file(spec: Spec) -> GeneratedFile:
    gateways = [
        {
            "name": env.name,
            "connection": _connection(spec, spec.gateway(env.gateway)),
        }
        for env in spec.environments
    ]
    text = render(
        "sqlmesh/config.py.j2",
        project=spec.project,
        environments=spec.environments,
        gateways=gateways,
        default_gateway=default_environment(spec).name,
        dialect=spec.project.dialect,
        start=project_start(spec),
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "config.py"), text)


def guard_file(spec: Spec) -> GeneratedFile:
    text = render(
        "sqlmesh/meshgen_macros.py.j2",
        prod=[e.name for e in spec.environments if e.is_prod],
        override=ENVIRONMENT_OVERRIDE,
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "macros", "meshgen.py"), text)
