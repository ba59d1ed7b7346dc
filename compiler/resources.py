"""Where the JSON Schemas and templates live: inside the wheel, or at the checkout's top level."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    bundled = _PACKAGE_DIR / name  # installed wheel: meshgen/schemas, meshgen/templates
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / name  # source checkout or editable install


def schema_path(name: str = "meshgen.schema.json") -> Path:
    return resource_dir("schemas") / name
