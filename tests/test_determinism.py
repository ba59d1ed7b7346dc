"""Same spec, same bytes: across processes with different hash seeds."""

from __future__ import annotations

from pathlib import Path

from conftest import copy_spec, run_process
from golden_tree import read_tree


def test_output_is_byte_identical_across_hash_seeds(tmp_path: Path):
    spec = copy_spec("example.yaml", tmp_path / "src")
    trees = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / f"out-{seed}"
        result = run_process("build", spec, "--out", out, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        trees.append({path: text.encode() for path, text in read_tree(out).items()})
    assert trees[0] == trees[1] == trees[2]
    assert len(trees[0]) > 1
