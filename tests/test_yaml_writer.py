"""The quick YAML writer writes exactly what PyYAML writes with meshgen's dumpers, or leaves it to PyYAML."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgen.targets.dbt.yaml import DbtDumper, Jinja, Row, Unrendered
from meshgen.targets.yaml import WIDTH, Dumper, _QuickWriter, _Unsure, to_yaml

# Characters that change PyYAML's choice of style: indicators, quotes, spaces, breaks, non-ASCII.
TRICKY = "ab Z09_-:#?,'\"[]{}&*!|>%@`.~=/()\t\n\x85\u2028é\u00a0\ufeff"
words = st.text(alphabet=TRICKY, max_size=12) | st.sampled_from(
    ["", "true", "no", "null", "~", "5411", "0742", "1.5", ".inf", "2024-01-01", "2024-03-01 10:00:00", "<<", "=", "---x", "a: b", "a #b"]
)


def pyyaml(data, dumper) -> str:
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=WIDTH)


def documents(strings):
    scalars = strings | st.integers(-5, 10**6) | st.booleans() | st.none()
    nested = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
        max_leaves=20,
    )
    return st.dictionaries(strings, nested, min_size=1, max_size=5) | st.lists(st.dictionaries(strings, nested, min_size=1), min_size=1, max_size=3)


dbt_strings = words | words.map(Jinja) | words.map(Unrendered)
dbt_documents = documents(dbt_strings) | st.dictionaries(words, st.lists(st.dictionaries(words, words).map(Row), max_size=3), min_size=1)


@settings(max_examples=400, deadline=None)
@given(documents(words))
def test_the_quick_writer_writes_what_pyyaml_writes(data):
    assert to_yaml(data) == pyyaml(data, Dumper).rstrip("\n")


@settings(max_examples=400, deadline=None)
@given(dbt_documents)
def test_the_quick_writer_writes_what_pyyaml_writes_for_dbt(data):
    assert to_yaml(data, dumper=DbtDumper) == pyyaml(data, DbtDumper).rstrip("\n")


def test_it_writes_the_common_cases_itself():
    data = {
        "version": 2,
        "models": [{"name": "orders", "description": "Orders, one row each: settled or not.", "columns": [{"name": "id", "data_type": "bigint"}]}],
        "tags": ["core", "5411"],
        "config": {"meta": {}, "owner": "'quoted' first", "start": "2024-01-01"},
    }
    written = _QuickWriter(Dumper).document(data)
    assert written == pyyaml(data, Dumper)
    assert "'2024-01-01'" in written and "'5411'" in written and '"\'quoted\' first"' in written


def test_it_leaves_line_breaks_and_long_lines_to_pyyaml():
    for data in ({"description": "two\nlines"}, {"description": "word " * 300}):
        try:
            _QuickWriter(Dumper).document(data)
        except _Unsure:
            pass
        else:
            raise AssertionError(f"wrote {data!r} itself")
        assert to_yaml(data) == pyyaml(data, Dumper).rstrip("\n")
