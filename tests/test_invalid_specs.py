"""Every broken spec in specs/invalid/ fails with its expected error, in place, without a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import SPECS, run_cli, run_process

INVALID = sorted((SPECS / "invalid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$", re.MULTILINE)


def expectations(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return {
        "errors": [(int(line), int(col), words) for line, col, words in _EXPECT.findall(text)],
        "hints": re.findall(r"^# expect-hint: (.+)$", text, re.MULTILINE),
        "absent": re.findall(r"^# expect-absent: (.+)$", text, re.MULTILINE),
    }


def test_there_are_enough_invalid_specs():
    assert len(INVALID) >= 15
    for path in INVALID:
        assert expectations(path)["errors"], f"{path.name} has no `# expect:` line"
        assert expectations(path)["hints"], f"{path.name} has no `# expect-hint:` line"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_spec_reports_its_error(path: Path):
    expected = expectations(path)
    result = run_cli("validate", path.name, cwd=path.parent)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for line, col, words in expected["errors"]:
        lines = [l for l in result.stderr.splitlines() if l.startswith(f"{path.name}:{line}:{col}: error: ")]
        assert lines, f"no error at {path.name}:{line}:{col} in:\n{result.stderr}"
        assert any(words in l for l in lines), f"expected {words!r} in:\n{result.stderr}"
    for hint in expected["hints"]:
        assert "hint: " in result.stderr and hint in result.stderr, result.stderr
    for secret in expected["absent"]:
        assert secret not in result.output


def test_errors_come_all_at_once_sorted_by_position(tmp_path: Path):
    spec = tmp_path / "meshgen.yaml"
    spec.write_text(
        "meshgen: 1\n"
        "project: {name: shop}\n"
        "environments:\n"
        "  dev: {gateway: nowhere}\n"
        "  prod: {gateway: elsewhere}\n"
        "models:\n"
        "  - name: staging.a\n"
        "    sql: SELECT 1 AS id\n"
        "  - name: staging.a\n"
        "    sql: SELECT 2 AS id\n",
        encoding="utf-8",
    )
    result = run_cli("validate", cwd=tmp_path)
    positions = [l.split(": error")[0] for l in result.stderr.splitlines() if ": error: " in l]
    assert positions == ["meshgen.yaml:4:18", "meshgen.yaml:5:19", "meshgen.yaml:9:11"]
    assert "3 errors" in result.stderr


def test_schema_errors_are_all_reported(tmp_path: Path):
    spec = tmp_path / "meshgen.yaml"
    spec.write_text(
        "meshgen: 1\nproject: {name: shop, dialekt: duckdb}\nmodels:\n  - name: staging.a\n    kindd: full\n    sql: SELECT 1\n",
        encoding="utf-8",
    )
    result = run_cli("validate", cwd=tmp_path)
    assert "meshgen.yaml:2:23: error: unknown key 'dialekt'" in result.stderr
    assert "did you mean 'dialect'?" in result.stderr
    assert "meshgen.yaml:5:5: error: unknown key 'kindd'" in result.stderr


def test_a_real_process_prints_no_traceback():
    path = SPECS / "invalid" / "kind_typo.yaml"
    result = run_process("validate", path.name, cwd=path.parent)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("kind_typo.yaml:7:11: error: ")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_build_rejects_exactly_what_validate_rejects_and_writes_nothing(tmp_path: Path, path: Path):
    """Every target's checks run in validate too: a spec validate passes never fails to build for bad input."""
    validated = run_cli("validate", path.name, cwd=path.parent)
    built = run_cli("build", path.name, "--out", str(tmp_path / "out"), cwd=path.parent)
    assert (validated.exit_code, built.exit_code) == (1, 1)
    assert built.stderr == validated.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
