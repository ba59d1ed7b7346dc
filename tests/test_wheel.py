"""The wheel carries schemas/ and templates/: installed into a fresh venv, it works from anywhere."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO, copy_spec
from meshgen import __version__

pytestmark = pytest.mark.integration


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("meshgen_compiler-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run([env_dir / "bin/pip", "install", "--quiet", str(wheel)], check=True, capture_output=True)
    shown = subprocess.run([env_dir / "bin/pip", "show", "meshgen-compiler"], capture_output=True, text=True)
    assert shown.returncode == 0 and "Name: meshgen-compiler" in shown.stdout, "installed under the distribution's name"
    version = subprocess.run([env_dir / "bin/meshgen", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"meshgen {__version__}", version.stdout + version.stderr
    workdir = tmp_path / "elsewhere"
    spec = copy_spec("example.yaml", workdir)
    meshgen = str(env_dir / "bin/meshgen")
    validated = subprocess.run([meshgen, "validate", spec.name], cwd=workdir, capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr
    assert "example.yaml: ok" in validated.stdout
    built = subprocess.run([meshgen, "build", spec.name], cwd=workdir, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert (workdir / "transforms/shared/contracts/customer_360.odcs.yaml").is_file()
    schema = subprocess.run([meshgen, "schema"], cwd=workdir, capture_output=True, text=True)
    assert schema.stdout.startswith("{") and "meshgen spec" in schema.stdout
