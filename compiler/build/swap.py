"""Many files replaced as one change that survives a kill at any instant, one build at a time.

A build stages every new text under `.meshgen/cache/txn/`, then commits a
journal there (one rename) naming each change, then renames the staged files
into place and deletes what is no longer generated, then removes the journal.
A process killed anywhere leaves one of two states, and the next build (under
the lock) repairs it before it looks at the tree:

- staged files without a journal: nothing in the tree was touched; they are
  discarded, so the tree is entirely the old build;
- a journal: it is replayed (a staged file still present has not been renamed
  yet; a deletion is repeated), so the tree is entirely the new build.

An error inside this process (a full disk, a permission) instead puts back the
old texts it holds in memory. The lock is an advisory `flock` on the output
root itself: it needs no file, and the kernel drops it when its holder dies,
so a killed build never leaves a stale lock behind.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from ..errors import Diagnostic, Location, MeshgenError

TXN_DIR = ".meshgen/cache/txn"
JOURNAL = "journal.json"
LOCK_TIMEOUT_S = 60.0
_POLL_S = 0.05

# (path relative to the root, staged file name in TXN_DIR or None for a deletion)
Entry = tuple[str, "str | None"]


@contextmanager
def locked(root: Path, shared: bool = False, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the output root's lock: exclusive to write, shared to read (`--check`)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): builds are not serialised there
        yield
        return
    if shared and not root.is_dir():
        yield  # nothing to read yet
        return
    created = _make_dirs(root)
    handle = os.open(root, os.O_RDONLY)
    try:
        _acquire(fcntl, handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, root, timeout)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock
        _remove_if_empty(created)


def _acquire(fcntl, handle: int, mode: int, root: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise MeshgenError(
                    [
                        Diagnostic(
                            Location(str(root)),
                            f"another meshgen build is writing into this folder (waited {timeout:.0f} s)",
                            "let it finish and run the command again; nothing was changed by this one",
                        )
                    ]
                ) from None
            time.sleep(_POLL_S)


def _make_dirs(folder: Path) -> list[Path]:
    """Create `folder`; return the folders that did not exist, deepest first."""
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: the build wrote into it


def pending(root: Path) -> bool:
    """Whether an interrupted build left staged files or a journal behind."""
    return (root / TXN_DIR).exists()


def recover(root: Path) -> None:
    """Finish or discard what an interrupted build left (call under the exclusive lock)."""
    txn = root / TXN_DIR
    if not txn.exists():
        return
    entries = _read_journal(txn)
    if entries is not None:
        try:
            replay(root, txn, entries, [])
        except OSError as exc:
            raise MeshgenError(
                [
                    Diagnostic(
                        Location(str(exc.filename or TXN_DIR)),
                        f"cannot finish the build that was interrupted: {exc.strerror}",
                        "make the folder writable (or move away what stands where a generated file goes) and build again",
                    )
                ]
            ) from None
    _discard(txn)


def commit(root: Path, changes: list[tuple[str, str | None]]) -> tuple[Path, list[Entry]]:
    """Stage every new text and commit the journal; the tree itself is not touched yet."""
    txn = root / TXN_DIR
    _discard(txn)
    txn.mkdir(parents=True)
    entries: list[Entry] = []
    for number, (path, text) in enumerate(changes):
        if text is None:
            entries.append((path, None))
            continue
        with open(txn / str(number), "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        entries.append((path, str(number)))
    temp = txn / (JOURNAL + ".tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump({"entries": entries}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, txn / JOURNAL)  # the commit point
    return txn, entries


def discard(root: Path, tidy: bool = False) -> None:
    """Remove the staged files and the journal; with `tidy` (nothing was written), the folders made for them if empty."""
    _discard(root / TXN_DIR)
    folder = (root / TXN_DIR).parent
    while tidy and folder != root:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def replay(root: Path, txn: Path, entries: list[Entry], done: list[str]) -> None:
    """Rename each staged file into place, then delete what is gone; each step may be repeated."""
    for path, staged in entries:
        if staged is None:
            continue
        source = txn / staged
        if source.exists():  # else renamed by an earlier, interrupted replay
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        done.append(path)
    for path, staged in entries:
        if staged is None:
            (root / path).unlink(missing_ok=True)
            done.append(path)
            _prune_empty(root / path, root)


def _prune_empty(path: Path, root: Path) -> None:
    folder = path.parent
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _read_journal(txn: Path) -> list[Entry] | None:
    try:
        text = (txn / JOURNAL).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None  # never committed: discarding the staged files is the whole recovery
    try:
        entries = [(str(path), None if staged is None else str(staged)) for path, staged in json.loads(text)["entries"]]
    except (ValueError, KeyError, TypeError):
        entries = None
    if entries is None or not all(_inside(path) and (s is None or s.isdigit()) for path, s in entries):
        raise MeshgenError(
            [
                Diagnostic(
                    Location(f"{TXN_DIR}/{JOURNAL}"),
                    "the journal of an interrupted build is corrupt",
                    f"delete {TXN_DIR} and run `meshgen build --force` to rewrite every generated file",
                )
            ]
        )
    return entries


def _inside(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts


def _discard(txn: Path) -> None:
    shutil.rmtree(txn, ignore_errors=True)
