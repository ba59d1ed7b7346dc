"""`meshgen diff` and `meshgen impact`: the base spec loaded from a file or a git ref, and the reports.

What counts as breaking is decided in `analysis/changes.py`.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from ..analysis.changes import BREAKING, SAFE, SpecChange, diff, failed
from ..analysis.impact import impact
from ..errors import Location, MeshgenError, fail
from ..ir import Spec
from ..semantics.types import type_change

__all__ = ["diff", "failed", "impact", "load_base", "render_github", "render_impact", "render_text", "repository_path", "type_change"]


# -- loading the base ---------------------------------------------------------


def load_base(spec_path: Path, base: str, missing_ok: bool = False) -> Spec | None:
    """The old spec from a file, or from a git ref (`git show REF:path`, with its folder).

    `missing_ok`: None when the ref has no such spec (a branch from before meshgen)."""
    from ..build.pipeline import load

    candidate = Path(base)
    if candidate.is_file():
        return load(candidate, str(candidate))
    folder = spec_path.resolve().parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    prefix = folder.relative_to(Path(top.strip()).resolve()).as_posix()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", base, "--", prefix if prefix != "." else "."],
        cwd=top.strip(),
        capture_output=True,
    )
    if archive.returncode != 0:
        raise fail(Location(base), f"cannot read the spec at git ref '{base}'", archive.stderr.decode(errors="replace").strip())
    with tempfile.TemporaryDirectory(prefix="meshgen-base-") as work:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(work, filter="data")
            else:  # Python before 3.10.12 has no extraction filters; git archive output is trusted
                tar.extractall(work)
        old = Path(work) / prefix / spec_path.name if prefix != "." else Path(work) / spec_path.name
        if not old.is_file():
            if missing_ok:
                return None
            raise fail(Location(base), f"{spec_path.name} does not exist at git ref '{base}'", "pass --base with a ref where the spec exists")
        try:
            return load(old, f"{base}:{spec_path.name}")
        except MeshgenError as error:  # its own diagnostics, each said to be the base's
            raise MeshgenError(replace(d, message=f"(the spec at '{base}') {d.message}") for d in error.diagnostics) from None


def repository_path(spec_path: Path) -> str:
    """The spec's path from the top of its git repository (what GitHub annotations need)."""
    folder = spec_path.resolve().parent
    result = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True)
    if result.returncode != 0:
        return spec_path.as_posix()
    return spec_path.resolve().relative_to(Path(result.stdout.strip()).resolve()).as_posix()


def _git(folder: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True)
    if result.returncode != 0:
        raise fail(Location(str(folder)), "not inside a git repository", "pass --base a file instead of a git ref")
    return result.stdout


# -- output --------------------------------------------------------------------


def render_text(changes: list[SpecChange], base: str) -> str:
    if not changes:
        return f"no changes since {base}\n"
    lines = []
    for change in changes:
        label = change.kind.upper() if change.kind == BREAKING else change.kind
        if change.kind == BREAKING and change.contract:
            label += "" if change.acknowledged else " (needs a major version bump of contract " + change.contract + ")"
        lines.append(f"{change.location}: {label}: {change.subject}: {change.message}")
        if change.affected_models:
            lines.append(f"  downstream: {', '.join(change.affected_models)}")
        if change.consumers:
            lines.append(f"  contract consumers: {', '.join(change.consumers)}")
        if change.stages:
            lines.append(f"  stages re-run: {', '.join(map(str, change.stages))}")
    breaking = sum(c.kind == BREAKING for c in changes)
    lines.append(f"{len(changes)} change(s) since {base}: {breaking} breaking, {len(changes) - breaking} safe")
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(changes: list[SpecChange], file_path: str) -> str:
    """GitHub workflow commands: annotations on the spec lines of the changes."""
    lines = []
    for change in changes:
        level = "notice" if change.kind == SAFE else ("warning" if change.acknowledged else "error")
        title = f"meshgen: {change.kind} change" + ("" if change.acknowledged else " without a major version bump")
        where = f"file={_escape_property(file_path)},line={change.location.line or 1},col={change.location.col or 1}"
        details = change.message
        if change.affected_models:
            details += f" (downstream: {', '.join(change.affected_models)})"
        if change.consumers:
            details += f" (consumers: {', '.join(change.consumers)})"
        lines.append(f"::{level} {where},title={_escape_property(title)}::{_escape_data(change.subject + ': ' + details)}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_impact(report: dict) -> str:
    me = report["self"]
    lines = [f"{report['model']} ({me['engine']}, stage {me['stage']})"]
    if me["consumers"]:
        lines.append(f"  contract {me['contract']} consumers: {', '.join(me['consumers'])}")
    if not report["downstream"]:
        lines.append("  nothing reads it")
    for row in report["downstream"]:
        extra = f"; contract {row['contract']} consumers: {', '.join(row['consumers'])}" if row["consumers"] else ""
        lines.append(f"  -> {row['model']} ({row['engine']}, stage {row['stage']}, batch {row['batch']}{extra})")
    engines = sorted({r["engine"] for r in report["downstream"]})
    lines.append(f"{len(report['downstream'])} downstream model(s) on {', '.join(engines) or 'no engine'}")
    return "\n".join(lines) + "\n"
