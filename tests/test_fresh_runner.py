"""The generated pull-request job, run as a fresh runner runs it.

A new git repository holds the spec and its generated tree; `origin` holds the
base branch and the pull request's branch. The job's checkout is a clone of it,
its setup-python a new venv on PATH; every other step runs in order, as
written, with the job's (and the step's) `env:`, against real SQLMesh and dbt on
DuckDB. meshgen itself comes from the wheel built from this checkout, through
the spec's `output.ci.meshgen: {path: ...}`, as any repository vendoring it would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SPECS, copy_spec, on_one_worker, run_cli

pytestmark = [pytest.mark.integration, on_one_worker("fresh-runner")]

PR_NUMBER = "7"
# What GitHub's expressions in the job evaluate to for pull request 7 into main.
GITHUB_EXPRESSIONS = {"github.event.pull_request.number": PR_NUMBER, "github.base_ref": "main"}
GITLAB_VARIABLES = {"CI_MERGE_REQUEST_IID": PR_NUMBER, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=git_env())
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def git_env() -> dict[str, str]:
    return {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)], check=True, capture_output=True)
    return next(dist.glob("meshgen_compiler-*.whl"))


@pytest.fixture(scope="module")
def runner_python(tmp_path_factory) -> Path:
    """setup-python's stand-in: a new venv, nothing installed. The module's jobs share it: the first
    job's own step installs everything, the later ones find it installed."""
    folder = tmp_path_factory.mktemp("runner") / "venv"
    venv.create(folder, with_pip=True)
    return folder / "bin"


def runner_env(bin_dir: Path, job_env: dict[str, str]) -> dict[str, str]:
    """A runner's environment: the new venv first on PATH, nothing of the test's own venv or meshgen settings."""
    own = Path(sys.executable).parent
    path = [str(bin_dir)] + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != own]
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MESHGEN_", "VIRTUAL_ENV", "PYTHON", "DBT_"))}
    return {**keep, "PATH": os.pathsep.join(path), "CI": "true", **job_env}


def make_repository(tmp: Path, place_spec, change) -> tuple[Path, Path]:
    """(the clone the job runs in, the spec's path in it): main holds the built tree, the PR branch `change`s one model."""
    seed = tmp / "seed"
    spec = place_spec(seed)
    git(seed, "init", "-q", "-b", "main")
    built = run_cli("build", spec, "--out", seed)
    assert built.exit_code == 0, built.output
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "base")
    git(seed, "checkout", "-qb", "pr")
    spec.write_text(change(spec.read_text(encoding="utf-8")), encoding="utf-8")
    rebuilt = run_cli("build", spec, "--out", seed)
    assert rebuilt.exit_code == 0, rebuilt.output
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "one model changed")
    origin = tmp / "origin.git"
    git(tmp, "clone", "-q", "--bare", str(seed), str(origin))
    clone = tmp / "clone"
    git(tmp, "clone", "-q", str(origin), str(clone))  # actions/checkout with fetch-depth: 0
    git(clone, "checkout", "-q", "pr")
    return clone, clone / spec.relative_to(seed)


def vendor_wheel(spec: Path, wheel: Path) -> None:
    """The spec installs meshgen from a wheel in the repository (`output.ci.meshgen: {path: ...}`)."""
    (spec.parent / "vendor").mkdir(exist_ok=True)
    shutil.copy(wheel, spec.parent / "vendor" / wheel.name)
    text = spec.read_text(encoding="utf-8")
    marker = "  ci:\n"
    assert marker in text
    spec.write_text(text.replace(marker, f"{marker}    meshgen: {{path: vendor/{wheel.name}}}\n", 1), encoding="utf-8")


def github_expressions(text: str) -> str:
    def value(match: re.Match) -> str:
        expression = match.group(1).strip()
        if expression.startswith("secrets."):
            return ""
        return GITHUB_EXPRESSIONS[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", value, str(text))


def run_github_job(clone: Path, bin_dir: Path, job: str = "check", before_slim_deploy=None) -> list[str]:
    """Every step of the job in order; returns what each `run:` printed.

    `before_slim_deploy()` is called before the step that deploys what the pull request changed."""
    workflow = yaml.safe_load((clone / ".github/workflows/meshgen.yml").read_text(encoding="utf-8"))
    spec = workflow["jobs"][job]
    job_env = {k: github_expressions(v) for k, v in spec.get("env", {}).items()}
    outputs = []
    for step in spec["steps"]:
        if "uses" in step:
            assert step["uses"].split("@")[0] in ("actions/checkout", "actions/setup-python"), step  # the test's clone and venv
            continue
        step_env = {k: github_expressions(v) for k, v in step.get("env", {}).items()}
        script = github_expressions(step["run"])
        if before_slim_deploy and "--changed-since" in script:
            before_slim_deploy()
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=clone / step.get("working-directory", "."),
            env=runner_env(bin_dir, {**job_env, **step_env}),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"step {step.get('name', script)!r} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        outputs.append(done.stdout + done.stderr)
    return outputs


def run_gitlab_job(clone: Path, bin_dir: Path, job: str = "check") -> list[str]:
    """`before_script` then `script`, line by line in one shell, with the job's variables (the image's Python: the venv)."""
    pipeline = yaml.safe_load((clone / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    spec = pipeline[job]
    before = spec.get("before_script", pipeline.get("default", {}).get("before_script", []))
    variables = {**pipeline.get("variables", {}), **spec.get("variables", {})}
    env = runner_env(bin_dir, {})
    env.update(GITLAB_VARIABLES, CI_PROJECT_DIR=str(clone))
    env.update({k: _expand(v, env) for k, v in variables.items()})
    done = subprocess.run(["bash", "-e", "-c", "\n".join([*before, *spec["script"]])], cwd=clone, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"job {job} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return [done.stdout + done.stderr]


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: env.get(m.group(1), ""), str(value))


def showcase(folder: Path, wheel: Path) -> Path:
    spec = copy_spec("example.yaml", folder / "specs")
    shutil.copy(SPECS / "demo_data.py", spec.parent)
    vendor_wheel(spec, wheel)
    (folder / ".gitignore").write_text("*.duckdb\n*.duckdb.wal\n__pycache__/\n")
    return spec


def starter(folder: Path, wheel: Path, provider: str = "github") -> Path:
    assert run_cli("init", folder).exit_code == 0
    spec = folder / "meshgen.yaml"
    vendor_wheel(spec, wheel)
    spec.write_text(spec.read_text(encoding="utf-8").replace("provider: github ", f"provider: {provider} "), encoding="utf-8")
    (folder / ".gitignore").write_text("*.duckdb\n*.duckdb.wal\n")
    return spec


def change_one_model(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return edit


def test_the_showcase_pull_request_job_passes_on_a_fresh_runner(tmp_path, wheel, runner_python):
    """...and its slim deploy builds only the changed model and its downstream (counted in the warehouse)."""
    clone, spec = make_repository(tmp_path, lambda seed: showcase(seed, wheel), _showcase_change())
    warehouse = spec.parent / "warehouse.duckdb"
    base_versions: set[str] = set()
    outputs = run_github_job(clone, runner_python, before_slim_deploy=lambda: base_versions.update(sqlmesh_versions(warehouse)))
    assert any("Ran `3` Tests" in o for o in outputs), "the SQLMesh unit tests ran under the pull request's environment"
    assert any("loaded raw.customers" in o for o in outputs), "the sample data was loaded before the deploy"
    assert base_versions, "the target branch was deployed to ci first"

    from meshgen.analysis.impact import downstream_closure
    from meshgen.build.pipeline import load

    built = load(spec, str(spec))
    analysis = built.analysis
    changed = {"staging.stg_customers"} | set(downstream_closure(built, ["staging.stg_customers"]))
    sqlmesh_rebuilt = {model_of(v) for v in sqlmesh_versions(warehouse) - base_versions}
    # SQLMesh models reading dbt tables name the environment's schemas: new versions in any renamed environment.
    bound: set[str] = set()
    for name in analysis.order:
        reads = [u for u in analysis.models[name].upstreams if u in analysis.models]
        if analysis.engine(name) == "sqlmesh" and any(analysis.engine(u) == "dbt" or u in bound for u in reads):
            bound.add(name)
    assert sqlmesh_rebuilt == {m for m in changed if analysis.engine(m) == "sqlmesh"} | bound
    dbt_models = {m for m in analysis.order if analysis.engine(m) == "dbt"}
    dbt_built = dbt_models - cloned_from(warehouse, "ci", "ci_pr_" + PR_NUMBER)
    assert dbt_built == {m for m in changed if m in dbt_models}
    assert len(changed) < len(analysis.order), "a one-model change does not rebuild everything"
    slim = next(o for o in outputs if "slim deploy" in o)
    assert f"{len(changed)} model(s) changed since origin/main" in slim, slim

    # What the closed pull request's job runs (generated where the environment outlives the runner).
    dropped = subprocess.run(
        ["meshgen", "drop-environment", str(spec.relative_to(clone)), "--out", ".", "--env", "ci"],
        cwd=clone, env=runner_env(runner_python, {"MESHGEN_ENVIRONMENT": "ci_pr_" + PR_NUMBER}), capture_output=True, text=True,
    )
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert schemas(warehouse, "__ci_pr_" + PR_NUMBER) == set()
    assert schemas(warehouse, "__ci"), "the base environment stays"


def sqlmesh_versions(warehouse: Path) -> set[str]:
    """SQLMesh's physical tables (one per model version)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute("SELECT table_name FROM information_schema.tables WHERE starts_with(table_schema, 'sqlmesh__')").fetchall()
    return {r[0] for r in rows}


def schemas(warehouse: Path, suffix: str) -> set[str]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()
    return {r[0] for r in rows if r[0].endswith(suffix)}


def model_of(version: str) -> str:
    schema, table = version.split("__")[:2]
    return f"{schema}.{table}"


def cloned_from(warehouse: Path, base: str, env: str) -> set[str]:
    """Models of `env` that are dbt clones of `base`'s tables (views reading them whole)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        views = connection.execute("SELECT schema_name, view_name, sql FROM duckdb_views() WHERE schema_name LIKE ?", [f"%__{env}"]).fetchall()
    cloned = set()
    for schema, table, sql in views:
        plain = schema.removesuffix(f"__{env}")
        if re.search(rf"SELECT \* FROM \S*{plain}__{base}\.{table};?\s*$", sql):
            cloned.add(f"{plain}.{table}")
    return cloned


def _showcase_change():
    """A safe logic change to one model of the showcase."""
    text = (SPECS / "example.yaml").read_text(encoding="utf-8")
    match = re.search(r"\n( +)WHERE ([^\n]+)\n", text)
    assert match
    return change_one_model(match.group(0), f"\n{match.group(1)}WHERE ({match.group(2)}) AND TRUE\n")


def test_the_starter_pull_request_job_passes_on_a_fresh_runner(tmp_path, wheel, runner_python):
    clone, _ = make_repository(
        tmp_path,
        lambda seed: starter(seed, wheel),
        change_one_model("WHERE amount IS NOT NULL", "WHERE amount IS NOT NULL AND amount >= 0"),
    )
    outputs = run_github_job(clone, runner_python)
    assert any("1 source table(s) loaded" in o for o in outputs)
    slim = next(o for o in outputs if "slim deploy" in o)
    assert "2 model(s) changed since origin/main" in slim and "rebuilt: staging.orders, marts.customer_revenue" in slim, slim


def test_the_starter_merge_request_job_passes_on_gitlab(tmp_path, wheel, runner_python):
    clone, _ = make_repository(
        tmp_path,
        lambda seed: starter(seed, wheel, provider="gitlab"),
        change_one_model("WHERE amount IS NOT NULL", "WHERE amount IS NOT NULL AND amount >= 0"),
    )
    (output,) = run_gitlab_job(clone, runner_python)
    assert "1 source table(s) loaded" in output
    assert "slim deploy of dev_mr_7" in output and "2 model(s) changed since origin/main" in output, output[-3000:]
