"""The no-op fast path: skip the whole build when nothing it depends on changed.

A build depends on the spec's bytes, the files the spec names (sql_file,
seed_file) and meshgen itself (version, code, templates, schemas). After
each build, the cache records a hash of those inputs and the size and mtime
of every file the build owns. The next build hashes the same inputs and stats
the files: if everything matches, the output is byte-identical by
construction and nothing is parsed, rendered or written. Only the standard
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

CACHE_FILE = ".meshgen/cache/build.json"
_FORMAT = 1


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
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def fresh(spec_path: Path, root: Path) -> int | None:
    """The number of generated files when the last build is still exactly right, else None."""
    try:
        record = json.loads((root / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("format") != _FORMAT or record.get("key") != _key(spec_path, root, record.get("inputs", [])):
        return None
    files = record.get("files", {})
    for path, stat in files.items():
        if _stat(root / path) != stat:
            return None
    return record.get("generated", 0)


def save(spec_path: Path, root: Path, inputs: list[str], generated: list[str], bookkeeping: list[str]) -> None:
    """Record the inputs' hash and the stats of the generated and bookkeeping files just written."""
    key = _key(spec_path, root, inputs)
    if key is None:
        return
    files = {path: _stat(root / path) for path in sorted(generated + bookkeeping)}
    if any(stat is None for stat in files.values()):
        return
    target = root / CACHE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(target.name + ".tmp")
    temp.write_text(json.dumps({"format": _FORMAT, "key": key, "inputs": inputs, "generated": len(generated), "files": files}), encoding="utf-8")
    os.replace(temp, target)
