"""The pre-commit hooks, with real pre-commit (`try-repo` against this checkout) in a temporary git repo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SPECS

pytestmark = pytest.mark.integration
PRE_COMMIT = str(Path(sys.executable).with_name("pre-commit"))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args], cwd=repo, check=True, capture_output=True)


def hook(repo: Path, hook_id: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(REPO), hook_id, "--all-files"], cwd=repo, env=env, capture_output=True, text=True
    )


def test_hooks_regenerate_then_pass_and_catch_hand_edits(tmp_path):
    repo, home = tmp_path / "platform", tmp_path / "pre-commit-home"
    repo.mkdir()
    git(repo, "init", "-q")
    spec = repo / "meshgen.yaml"
    spec.write_text((SPECS / "minimal.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "spec")

    first = hook(repo, "meshgen-build", home)
    assert first.returncode == 1, first.stdout
    assert "generated files changed" in first.stdout
    assert (repo / "transforms/shared/contracts/marts.daily_revenue.odcs.yaml").is_file()
    git(repo, "add", ".")
    second = hook(repo, "meshgen-build", home)
    assert second.returncode == 0, second.stdout
    assert hook(repo, "meshgen-check", home).returncode == 0

    spec.write_text(spec.read_text().replace("  - name: marts.daily_revenue\n", "  - name: marts.daily_revenue\n    description: Revenue per day.\n"))
    git(repo, "add", ".")
    stale = hook(repo, "meshgen-check", home)
    assert stale.returncode == 1 and "out of date: transforms/shared/contracts/marts.daily_revenue.odcs.yaml" in stale.stdout
    changed = hook(repo, "meshgen-build", home)
    assert changed.returncode == 1, "regenerating files fails the hook, like a formatter"
    git(repo, "add", ".")
    assert hook(repo, "meshgen-build", home).returncode == 0

    generated = repo / "transforms/shared/contracts/marts.daily_revenue.odcs.yaml"
    generated.write_text(generated.read_text() + "# tweak\n")
    caught = hook(repo, "meshgen-check", home)
    assert caught.returncode == 1
    assert "edited by hand: transforms/shared/contracts/marts.daily_revenue.odcs.yaml" in caught.stdout
    refused = hook(repo, "meshgen-build", home)
    assert refused.returncode == 1 and "generated file was edited by hand" in refused.stdout
