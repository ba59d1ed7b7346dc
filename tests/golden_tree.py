"""A syrupy extension that keeps each spec's generated tree as real files.

`golden/<spec>/<path>` holds every generated file, one readable file each, so a
reviewer reads golden/ diffs like any other diff. A snapshot is the whole tree
of one spec; comparing serialises it into one text with a marker line before
each file, which is what syrupy's diff shows on a mismatch.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from syrupy.data import Snapshot, SnapshotCollection, SnapshotCollections
from syrupy.extensions.base import AbstractSyrupyExtension

GOLDEN_ROOT = Path(__file__).resolve().parent.parent / "golden"
_MARKER = re.compile(r"^=+ golden file: (.+) =+$", re.MULTILINE)


def serialize_tree(tree: dict[str, str]) -> str:
    return "".join(f"===== golden file: {path} =====\n{tree[path]}" for path in sorted(tree))


def parse_tree(text: str) -> dict[str, str]:
    parts = _MARKER.split(text)
    return {parts[i]: parts[i + 1].removeprefix("\n") for i in range(1, len(parts), 2)}


def read_tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.relative_to(folder).as_posix().startswith(".meshgen/cache/")
    }


class GoldenTreeExtension(AbstractSyrupyExtension):
    """Snapshot name (`snapshot(name=...)`) = the spec; location = golden/<spec>."""

    def serialize(self, data, **kwargs) -> str:
        return serialize_tree(data)

    @classmethod
    def get_location(cls, *, test_location, index) -> str:
        return str(GOLDEN_ROOT / str(index))

    @classmethod
    def matches_test_location(cls, *, test_location, snapshot_location) -> bool:
        return Path(snapshot_location).parent == GOLDEN_ROOT

    def is_snapshot_location(self, *, location: str) -> bool:
        return Path(location).parent == GOLDEN_ROOT

    def discover_snapshots(self, *, test_location, ignore_extensions=None) -> SnapshotCollections:
        # Orphaned golden folders are found by a test of their own, not by syrupy.
        return SnapshotCollections()

    def read_snapshot_collection(self, *, snapshot_location: str) -> SnapshotCollection:
        collection = SnapshotCollection(location=snapshot_location)
        collection.add(Snapshot(name=Path(snapshot_location).name))
        return collection

    def read_snapshot_data_from_location(self, *, snapshot_location: str, snapshot_name: str, session_id: str):
        folder = Path(snapshot_location)
        return serialize_tree(read_tree(folder)) if folder.is_dir() else None

    @classmethod
    def write_snapshot_collection(cls, *, snapshot_collection: SnapshotCollection, name_order=None) -> None:
        folder = Path(snapshot_collection.location)
        snapshot = next(iter(snapshot_collection))
        if folder.exists():
            shutil.rmtree(folder)
        for path, text in parse_tree(snapshot.data).items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")

    def delete_snapshots(self, *, snapshot_location: str, snapshot_names: set[str]) -> None:
        shutil.rmtree(snapshot_location, ignore_errors=True)
