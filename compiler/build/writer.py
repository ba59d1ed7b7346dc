"""The one final stage every target goes through.

It owns what it wrote: `.meshgen/manifest.json` records path -> sha256 of
every generated file. From that record it knows which files it may replace
or delete, which were edited by hand, and which it never wrote (and so must
not touch). Writes go through swap.py: all of them or none, even when the
process is killed midway.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from typing import Iterable

from ..errors import Diagnostic, Location, MeshgenError
from ..targets.files import GeneratedFile
from . import swap

MANIFEST = ".meshgen/manifest.json"
GITATTRIBUTES = ".gitattributes"
_BLOCK_BEGIN = "# BEGIN meshgen: generated files (maintained by `meshgen build`)"
_BLOCK_END = "# END meshgen"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class FileChange:
    path: str
    new: str | None  # None: delete
    old: str | None  # None: the file does not exist yet


@dataclass
class WritePlan:
    root: Path
    changes: list[FileChange] = field(default_factory=list)
    unchanged: int = 0
    hand_edited: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    manifest: dict[str, str] = field(default_factory=dict)
    manifest_changed: bool = False
    leftovers: list[str] = field(default_factory=list)  # staged files left behind, removed by the next write
    interrupted: bool = False  # an interrupted build's journal is waiting (seen by --check, which repairs nothing)

    @property
    def stale(self) -> bool:
        return bool(self.changes or self.hand_edited or self.manifest_changed or self.leftovers or self.interrupted)

    @property
    def written(self) -> list[str]:
        return [c.path for c in self.changes if c.new is not None]

    @property
    def deleted(self) -> list[str]:
        return [c.path for c in self.changes if c.new is None]


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (IsADirectoryError, UnicodeDecodeError):
        return "\0unreadable"  # never equal to generated text


def load_manifest(root: Path) -> dict[str, str]:
    text = _read(root / MANIFEST)
    if text is None:
        return {}
    try:
        return dict(json.loads(text)["files"])
    except (ValueError, KeyError, TypeError):
        raise MeshgenError(
            [
                Diagnostic(
                    Location(MANIFEST),
                    "the ownership record is corrupt",
                    "restore it from version control, or delete it and run `meshgen build --force`",
                )
            ]
        ) from None


def manifest_text(files: dict[str, str]) -> str:
    body = {"generator": "meshgen", "files": dict(sorted(files.items()))}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def gitattributes_text(existing: str | None, patterns: list[str]) -> str:
    """The user's .gitattributes with meshgen's block (re)placed at its end."""
    lines = (existing or "").splitlines()
    if _BLOCK_BEGIN in lines and _BLOCK_END in lines[lines.index(_BLOCK_BEGIN) :]:
        begin = lines.index(_BLOCK_BEGIN)
        end = lines.index(_BLOCK_END, begin)
        lines = lines[:begin] + lines[end + 1 :]
    while lines and not lines[-1].strip():
        lines.pop()
    block = [_BLOCK_BEGIN] + [f"{p} linguist-generated=true" for p in patterns] + [_BLOCK_END]
    return "\n".join(lines + ([""] if lines else []) + block) + "\n"


def refuse_escapes(root: Path, paths: Iterable[str]) -> None:
    """Every file written or deleted stays inside the output root once symlinks are resolved."""
    real_root = root.resolve()
    escaping = []
    for folder in sorted({PurePosixPath(p).parent for p in paths}):
        probe = root / folder
        while not probe.exists() and probe != root:
            probe = probe.parent
        if ".." in folder.parts or folder.is_absolute() or not probe.resolve().is_relative_to(real_root):
            escaping.append(folder.as_posix())
    if escaping:
        raise MeshgenError(
            Diagnostic(
                Location(folder),
                "output folder leads outside the output root (a symbolic link or `..`); nothing was written",
                "replace the link with a real folder, or point the output at a folder of the project",
            )
            for folder in escaping
        )


def plan(root: Path, files: list[GeneratedFile], generated_patterns: list[str]) -> WritePlan:
    previous = load_manifest(root)
    refuse_escapes(root, [f.path for f in files] + list(previous))
    result = WritePlan(root=root)
    wanted = {f.path: f.text for f in files}
    for path, text in sorted(wanted.items()):
        new_hash = sha256(text)
        result.manifest[path] = new_hash
        on_disk = _read(root / path)
        if on_disk == text:
            result.unchanged += 1
            continue
        if on_disk is not None:
            if path not in previous:
                result.foreign.append(path)
            elif sha256(on_disk) != previous[path]:
                result.hand_edited.append(path)
        result.changes.append(FileChange(path, text, on_disk))
    for path, old_hash in sorted(previous.items()):
        if path in wanted:
            continue
        on_disk = _read(root / path)
        if on_disk is None:
            continue
        if sha256(on_disk) != old_hash:
            result.hand_edited.append(path)
        result.changes.append(FileChange(path, None, on_disk))
    attributes_old = _read(root / GITATTRIBUTES)
    attributes_new = gitattributes_text(attributes_old, generated_patterns)
    if attributes_new != attributes_old:
        result.changes.append(FileChange(GITATTRIBUTES, attributes_new, attributes_old))
    result.manifest_changed = result.manifest != previous or not (root / MANIFEST).exists()
    result.leftovers = leftover_temps(root, list(wanted) + list(previous))
    result.interrupted = swap.pending(root)
    return result


def refuse_unsafe(result: WritePlan) -> None:
    """Overwriting a file meshgen did not write, or a hand edit, needs --force."""
    diagnostics = [
        Diagnostic(
            Location(path),
            "refusing to overwrite a file meshgen did not write",
            "move it away, or run `meshgen build --force` to let meshgen take it over",
        )
        for path in result.foreign
    ] + [
        Diagnostic(
            Location(path),
            "generated file was edited by hand; building would discard the edit",
            "move the change into the spec, or run `meshgen build --force` to discard it",
        )
        for path in result.hand_edited
    ]
    if diagnostics:
        raise MeshgenError(diagnostics)


def apply(result: WritePlan) -> None:
    """Swap every change in as one (see swap.py); on an error here, put back what was there."""
    root = result.root
    changes = list(result.changes)
    if result.manifest_changed:
        changes.append(FileChange(MANIFEST, manifest_text(result.manifest), _read(root / MANIFEST)))
    try:
        txn, entries = swap.commit(root, [(c.path, c.new) for c in changes])
    except OSError as exc:
        swap.discard(root, tidy=True)
        raise _write_error(exc) from None
    done: list[str] = []
    try:
        swap.replay(root, txn, entries, done)
    except OSError as exc:
        try:
            _rollback(root, [c for c in changes if c.path in set(done)])
        except OSError:
            raise _write_error(exc, "the change is half applied; the next `meshgen build` completes it") from None
        swap.discard(root, tidy=True)
        raise _write_error(exc) from None
    swap.discard(root)
    for path in result.leftovers:
        (root / path).unlink(missing_ok=True)


def _rollback(root: Path, done: list[FileChange]) -> None:
    """Put back the old texts held in memory; if that fails too, the journal stays for the next build to replay."""
    for change in reversed(done):
        target = root / change.path
        if change.old is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change.old, encoding="utf-8", newline="\n")


def leftover_temps(root: Path, paths: Iterable[str]) -> list[str]:
    """Staged files an older meshgen (or a killed one) left next to generated files."""
    found = []
    for folder in sorted({(root / p).parent for p in paths}):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.extend((folder / n).relative_to(root).as_posix() for n in names if n.endswith(".meshgen-tmp"))
    return sorted(found)


def _write_error(exc: OSError, outcome: str = "nothing was changed") -> MeshgenError:
    where = exc.filename or "output folder"
    return MeshgenError([Diagnostic(Location(str(where)), f"cannot write: {exc.strerror}", f"{outcome}; check permissions and free space")])


def describe_stale(result: WritePlan, max_diff_lines: int = 200) -> str:
    """What `build --check` prints: each stale file, and a bounded unified diff."""
    lines = []
    if result.interrupted:
        lines.append("interrupted: an earlier build stopped midway; `meshgen build` finishes it")
    lines.extend(f"left behind: {path}" for path in result.leftovers)
    for path in result.hand_edited:
        lines.append(f"edited by hand: {path}")
    for change in result.changes:
        if change.path in result.hand_edited:
            continue
        state = "missing" if change.old is None else ("no longer generated" if change.new is None else "out of date")
        lines.append(f"{state}: {change.path}")
    if result.manifest_changed and not result.changes:
        lines.append(f"out of date: {MANIFEST}")
    diff: list[str] = []
    for change in result.changes:
        old = (change.old or "").splitlines(keepends=True)
        new = (change.new or "").splitlines(keepends=True)
        diff.extend(difflib.unified_diff(old, new, f"a/{change.path}", f"b/{change.path}"))
    if diff:
        shown = diff[:max_diff_lines]
        lines.append("")
        lines.extend(line.rstrip("\n") for line in shown)
        if len(diff) > max_diff_lines:
            lines.append(f"... {len(diff) - max_diff_lines} more diff lines")
    return "\n".join(lines)
