"""The memo: a remembered step keys on all of its input, so no entry can outlive what it was computed from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import spec_with, write_spec
from meshgen.build.memo import Memo
from meshgen.frontend.loader import load_spec
from meshgen.frontend.schema import schema_diagnostics


@dataclass(frozen=True)
class Doubling:
    number: int
    label: str
    note: str = field(default="", compare=False)


def doubled(given: Doubling) -> int:
    return given.number * 2


@dataclass
class Unfrozen:
    number: int


def test_every_compared_field_is_part_of_the_key():
    base = Memo.step_key(doubled, Doubling(1, "a"))
    assert Memo.step_key(doubled, Doubling(2, "a")) != base
    assert Memo.step_key(doubled, Doubling(1, "b")) != base
    assert Memo.step_key(doubled, Doubling(1, "a", note="derived")) == base


def test_a_hit_returns_what_was_computed_and_computes_nothing():
    memo = Memo()
    assert memo.cached(doubled, Doubling(21, "x")) == 42
    again = Memo(dict(memo.used_since(set())))
    assert again.knows(doubled, Doubling(21, "x")) and not again.knows(doubled, Doubling(22, "x"))
    assert again.cached(doubled, Doubling(21, "x")) == 42


def test_steps_that_could_read_more_than_their_input_are_refused():
    outside = 3
    with pytest.raises(TypeError, match="module-level function"):
        Memo().cached(lambda given: given.number * outside, Doubling(1, "a"))
    with pytest.raises(TypeError, match="frozen dataclass"):
        Memo().cached(doubled, Unfrozen(1))


def test_a_schema_item_valid_in_one_section_is_checked_again_in_another(tmp_path: Path):
    # A source entry is no model: remembering its validity by its content alone would let it through.
    source = {"name": "raw.orders", "columns": {"order_id": "integer"}}
    memo = Memo()
    model = {"name": "s.a", "sql": "SELECT order_id FROM raw.orders"}
    first = load_spec(write_spec(tmp_path / "a", spec_with(model, sources=[source])), "a.yaml")
    assert schema_diagnostics(first, memo) == []
    moved = spec_with(model, source, sources=[source])
    second = load_spec(write_spec(tmp_path / "b", moved), "b.yaml")
    assert schema_diagnostics(second, memo), "the same mapping under models: must be refused"
    assert schema_diagnostics(second, None), "and is refused without a memo too"
