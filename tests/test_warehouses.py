"""The tables of facts (warehouses, kinds): one entry per value the spec language allows, and each complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, spec_with, write_spec
from meshgen.build.pipeline import build
from meshgen.build.resources import schema_path
from meshgen.semantics.kinds import KIND_KEYS, KINDS
from meshgen.warehouses import WAREHOUSES


def _schema() -> dict:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def test_every_gateway_type_of_the_schema_has_an_entry():
    types = _schema()["$defs"]["gateway"]["properties"]["type"]["enum"]
    assert sorted(types) == sorted(WAREHOUSES)


def test_every_connection_key_of_the_schema_reaches_both_engines():
    definitions = _schema()["$defs"]
    for name, facts in WAREHOUSES.items():
        keys = set(definitions[f"{name}Gateway"]["properties"]) - {"type"}
        if facts.default_file:  # the file path is placed by each target itself
            keys -= {"path"}
        assert keys <= set(facts.profile_keys), (name, keys - set(facts.profile_keys))
        if not facts.default_file:
            assert keys <= set(facts.sqlmesh_keys), (name, keys - set(facts.sqlmesh_keys))


def test_every_kind_of_the_schema_has_an_entry_and_its_keys_are_model_keys():
    model = _schema()["$defs"]["model"]["properties"]
    assert sorted(model["kind"]["enum"]) == sorted(KINDS)
    assert set(KIND_KEYS) <= set(model), set(KIND_KEYS) - set(model)


def test_every_warehouse_names_the_driver_sqlmesh_imports_for_it():
    assert all(facts.sqlmesh_driver for facts in WAREHOUSES.values())


# -- the extras of meshgen's own package agree with the generated requirements --------------

WAREHOUSE_EXTRAS = ("duckdb", "postgres")


def _extras() -> dict[str, list]:
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {name: [Requirement(r) for r in items] for name, items in project["optional-dependencies"].items()}


def _generated_requirements(folder: Path, gateway: dict) -> list:
    """The engine lines of the requirements.txt meshgen writes for a spec on one gateway of that type."""
    from packaging.requirements import Requirement

    model = {"name": "s.a", "sql": "SELECT order_id FROM raw.orders"}
    build(write_spec(folder, spec_with(model, gateways={"w": gateway}, environments={"dev": {"gateway": "w"}})))
    lines = (folder / "transforms/requirements.txt").read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line and not line.startswith(("#", "meshgen-compiler=="))]


def _by_name(requirements) -> dict[str, set[str]]:
    """Each package and the extras asked of it, merged over the list."""
    merged: dict[str, set[str]] = {}
    for requirement in requirements:
        merged.setdefault(requirement.name, set()).update(requirement.extras)
    return merged


GATEWAY_OF = {"duckdb": {"type": "duckdb"}, "postgres": {"type": "postgres", "host": "h", "user": "u", "database": "d"}}


@pytest.mark.parametrize("name", WAREHOUSE_EXTRAS)
def test_a_warehouse_extra_installs_the_packages_the_generated_requirements_pin(tmp_path, name):
    extra = _extras()[name]
    pinned = _generated_requirements(tmp_path, GATEWAY_OF[name])
    assert _by_name(extra) == _by_name(pinned)
    ranges = {r.name: r.specifier for r in extra}
    for requirement in pinned:
        (version,) = [s.version for s in requirement.specifier]
        assert ranges[requirement.name].contains(version), f"{requirement} is outside the extra's {ranges[requirement.name]}"
    assert {str(r) for r in pinned} >= {WAREHOUSES[name].driver(engine).requirement for engine in ("sqlmesh", "dbt")}


def test_engines_is_the_showcase_warehouses_and_dev_has_them_all():
    extras = _extras()
    union = _by_name(r for name in WAREHOUSE_EXTRAS for r in extras[name])
    assert _by_name(extras["engines"]) == union
    dev = _by_name(extras["dev"])
    assert all(package in dev and extras <= dev[package] for package, extras in union.items()), dev
