"""The JSON Schema is complete, strict and agrees with the example specs."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from conftest import SPECS, run_cli
from meshgen.build.resources import schema_path


def walk(node, path=()):
    if "if" in path:
        return  # `if` subschemas only test a discriminator; they describe nothing
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + (i,))


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def test_schema_is_valid_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description(schema):
    missing = []
    for path, node in walk(schema):
        for name, prop in node.get("properties", {}).items() if isinstance(node.get("properties"), dict) else ():
            if "description" not in prop and not prop.get("$ref", "").startswith("#/$defs/"):
                missing.append("/".join(map(str, path + ("properties", name))))
            elif "$ref" in prop and "description" not in prop:
                target = schema["$defs"][prop["$ref"].split("/")[2]]
                if "description" not in target:
                    missing.append("/".join(map(str, path + ("properties", name))))
    assert missing == []


def test_every_object_with_properties_is_closed(schema):
    open_objects = [
        "/".join(map(str, path))
        for path, node in walk(schema)
        if isinstance(node.get("properties"), dict)
        and "additionalProperties" not in node
        and path[-1:] != ("gateway",)  # the gateway dispatches on `type`; each branch is closed
        and not (len(path) >= 2 and path[-2] == "if")
    ]
    assert open_objects == []


@pytest.mark.parametrize("name", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_example_specs_validate_against_the_raw_schema(schema, name):
    data = yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_meshgen_schema_prints_it(schema):
    result = run_cli("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == schema


@pytest.mark.parametrize("name", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_specs_point_editors_at_the_schema(name):
    first_line = (SPECS / name).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../schemas/meshgen.schema.json"
