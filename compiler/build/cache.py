"""The no-op fast path: skip the whole build when nothing it depends on changed.

A build depends on the spec's bytes, the files the spec names (sql_file,
seed_file) and meshgen itself (version, code, templates, schemas). After
each build, the cache records a hash of those inputs and the stat and sha256
of every file the build owns. The next build hashes the same inputs and stats
the files, hashing those a stat cannot vouch for: if everything matches, the
output is byte-identical by construction and nothing is parsed, rendered or written. Only the standard
library is imported here, so this path stays close to the interpreter's
start-up time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import __version__
from .resources import build_digest
from .swap import TXN_DIR

CACHE_FILE = ".meshgen/cache/build.json"
_FORMAT = 2  # 2: stats carry ctime and inode, every file its sha256, and the folders are recorded


def _key(spec_path: Path, root: Path, inputs: list[str]) -> str | None:
    digest = hashlib.sha256(f"{_FORMAT}\0{__version__}\0{build_digest()}\0".encode())
    digest.update(os.path.relpath(spec_path.resolve(), root).encode())
    try:
        digest.update(spec_path.read_bytes())
        for name in inputs:
            digest.update(f"\0{name}\0".encode())
            digest.update((spec_path.parent / name).read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def _stat(path: Path) -> list[int] | None:
    """What a write changes: the size, mtime and, unlike mtime, a ctime that `touch -r` cannot restore."""
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _listing(folder: Path) -> str | None:
    try:
        return hashlib.sha256("\0".join(sorted(os.listdir(folder))).encode()).hexdigest()
    except OSError:
        return None


def fresh(spec_path: Path, root: Path, record: dict) -> bool:
    """Whether the last build (its intact record) is still exactly right: the spec and the files it names are as they were."""
    return record["key"] == _key(spec_path, root, record.get("inputs", []))


def same_record(root: Path, record: dict) -> bool:
    """Whether the record on disk is still the one read (each build replaces it, so a new build makes a new file)."""
    return (root / TXN_DIR).exists() is False and _stat(root / CACHE_FILE) == record.get("_stat")


def intact_record(root: Path) -> dict | None:
    """The last build's record, when every file it generated is on disk as it wrote it (else None).

    A stat proves a file unchanged only when it was taken in an earlier clock
    tick than the record: a file changed in the same tick as the record was
    written could keep every stat field, so those files are hashed instead.
    """
    record_path = root / CACHE_FILE
    if (root / TXN_DIR).exists():  # an interrupted build: the full path repairs it
        return None
    try:
        stat = _stat(record_path)
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stat is None or not isinstance(record, dict) or record.get("format") != _FORMAT or "key" not in record:
        return None
    record["_stat"], recorded_at = stat, stat[1]
    for path, (stat, digest) in record.get("files", {}).items():
        now = _stat(root / path)
        if now != stat:
            return None
        if now[2] >= recorded_at and _digest(root / path) != digest:
            return None
    for path, (stat, listing) in record.get("folders", {}).items():  # a file added beside them (a leftover) changes these
        now = _stat(root / path)
        if now != stat or (now[2] >= recorded_at and _listing(root / path) != listing):
            return None
    return record


def save(spec_path: Path, root: Path, inputs: list[str], generated: dict[str, str], bookkeeping: list[str]) -> str | None:
    """Record the inputs' hash, and the stat and sha256 of the generated (path -> sha256) and bookkeeping files.

    Returns the inputs' hash (the record's key), or None when nothing could be recorded.
    """
    return _recorded(spec_path, root, inputs, len(generated), {}, {}, generated, list(generated) + bookkeeping)


def save_after(spec_path: Path, root: Path, record: dict, generated: dict[str, str], written: list[str], bookkeeping: list[str]) -> str | None:
    """`save` after a build that wrote only `written`: the other files' stats are the intact record's."""
    files, folders = dict(record["files"]), dict(record["folders"])
    return _recorded(spec_path, root, record.get("inputs", []), len(generated), files, folders, generated, written + bookkeeping)


def _recorded(spec_path: Path, root: Path, inputs: list[str], count: int, files: dict, folders: dict, hashes: dict[str, str], fresh: list[str]) -> str | None:
    """Write the record: `files` and `folders` (path -> (stat, digest)) with those of `fresh` paths taken now."""
    key = _key(spec_path, root, inputs)
    if key is None:
        return None
    for path in fresh:
        files[path] = (_stat(root / path), hashes[path] if path in hashes else _digest(root / path))
    for folder in {os.path.dirname(path) for path in fresh} - {""}:
        folders[folder] = (_stat(root / folder), _listing(root / folder))
    if any(stat is None or digest is None for stat, digest in list(files.values()) + list(folders.values())):
        return None
    target = root / CACHE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(target.name + ".tmp")
    record = {"format": _FORMAT, "key": key, "inputs": inputs, "generated": count, "files": dict(sorted(files.items())), "folders": dict(sorted(folders.items()))}
    temp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(temp, target)
    return key
