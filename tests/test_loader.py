from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshgen.errors import MeshgenError
from meshgen.frontend.loader import _Loader, load_spec_text


def load(text: str):
    return load_spec_text(text, Path("meshgen.yaml"), "meshgen.yaml")


def test_uses_the_c_loader_when_available():
    if hasattr(yaml, "CSafeLoader"):
        assert _Loader is yaml.CSafeLoader


def test_every_node_keeps_its_line_and_column():
    spec = load("project:\n  name: shop\nmodels:\n  - name: a.b\n    tags: [x, y]\n")
    assert spec.data == {"project": {"name": "shop"}, "models": [{"name": "a.b", "tags": ["x", "y"]}]}
    assert spec.positions[("project", "name")] == (2, 9)
    assert spec.key_positions[("project", "name")] == (2, 3)
    assert spec.positions[("models", 0)] == (4, 5)
    assert spec.positions[("models", 0, "tags", 1)] == (5, 15)
    assert str(spec.location(("models", 0, "missing", "deeper"))) == "meshgen.yaml:4:5"


def test_duplicate_keys_are_errors_not_silently_overwritten():
    with pytest.raises(MeshgenError) as error:
        load("a: 1\nb: 2\na: 3\n")
    assert "meshgen.yaml:3:1: error: duplicate key 'a'" in error.value.render()
    assert "line 1" in error.value.render()


def test_dates_stay_text_and_scalars_are_typed():
    spec = load("start: 2024-01-01\nport: 5432\nflag: true\nnothing:\nratio: 1.5\n")
    assert spec.data == {"start": "2024-01-01", "port": 5432, "flag": True, "nothing": None, "ratio": 1.5}


def test_merge_keys_and_anchors_work():
    spec = load("base: &b {type: duckdb, path: x.db}\nother:\n  <<: *b\n  path: y.db\n")
    assert spec.data["other"] == {"type": "duckdb", "path": "y.db"}


def test_block_scalars_are_recorded():
    spec = load("sql: |\n  SELECT 1\n")
    assert ("sql",) in spec.block_scalars


def test_custom_tags_are_refused_with_a_position():
    with pytest.raises(MeshgenError) as error:
        load("a: !!python/object:os.system ls\n")
    assert error.value.render().startswith("meshgen.yaml:1:4: error: invalid YAML")
