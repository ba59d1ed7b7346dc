"""The pre-commit hooks, with real pre-commit in a temporary git repo whose `.pre-commit-config.yaml`
names this checkout (as it is, uncommitted changes included) as its hooks repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SPECS

pytestmark = pytest.mark.integration
PRE_COMMIT = str(Path(sys.executable).with_name("pre-commit"))


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout


def hooks_repository(folder: Path) -> tuple[Path, str]:
    """A clone of this checkout with its uncommitted changes committed on top, and that commit.

    (`pre-commit try-repo` does the same, but into a new store at each call, so each hook run
    would install meshgen again; a config naming a repository and rev installs it once.)
    """
    git(REPO, "clone", "-q", str(REPO), str(folder))
    listed = git(REPO, "ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source, target = REPO / name, folder / name
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.exists():
            target.unlink()
    git(folder, "add", "-A")
    if git(folder, "status", "--porcelain"):
        git(folder, "commit", "-qm", "the checkout as it is")
    return folder, git(folder, "rev-parse", "HEAD").strip()


def pre_commit_config(hooks: Path, rev: str) -> str:
    ids = "".join(f"      - id: {hook_id}\n" for hook_id in ("meshgen-build", "meshgen-check"))
    return f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n{ids}"


def hook(repo: Path, hook_id: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    return subprocess.run([PRE_COMMIT, "run", hook_id, "--all-files"], cwd=repo, env=env, capture_output=True, text=True)


def test_hooks_regenerate_then_pass_and_catch_hand_edits(tmp_path):
    repo, home = tmp_path / "platform", tmp_path / "pre-commit-home"
    repo.mkdir()
    git(repo, "init", "-q")
    spec = repo / "meshgen.yaml"
    spec.write_text((SPECS / "minimal.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(pre_commit_config(*hooks_repository(tmp_path / "hooks")), encoding="utf-8")
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
