"""Running the real dbt on a project: parse, compile and catalogue it through dbt's Python API.

The project is copied to a scratch folder first, so the import never writes into it (dbt writes
`target/` and `logs/`), and the copy gets one macro of meshgen's: `is_incremental()` returns
false, so each incremental model compiles to the query that builds it whole, whatever the
warehouse holds. The copy runs from the project's own folder, so relative paths in its profile
(a DuckDB file) mean what they mean to the team's own `dbt` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import Location, MeshgenError, fail

# dbt looks up a macro in the root project before its own, so this one wins in the copy.
_FULL_BUILD_MACRO = """{% macro is_incremental() %}{{ return(false) }}{% endmacro %}
"""
# dbt's own output and tool folders at the project's top, not copied.
_SKIPPED = ("target", "logs", ".venv", ".git")


@dataclass
class DbtProject:
    """What dbt knows of a project: its manifest and, for relations that exist, the warehouse's catalog."""

    folder: Path
    manifest: dict
    catalog: dict  # unique_id -> {column: type}, in the warehouse's column order

    @property
    def adapter_type(self) -> str:
        return self.manifest["metadata"]["adapter_type"]

    @property
    def name(self) -> str:
        return self.manifest["metadata"].get("project_name") or next(
            n["package_name"] for n in self.manifest["nodes"].values()
        )


def load_project(folder: Path, profiles_dir: Path | None, target: str | None) -> DbtProject:
    if not (folder / "dbt_project.yml").is_file():
        raise fail(Location(str(folder)), "is not a dbt project (no dbt_project.yml)", "pass the folder that holds dbt_project.yml")
    profiles = profiles_dir or (folder if (folder / "profiles.yml").is_file() else None)
    with tempfile.TemporaryDirectory(prefix="meshgen-import-") as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(folder, copy, ignore=lambda at, names: [n for n in names if Path(at) == folder and n in _SKIPPED])
        macros = copy / "macros"
        macros.mkdir(exist_ok=True)
        (macros / "meshgen_import_full_build.sql").write_text(_FULL_BUILD_MACRO)
        args = ["docs", "generate", "--project-dir", str(copy), "--target-path", str(copy / "target"), "--quiet"]
        if profiles is not None:
            args += ["--profiles-dir", str(profiles.resolve())]
        if target:
            args += ["--target", target]
        with _working_directory(folder):
            _invoke(args, folder)
        manifest = json.loads((copy / "target" / "manifest.json").read_text())
        catalog_file = copy / "target" / "catalog.json"
        catalog = _catalog_columns(json.loads(catalog_file.read_text())) if catalog_file.is_file() else {}
    return DbtProject(folder=folder, manifest=manifest, catalog=catalog)


def _invoke(args: list[str], folder: Path) -> None:
    try:
        from dbt.cli.main import dbtRunner
    except ImportError:
        raise fail(Location(str(folder)), "dbt is not installed in this Python", "pip install dbt-core and the project's adapter (e.g. dbt-duckdb)") from None
    result = dbtRunner().invoke(args)
    if result.success:
        return
    message = str(result.exception) if result.exception else _failed_nodes(result.result)
    raise MeshgenError(
        [_diagnostic(folder, f"dbt could not compile the project: {message.strip()}", "run `dbt compile` in the project to see dbt's own report")]
    )


def _failed_nodes(result) -> str:
    messages = []
    for item in getattr(result, "results", None) or ():
        if str(getattr(item, "status", "")) in ("error", "fail"):
            messages.append(f"{item.node.original_file_path}: {item.message}")
    return "; ".join(messages) or "dbt reported a failure"


def _diagnostic(folder: Path, message: str, hint: str):
    from ..errors import Diagnostic

    return Diagnostic(Location(str(folder / "dbt_project.yml")), message, hint)


def _catalog_columns(catalog: dict) -> dict[str, dict[str, str]]:
    """unique_id -> {column: type} of every relation the warehouse has, ordered as the warehouse orders them."""
    columns = {}
    for section in ("nodes", "sources"):
        for unique_id, entry in (catalog.get(section) or {}).items():
            ordered = sorted(entry["columns"].values(), key=lambda c: c["index"])
            columns[unique_id] = {c["name"].lower(): c["type"].lower() for c in ordered}
    return columns


@contextlib.contextmanager
def _working_directory(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
