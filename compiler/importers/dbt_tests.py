"""dbt data tests as contract constraints.

A generic test on one column maps to the constraint that asks the same of every row:
`not_null`, `unique`, `accepted_values`, `relationships` (-> `references`), and the
dbt_utils-style `accepted_range` and `expression_is_true` (-> `range`, `check`). A test that
asks something else, or asks it differently (`severity: warn`, a `where` filter, a source's
test, a singular test), is reported with its file and line, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..frontend.loader import LoadedSpec, load_spec_text
from .report import Report

_TEST_LISTS = ("data_tests", "tests")


@dataclass
class TestConstraints:
    """Constraints per imported node (unique_id) and column, in the order dbt declares them."""

    by_node: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def add(self, node: str, column: str, constraint: Any) -> None:
        constraints = self.by_node.setdefault(node, {}).setdefault(column, [])
        if constraint not in constraints:
            constraints.append(constraint)

    def of(self, node: str) -> dict[str, list[Any]]:
        return self.by_node.get(node, {})


@dataclass(frozen=True)
class Unmapped:
    """Why a generic test has no constraint."""

    reason: str


class YamlLines:
    """Where a test is declared in the project's YAML files (dbt's manifest keeps no lines for them)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.loaded: dict[str, LoadedSpec | None] = {}

    def _load(self, path: str) -> LoadedSpec | None:
        if path not in self.loaded:
            try:
                self.loaded[path] = load_spec_text((self.folder / path).read_text(), self.folder / path, path)
            except Exception:  # noqa: BLE001 - a file dbt parsed; without positions the report says line 1
                self.loaded[path] = None
        return self.loaded[path]

    def of_test(self, test: dict) -> str:
        path = test["original_file_path"]
        loaded = self._load(path)
        section, _, owner = (test.get("file_key_name") or "").partition(".")
        if loaded is None or not isinstance(loaded.data, dict):
            return f"{path}:1"
        for i, entry in enumerate(loaded.data.get(section) or ()):
            if isinstance(entry, dict) and entry.get("name") == owner:
                return f"{path}:{_test_line(loaded, (section, i), entry, test)}"
        return f"{path}:1"


def _test_line(loaded: LoadedSpec, path: tuple, entry: dict, test: dict) -> int:
    name = (test.get("test_metadata") or {}).get("name", "")
    column = test.get("column_name")
    for j, col in enumerate(entry.get("columns") or ()):
        if isinstance(col, dict) and col.get("name") == column:
            for key in _TEST_LISTS:
                for k, item in enumerate(col.get(key) or ()):
                    if item == name or (isinstance(item, dict) and name in item):
                        return loaded.location(path + ("columns", j, key, k)).line
            return loaded.location(path + ("columns", j)).line
    return loaded.location(path).line


def map_tests(manifest: dict, names: dict[str, str], folder: Path, report: Report) -> TestConstraints:
    """The constraints of every generic test that maps; `names` are the imported nodes' meshgen names."""
    lines = YamlLines(folder)
    mapped = TestConstraints()
    for test in sorted((n for n in manifest["nodes"].values() if n["resource_type"] == "test"), key=lambda n: n["unique_id"]):
        if not test.get("test_metadata"):
            report.add(f"{test['original_file_path']}:1", f"singular test {test['name']}",
                       "not imported; write what it asserts as a `check` constraint, or keep running it with dbt")
            continue
        where = lines.of_test(test)
        reason = _unmappable(test, names)
        if reason:
            report.add(where, f"test {test['name']}", reason)
            continue
        constraint = _constraint(test, names)
        if isinstance(constraint, Unmapped):
            report.add(where, f"test {test['name']}", constraint.reason)
            continue
        mapped.add(test["attached_node"], test["column_name"].lower(), constraint)
    return mapped


def _unmappable(test: dict, names: dict[str, str]) -> str:
    """Why a generic test cannot become a constraint, or ''."""
    config = test["config"]
    attached = test.get("attached_node") or ""
    if attached.startswith("source."):
        return "not imported: meshgen sources carry no constraints (test the loading pipeline instead)"
    if attached not in names:
        return "not imported: the model it tests was not imported (see its own item)"
    if not test.get("column_name"):
        return "not imported: a model-level test (meshgen constraints are on a column)"
    if str(config.get("severity", "error")).lower() == "warn":
        return "not imported: severity warn (a meshgen constraint fails the build; add it by hand if that is wanted)"
    if config.get("where"):
        return f"not imported: it tests only the rows where {config['where']}"
    return ""


def _constraint(test: dict, names: dict[str, str]) -> Any:
    """The constraint a generic test asks for, or why it has none."""
    metadata = test["test_metadata"]
    kind, kwargs = metadata["name"], metadata.get("kwargs") or {}
    if kind in ("not_null", "unique"):
        return kind
    if kind == "accepted_values":
        return _accepted_values(kwargs)
    if kind == "relationships":
        return _references(test, kwargs, names)
    # An exclusive range has no meshgen spelling (ranges are inclusive).
    if kind == "accepted_range" and kwargs.get("inclusive", True) is True:
        if "min_value" in kwargs or "max_value" in kwargs:
            return {"range": [kwargs.get("min_value"), kwargs.get("max_value")]}
    if kind == "expression_is_true" and kwargs.get("expression"):
        return {"check": f"{test['column_name']} {kwargs['expression']}"}
    namespace = f"{metadata['namespace']}." if metadata.get("namespace") else ""
    return Unmapped(f"not imported: meshgen has no constraint for the generic test {namespace}{kind}")


def _accepted_values(kwargs: dict) -> Any:
    values = kwargs.get("values") or []
    if kwargs.get("quote", True) is False:
        # Unquoted values are SQL: numbers and booleans carry over, other expressions do not.
        if not all(isinstance(v, (int, float, bool)) for v in values):
            return Unmapped("not imported: accepted_values with quote: false and values that are SQL expressions")
    return {"accepted_values": list(values)}


def _references(test: dict, kwargs: dict, names: dict[str, str]) -> Any:
    others = [n for n in test["depends_on"]["nodes"] if n != test["attached_node"]] or [test["attached_node"]]
    if len(others) != 1 or others[0] not in names:
        return Unmapped("not imported: the table it references was not imported")
    field_name = str(kwargs.get("field", "")).lower()
    if not field_name.isidentifier():
        return Unmapped(f"not imported: the referenced field {kwargs.get('field')!r} is not a plain column")
    return {"references": f"{names[others[0]]}.{field_name}"}
