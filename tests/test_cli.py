from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import SPECS, run_cli, run_process
from meshgen import __version__


def test_validate_example_exits_zero():
    result = run_cli("validate", "example.yaml", cwd=SPECS)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("example.yaml: ok (19 models")


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"meshgen {__version__}"


def test_spec_defaults_to_meshgen_yaml_in_the_current_folder(tmp_path: Path):
    result = run_cli("validate", cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("meshgen.yaml: error: spec file not found")


def test_help_does_not_import_sqlglot_or_jinja2():
    probe = (
        "import sys\n"
        "from meshgen.commands.cli import main\n"
        "sys.argv = ['meshgen', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('sqlglot', 'jinja2', 'jsonschema') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("[]"), result.stdout


def test_usage_errors_exit_2():
    assert run_process("build", "--no-such-option").returncode == 2


def test_init_writes_a_starter_that_validates_and_builds(tmp_path: Path):
    folder = tmp_path / "My Platform"
    result = run_cli("init", folder)
    assert result.exit_code == 0, result.output
    spec = folder / "meshgen.yaml"
    assert "name: my_platform" in spec.read_text()
    assert run_cli("validate", spec).exit_code == 0
    built = run_cli("build", spec)
    assert built.exit_code == 0, built.output
    assert (folder / "transforms/shared/contracts/customer_revenue.odcs.yaml").is_file()
    again = run_cli("init", folder)
    assert again.exit_code == 1 and "a spec already exists here" in again.stderr


def test_internal_errors_print_one_line_and_a_traceback_only_with_debug(tmp_path: Path, monkeypatch):
    import meshgen.build.pipeline

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(meshgen.build.pipeline, "load", broken)
    plain = run_cli("validate", tmp_path / "x.yaml")
    assert plain.exit_code == 3
    assert plain.stderr.count("\n") == 1 and "internal error: KeyError" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = run_cli("--debug", "validate", tmp_path / "x.yaml")
    assert "Traceback" in debug.stderr


def test_build_out_writes_elsewhere(tmp_path: Path):
    result = run_cli("build", SPECS / "minimal.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/.meshgen/manifest.json").is_file()
    assert not (SPECS / ".meshgen").exists()


def test_explain_shows_the_decision_trail_and_neighbours():
    result = run_cli("explain", "marts.customer_dashboard", "--spec", "example.yaml", cwd=SPECS)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "engine: dbt  (decided by rule self-service-marts)" in out
    assert "no match  rule low-layers -> sqlmesh: layer is presentation, not one of raw, integration" in out
    assert "ml.churn_scores  (sqlmesh)  <- crosses engines" in out
    assert "output columns:" in out and "churn_probability" in out


def test_explain_unknown_model_suggests_a_name():
    result = run_cli("explain", "marts.customer_dashbord", "--spec", "example.yaml", cwd=SPECS)
    assert result.exit_code == 1
    assert "no model named 'marts.customer_dashbord'" in result.stderr
    assert "did you mean 'marts.customer_dashboard'?" in result.stderr


def test_graph_mermaid_and_dot():
    mermaid = run_cli("graph", "example.yaml", cwd=SPECS)
    assert mermaid.exit_code == 0
    assert mermaid.stdout.startswith("flowchart LR")
    assert 'staging__stg_customers -. "sqlmesh → dbt" .-> core__customer_360' in mermaid.stdout
    assert 'subgraph layer_integration["integration"]' in mermaid.stdout
    dot = run_cli("graph", "example.yaml", "--format", "dot", cwd=SPECS)
    assert dot.stdout.startswith("digraph acme_analytics {")
    assert "staging__stg_customers -> core__customer_360 [style=dashed" in dot.stdout
    assert run_cli("graph", "example.yaml", "--format", "png", cwd=SPECS).exit_code == 2
