"""Where the JSON Schemas and templates live: inside the wheel, or at the checkout's top level."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the meshgen package


@cache
def resource_dir(name: str) -> Path:
    bundled = _PACKAGE_DIR / name  # installed wheel: meshgen/schemas, meshgen/templates
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / name  # source checkout or editable install


def schema_path(name: str = "meshgen.schema.json") -> Path:
    return resource_dir("schemas") / name


@cache
def build_digest() -> str:
    """A hash of all that shapes meshgen's output: its code, templates and schemas.

    Cached build results are keyed by it, so a changed meshgen never reuses
    them, even one with an unchanged version number (a development checkout).
    """
    digest = hashlib.sha256()
    groups = [("code", _PACKAGE_DIR, "*.py")] + [(name, resource_dir(name), "*") for name in ("templates", "schemas")]
    for label, folder, pattern in groups:
        for path in sorted(p for p in folder.rglob(pattern) if p.is_file()):
            # The path within its folder counts too: templates are found by it.
            digest.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode() + path.read_bytes())
    return digest.hexdigest()
