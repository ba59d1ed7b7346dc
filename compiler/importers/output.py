"""Writing an imported spec: all of it or nothing, and only once it validates.

The spec, its SQL files, the copied seeds and the report are staged in a scratch folder beside
the output, the staged spec is validated as `meshgen validate` would, and only then are the
files moved into place. An output folder that already holds one of them is refused.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from ..errors import Diagnostic, Location, MeshgenError, fail
from .report import Imported

SPEC_FILE = "meshgen.yaml"
REPORT_FILE = "meshgen-import-report.txt"


class _SpecDumper(yaml.SafeDumper):
    """Block scalars for text over several lines (descriptions from docs blocks), keys in the order given."""


def _text(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SpecDumper.add_representer(str, _text)


def spec_text(imported: Imported, origin: str, tool: str) -> str:
    header = f"# Imported from the {tool} project {origin} by `meshgen import {tool}`; what was not carried over is in {REPORT_FILE}.\n"
    return header + yaml.dump(imported.spec, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=100)


def refuse_taken(out: Path, paths=(SPEC_FILE, REPORT_FILE)) -> None:
    """Refuses an output folder holding any of `paths` (checked before dbt runs, and again before writing)."""
    taken = [p for p in paths if (out / p).exists()]
    if taken:
        raise fail(Location(str(out / taken[0])), "already exists; the import writes only new files",
                   "pass another --out folder, or remove the earlier import")


def write_import(imported: Imported, out: Path, origin: str, tool: str, report_text: str) -> list[str]:
    """Writes the import under `out`; returns the paths written, relative to `out`."""
    texts = {SPEC_FILE: spec_text(imported, origin, tool), REPORT_FILE: report_text, **imported.files}
    paths = sorted(list(texts) + list(imported.copies))
    refuse_taken(out, [SPEC_FILE, REPORT_FILE] + paths)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".meshgen-import-", dir=out) as scratch:
        staged = Path(scratch)
        for path, text in texts.items():
            (staged / path).parent.mkdir(parents=True, exist_ok=True)
            (staged / path).write_text(text, encoding="utf-8", newline="\n")
        for path, source in imported.copies.items():
            (staged / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staged / path)
        _validate(staged / SPEC_FILE)
        for path in paths:
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (staged / path).replace(out / path)
    return paths


def _validate(spec_path: Path) -> None:
    """The staged spec through meshgen's own checks: a failure is the importer's, reported as such."""
    from ..build.pipeline import load

    try:
        load(spec_path, SPEC_FILE)
    except MeshgenError as error:
        raise MeshgenError(
            [Diagnostic(d.location, f"the imported spec does not validate: {d.message}",
                        d.hint or "nothing was written; please report this with the imported project")
             for d in error.diagnostics]
        ) from None
