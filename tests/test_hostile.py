"""Hostile specs never crash, hang or leak: a located error with a hint, or a build both engines load."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import jinja2
import pytest
import yaml

from conftest import REPO, run_cli
from hostile_specs import Case, cases

CASES = cases()
SECONDS = 5.0  # per spec, on a loaded two-core machine; each takes well under one
_LOCATED = re.compile(r"^meshgen\.yaml:\d+:\d+: error: ")
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_RAW_CONTROL_SQL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # a SQL literal holds line separators exactly
LOADER = REPO / "tests/helpers/load_projects.py"


def built(case: Case, folder: Path):
    spec = case.write(folder)
    started = time.monotonic()
    result = run_cli("build", spec.name, cwd=folder)
    return result, time.monotonic() - started


def test_there_are_enough_hostile_specs():
    assert len(CASES) >= 150
    assert sum(c.expect == "build" for c in CASES) >= 40 and sum(c.expect == "reject" for c in CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_hostile_spec_is_refused_clearly_or_builds_cleanly(case: Case, tmp_path: Path):
    result, seconds = built(case, tmp_path)
    assert seconds < SECONDS, f"took {seconds:.1f}s"
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    for secret in case.secrets:
        assert secret not in result.output
        assert not any(secret in text for text in generated(tmp_path).values())
    if case.expect == "reject":
        assert result.exit_code == 1, f"built what should be refused:\n{result.output}"
        assert_located_with_hints(result.stderr)
        assert case.words in result.stderr
        assert not (tmp_path / ".meshgen").exists(), "a refused build writes nothing"
    else:
        assert result.exit_code == 0, result.stderr
        assert_every_output_parses(generated(tmp_path))


def generated(folder: Path) -> dict[str, str]:
    manifest = folder / ".meshgen/manifest.json"
    if not manifest.exists():
        return {}
    owned = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    return {path: (folder / path).read_text(encoding="utf-8") for path in [*owned, ".meshgen/manifest.json"]}


def assert_located_with_hints(stderr: str) -> None:
    lines = stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if ": error: " in line]
    assert errors, stderr
    for i in errors:
        assert _LOCATED.match(lines[i]), f"not at file:line:col: {lines[i]}"
        assert i + 1 < len(lines) and lines[i + 1].startswith("  hint: ") and lines[i + 1].strip() != "hint:", f"no hint for: {lines[i]}"
        assert len(lines[i]) < 1200, "a hostile value is cut in messages"


def assert_every_output_parses(files: dict[str, str]) -> None:
    jinja = jinja2.Environment(extensions=["jinja2.ext.do"])
    for path, text in files.items():
        suffix = Path(path).suffix
        if suffix in (".yml", ".yaml"):
            list(yaml.safe_load_all(text))
        elif suffix == ".py":
            ast.parse(text, filename=path)
        elif suffix == ".json":
            json.loads(text)
        if "/dbt/" in f"/{path}" and suffix in (".sql", ".yml"):
            jinja.parse(text)  # dbt renders these with Jinja
        unsafe = (_RAW_CONTROL_SQL if suffix == ".sql" else _RAW_CONTROL).search(text)
        assert not unsafe, f"{path} carries a raw control character {unsafe.group()!r}"


@pytest.mark.integration
def test_every_hostile_build_loads_in_sqlmesh_and_dbt(tmp_path: Path):
    """One engine process loads every built project: SQLMesh's Context and dbt's parse."""
    folders = []
    for case in (c for c in CASES if c.expect == "build"):
        result, _ = built(case, tmp_path / case.id)
        assert result.exit_code == 0, result.output
        folders.append(tmp_path / case.id)
    loaded = subprocess.run([sys.executable, str(LOADER), *map(str, folders)], capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stdout[-4000:] + loaded.stderr[-4000:]
    assert loaded.stdout.count("loaded ") == len(folders), loaded.stdout
