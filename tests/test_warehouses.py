"""The tables of facts (warehouses, kinds): one entry per value the spec language allows, and each complete."""

from __future__ import annotations

import json

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
