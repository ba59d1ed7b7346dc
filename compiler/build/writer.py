"""The one final stage every target goes through.

It owns what it wrote: `.meshgen/manifest.json` records path -> sha256 of
every generated file. From that record it knows which files it may replace
or delete, which were edited by hand, and which it never wrote (and so must
not touch). Writes are staged next to their targets and swapped in at the
end; if anything fails, what was swapped is rolled back.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Diagnostic, Location, MeshgenError
from ..targets.files import GeneratedFile

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

    @property
    def stale(self) -> bool:
        return bool(self.changes or self.hand_edited or self.manifest_changed)

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


def _load_manifest(root: Path) -> dict[str, str]:
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


def plan(root: Path, files: list[GeneratedFile], generated_patterns: list[str]) -> WritePlan:
    previous = _load_manifest(root)
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
    """Swap every change in; on any failure, put back what was there."""
    root = result.root
    changes = list(result.changes)
    if result.manifest_changed:
        old = _read(root / MANIFEST)
        changes.append(FileChange(MANIFEST, manifest_text(result.manifest), old))
    staged: list[tuple[FileChange, Path]] = []
    created_dirs: list[Path] = []
    try:
        for change in changes:
            if change.new is None:
                continue
            target = root / change.path
            created_dirs.extend(_make_parents(target.parent))
            temp = target.with_name(f".{target.name}.meshgen-tmp")
            with open(temp, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(change.new)
            staged.append((change, temp))
    except OSError as exc:
        _discard(staged, created_dirs)
        raise _write_error(exc) from None
    done: list[FileChange] = []
    try:
        for change, temp in staged:
            os.replace(temp, root / change.path)
            done.append(change)
        for change in changes:
            if change.new is None:
                (root / change.path).unlink()
                done.append(change)
    except OSError as exc:
        _rollback(root, done)
        _discard([s for s in staged if s[0] not in done], created_dirs)
        raise _write_error(exc) from None
    for change in changes:
        if change.new is None:
            _prune_empty(root / change.path, root)


def _make_parents(folder: Path) -> list[Path]:
    """Create the folder; return the folders that did not exist (the output root and above included), to remove on failure."""
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
    return missing


def _discard(staged: list[tuple[FileChange, Path]], created_dirs: list[Path]) -> None:
    for _, temp in staged:
        temp.unlink(missing_ok=True)
    for folder in created_dirs:  # deepest first: _make_parents lists them that way
        try:
            folder.rmdir()
        except OSError:
            pass


def _rollback(root: Path, done: list[FileChange]) -> None:
    for change in reversed(done):
        target = root / change.path
        if change.old is None:
            target.unlink(missing_ok=True)
        else:
            target.write_text(change.old, encoding="utf-8", newline="\n")


def _prune_empty(path: Path, root: Path) -> None:
    folder = path.parent
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _write_error(exc: OSError) -> MeshgenError:
    where = exc.filename or "output folder"
    return MeshgenError(
        [Diagnostic(Location(str(where)), f"cannot write: {exc.strerror}", "nothing was changed; check permissions and free space")]
    )


def describe_stale(result: WritePlan, max_diff_lines: int = 200) -> str:
    """What `build --check` prints: each stale file, and a bounded unified diff."""
    lines = []
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
