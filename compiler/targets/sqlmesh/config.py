"""SQLMesh's config.py (a gateway per environment) and the macros that guard each environment's state."""

from __future__ import annotations

import posixpath
from typing import Any

from ...execution import ENVIRONMENT_OVERRIDE, STAGING_SUFFIX, UNIT_TEST_GATEWAY, project_start
from ...ir import Environment, EnvRef, Gateway, Spec
from ...warehouses import INTEGER_KEYS, database_file, warehouse
from ..files import GeneratedFile
from ..render import render


def default_environment(spec: Spec) -> Environment:
    """The environment SQLMesh uses without `--gateway`: dev when there is one (local, cheap)."""
    return next((e for e in spec.environments if e.name == "dev"), spec.environments[0])


# -- config -----------------------------------------------------------------


def _setting(value: Any, integer: bool = False) -> tuple[str, Any]:
    """(how config.py reads it, the value): a literal, or an environment variable read when the config loads."""
    if isinstance(value, EnvRef):
        return ("env_int" if integer else "env"), value.name
    return "literal", value


def _connection(spec: Spec, gateway: Gateway) -> list[tuple[str, str, Any]]:
    """The gateway's connection as (key, how it is read, value) for config.py's template."""
    if database_file(gateway):
        path = spec.path_from(spec.output.sqlmesh, database_file(gateway))
        items = [("type", "literal", gateway.type), ("database", "path", path)]
        if gateway.get("extensions"):
            items.append(("extensions", "literal", list(gateway.get("extensions"))))
        return items
    items = [("type", "literal", gateway.type)]
    facts = warehouse(gateway.type)
    # The connection's defaults (PostgreSQL's port): SQLMesh, unlike dbt, requires some of them.
    defaults = [(key, value) for key, value in facts.profile_defaults.items() if key in facts.sqlmesh_keys and gateway.get(key) is None]
    items += [(facts.sqlmesh_keys[key], *_setting(value, integer=key in INTEGER_KEYS)) for key, value in [*gateway.settings, *defaults]]
    if facts.auth_methods and gateway.get("password"):
        items.append(("method", "literal", facts.auth_methods[2]))
    return items


def config_file(spec: Spec) -> GeneratedFile:
    gateways = [
        {
            "name": env.name,
            "driver": warehouse(spec.gateway(env.gateway).type).driver("sqlmesh").module,
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
        unit_test_gateway=UNIT_TEST_GATEWAY,
        spec_folder=spec.path_from(spec.output.sqlmesh, ".") if _has_python_models(spec) else None,
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "config.py"), text)


def _has_python_models(spec: Spec) -> bool:
    return any(m.language == "python" and spec.analysis.engine(m.name) == "sqlmesh" for m in spec.models)


def guard_file(spec: Spec) -> GeneratedFile:
    text = render(
        "sqlmesh/meshgen_macros.py.j2",
        prod=[e.name for e in spec.environments if e.is_prod],
        override=ENVIRONMENT_OVERRIDE,
        staging=STAGING_SUFFIX,
    )
    return GeneratedFile(posixpath.join(spec.output.sqlmesh, "macros", "meshgen.py"), text)
