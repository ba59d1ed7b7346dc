"""A build killed at any instant, or racing another build, never leaves a mixed or corrupt tree."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, copy_spec, run_cli
from meshgen.build import swap
from meshgen.build.memo import Memo
from meshgen.build.pipeline import analyze_and_emit, generated_patterns, resolve_spec

CHILD = REPO / "tests/helpers/swap_child.py"
RANDOM_TRIALS = 25


def tree(root: Path) -> dict[str, bytes]:
    """Every file of the tree but the spec and the build's private cache."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "minimal.yaml" and not p.relative_to(root).as_posix().startswith(".meshgen/cache/")
    }


def edited(spec: Path) -> None:
    """A new build that writes, rewrites and deletes files: a model added, a contract removed, a description changed."""
    text = spec.read_text()
    start, end = text.index("    contract:"), text.index("    sql:", text.index("    contract:"))
    text = text[:start] + "    description: Revenue per day.\n" + text[end:]
    spec.write_text(text + "\n  - name: staging.big_orders\n    sql: SELECT order_id FROM raw.orders WHERE amount > 100\n")


def planned_files(spec: Path, folder: Path, name: str = "files.json") -> Path:
    """A build's files, emitted once, for the child processes to write."""
    spec_ir, files = analyze_and_emit(resolve_spec(spec, spec.name, Memo(), spec.parent), Memo())
    target = folder / name
    target.write_text(json.dumps({"files": [(f.path, f.text) for f in files], "patterns": generated_patterns(spec_ir, files)}))
    return target


def trees(tmp_path: Path) -> tuple[Path, Path, dict, dict]:
    """The old tree (built), the new build's files, and both trees' contents."""
    spec = copy_spec("minimal.yaml", tmp_path / "old")
    assert run_cli("build", spec).exit_code == 0
    old = tree(spec.parent)
    new_root = tmp_path / "new"
    shutil.copytree(spec.parent, new_root)
    edited(new_root / spec.name)
    files = planned_files(new_root / spec.name, tmp_path)
    assert run_cli("build", new_root / spec.name).exit_code == 0
    new = tree(new_root)
    return spec.parent, files, old, new


def child(root: Path, files: Path, kill_after: "int | str") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), str(root), str(files), str(kill_after)], stdout=subprocess.PIPE, text=True)


def recovered(root: Path) -> dict[str, bytes]:
    """What the next build sees once it holds the lock and has repaired the tree."""
    with swap.locked(root):
        swap.recover(root)
    assert not (root / swap.TXN_DIR).exists(), "no staged file survives recovery"
    return tree(root)


def test_a_kill_after_any_rename_leaves_the_old_or_the_new_tree(tmp_path: Path):
    old_root, files, old, new = trees(tmp_path)
    renames = _renames_of_a_whole_write(old_root, files)
    assert renames > 5
    outcomes = set()
    for kill_after in range(renames):  # before each rename in turn
        root = tmp_path / f"k{kill_after}"
        shutil.copytree(old_root, root)
        process = child(root, files, kill_after)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        after = recovered(root)
        assert after in (old, new), f"killed after rename {kill_after}: a mixed tree"
        outcomes.add("old" if after == old else "new")
        assert outcomes == ({"old"} if kill_after == 0 else {"old", "new"}), "before the commit: old; after it: new"


def _renames_of_a_whole_write(old_root: Path, files: Path) -> int:
    root = old_root.parent / "whole"
    shutil.copytree(old_root, root)
    process = child(root, files, -1)
    out, _ = process.communicate()
    assert process.returncode == 0
    return int(out.split("renames ")[1])


def test_a_kill_at_random_instants_leaves_the_old_or_the_new_tree(tmp_path: Path):
    old_root, files, old, new = trees(tmp_path)
    chance = random.Random(19)
    for trial in range(RANDOM_TRIALS):
        root = tmp_path / f"r{trial}"
        shutil.copytree(old_root, root)
        process = child(root, files, "ready")
        assert process.stdout.readline() == "ready\n"
        time.sleep(chance.uniform(0, 0.004))
        process.kill()
        process.wait()
        assert recovered(root) in (old, new), f"trial {trial}: a mixed tree"


def test_the_next_build_recovers_without_force(tmp_path: Path):
    old_root, files, old, new = trees(tmp_path)
    spec = old_root / "minimal.yaml"
    for kill_after in (2, 5):  # mid-swap: the journal and two or five renames done: a journal is pending
        process = child(old_root, files, kill_after)
        process.wait()
        check = run_cli("build", spec, "--check")
        assert check.exit_code == 1 and "interrupted: an earlier build stopped midway" in check.stdout
        result = run_cli("build", spec)  # the old spec: the tree went forward to the new build, and back
        assert result.exit_code == 0, result.output
        assert tree(old_root) == old
        assert run_cli("build", spec, "--check").exit_code == 0


def test_two_builds_at_once_never_corrupt_the_tree(tmp_path: Path):
    old_root, new_files, old, new = trees(tmp_path)
    old_files = planned_files(old_root / "minimal.yaml", tmp_path, "old.json")
    for trial in range(6):  # the old and the new build race into one folder; the last one wins, whole
        root = tmp_path / f"c{trial}"
        shutil.copytree(old_root, root)
        racing = [child(root, files, -1) for files in (new_files, old_files, new_files)[trial % 2 :][:2]]
        for process in racing:
            process.communicate()
            assert process.returncode == 0
        assert tree(root) in (old, new)
        assert not (root / swap.TXN_DIR).exists()


def test_two_real_builds_at_once_leave_a_tree_check_accepts(tmp_path: Path):
    from conftest import run_process

    spec = copy_spec("minimal.yaml", tmp_path / "project")
    racing = [subprocess.Popen([sys.executable, "-m", "meshgen", "build", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for process in racing:
        process.communicate()
        assert process.returncode in (0, 1)
    assert any(process.returncode == 0 for process in racing)
    assert run_process("build", spec, "--check").returncode == 0


def test_a_build_waits_for_the_lock_then_fails_clearly(tmp_path: Path):
    from meshgen.errors import MeshgenError

    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        try:
            with swap.locked(tmp_path, timeout=0.3):
                raise AssertionError("the lock was held by another process")
        except MeshgenError as error:
            assert "another meshgen build is writing into this folder" in error.render()
            assert "hint: " in error.render()
        assert time.monotonic() - started < 2
    finally:
        holder.kill()
        holder.wait()


def test_an_interrupted_build_that_cannot_be_finished_is_a_clear_error(tmp_path: Path):
    old_root, files, old, new = trees(tmp_path)
    process = child(old_root, files, 1)  # killed right after the journal's commit
    process.wait()
    journal = json.loads((old_root / swap.TXN_DIR / swap.JOURNAL).read_text())
    first = old_root / journal["entries"][0][0]
    first.unlink(missing_ok=True)
    first.mkdir()
    (first / "in-the-way").write_text("a folder where a generated file goes")
    result = run_cli("build", old_root / "minimal.yaml")
    assert result.exit_code == 1, result.output
    assert "cannot finish the build that was interrupted" in result.stderr and "hint: " in result.stderr
