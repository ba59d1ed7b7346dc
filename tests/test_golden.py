"""golden/<spec>/ holds the full generated tree of every spec in specs/ (syrupy snapshots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SPECS, copy_spec, run_cli
from golden_tree import GOLDEN_ROOT, GoldenTreeExtension, read_tree

SPEC_NAMES = sorted(p.stem for p in SPECS.glob("*.yaml"))


@pytest.fixture
def golden(snapshot):
    return snapshot.use_extension(GoldenTreeExtension)


def build_tree(name: str, root: Path) -> dict[str, str]:
    """The tree as a repository holds it: the spec in specs/, built at the repository's top folder."""
    spec = copy_spec(f"{name}.yaml", root / "specs")
    result = run_cli("build", spec, "--out", root)
    assert result.exit_code == 0, result.output
    return {path: text for path, text in read_tree(root).items() if not path.startswith("specs/")}


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_generated_tree_matches_golden(name: str, tmp_path: Path, golden):
    assert build_tree(name, tmp_path) == golden(name=name)


def test_no_orphaned_golden_folders():
    orphans = sorted(p.name for p in GOLDEN_ROOT.iterdir() if p.is_dir() and p.name not in SPEC_NAMES)
    assert orphans == [], f"golden folders without a spec in specs/: {orphans}; delete them"
