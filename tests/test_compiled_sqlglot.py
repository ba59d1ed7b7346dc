"""meshgen's `fast` extra (the compiled sqlglot) writes the same bytes as the pure-Python sqlglot.

The compiled build lives in a venv of its own (`.venv-fast`, meshgen and its `fast`
extra only): SQLMesh cannot be installed beside it.
"""

from __future__ import annotations

import fcntl
import filecmp
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot

from conftest import REPO, SPECS, copy_spec, repo_venv
from meshgen.commands import engines
from synthetic import generate, write

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fast_python() -> Path:
    with open(REPO / ".venv-fast.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # each worker that runs these tests sets the venv up in turn
        # The same sqlglot release as the tests' venv, compiled: any difference is the compiled build's.
        python = repo_venv("fast", f"{REPO}[fast]", f"sqlglot[c]=={sqlglot.__version__}", key=(REPO / "pyproject.toml").read_text())
        stamp = python.parent.parent / ".meshgen-source"
        if not stamp.exists() or stamp.read_text() != source_digest():  # the other worker may be building with it
            reinstall = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--force-reinstall", str(REPO)]
            installed = subprocess.run(reinstall, capture_output=True, text=True)
            assert installed.returncode == 0, installed.stderr[-3000:]
            stamp.write_text(source_digest())
    return python


def source_digest() -> str:
    """The checkout's meshgen, as the wheel is built from it."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in ("compiler", "templates", "schemas") for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(python: Path, spec: Path, out: Path) -> None:
    result = subprocess.run([str(python), "-m", "meshgen", "build", str(spec), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ or exist on one side only, the build cache aside (it records file times)."""
    found: list[str] = []
    compared = filecmp.dircmp(left, right, ignore=["cache"])
    stack = [(compared, "")]
    while stack:
        node, prefix = stack.pop()
        found += [prefix + name for name in node.left_only + node.right_only]
        _, mismatch, errors = filecmp.cmpfiles(node.left, node.right, node.common_files, shallow=False)
        found += [prefix + name for name in mismatch + errors]
        stack += [(child, f"{prefix}{name}/") for name, child in node.subdirs.items()]
    return sorted(found)


def test_the_fast_extra_installs_the_compiled_sqlglot(fast_python):
    assert engines.has_compiled_sqlglot(str(fast_python))
    assert not engines.has_compiled_sqlglot(sys.executable)


@pytest.mark.parametrize("name", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_the_compiled_sqlglot_writes_the_same_files(fast_python, tmp_path, name):
    spec = copy_spec(name, tmp_path / "project")
    build(Path(sys.executable), spec, tmp_path / "pure")
    build(fast_python, spec, tmp_path / "compiled")
    assert differences(tmp_path / "pure", tmp_path / "compiled") == []


def test_the_compiled_sqlglot_writes_the_same_files_for_a_large_spec(fast_python, tmp_path):
    spec = write(generate(400, seed=3), tmp_path / "project")
    build(Path(sys.executable), spec, tmp_path / "pure")  # both large enough for the helper process
    build(fast_python, spec, tmp_path / "compiled")
    assert differences(tmp_path / "pure", tmp_path / "compiled") == []
