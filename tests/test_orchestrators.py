"""The generated Airflow DAG and Dagster definitions.

Fast tests read the files with `ast`. The integration tests load them in the
real orchestrators, each in its own venv (`.venv-airflow`, `.venv-dagster`:
they conflict with each other and with dbt and SQLMesh), created on first use
and reused while the pinned requirement is unchanged, and run them for real
(`airflow dags test`, Dagster's `execute_in_process`) with the real engines on
DuckDB: a deploy, a day of new raw data, then the scheduled run, must leave
the tables `meshgen deploy` and `meshgen run` leave.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

duckdb = pytest.importorskip("duckdb")

import oracle
from conftest import REPO, copy_spec, load_dict, repo_venv, spec_with
from meshgen.targets import orchestration
from meshgen.build.pipeline import load

AIRFLOW_REQUIREMENT = "apache-airflow==3.3.*"
DAGSTER_REQUIREMENT = "dagster==1.13.*"
AIRFLOW_FILE = "orchestration/airflow/acme_analytics_dag.py"
DAGSTER_FILE = "orchestration/dagster/definitions.py"

# A spec whose output folders hold text that shell quoting, Python literals and
# Airflow's Jinja rendering must all carry through unchanged, and a model named
# like a script file (Airflow reads a bash_command ending in `.sh` as a file name).
HOSTILE_OUTPUT = {
    "sqlmesh": "sql mesh/{{ it }}",
    "dbt": "d'bt/$HOME/{% raw %}",
    "orchestration": {"dir": 'orch {#x#}/"deep"'},
}
HOSTILE_ENGINES = {"default": "dbt", "rules": [{"name": "staging", "when": {"name": "staging.*"}, "engine": "sqlmesh"}]}
HOSTILE_MODELS = (
    {"name": "staging.sh", "sql": "SELECT order_id, customer_id, amount FROM raw.orders"},
    {
        "name": "marts.totals",
        "cron": "*/30 * * * *",
        "sql": "SELECT customer_id, SUM(amount) AS total FROM staging.sh GROUP BY customer_id",
    },
)


def hostile_spec(folder: Path):
    spec = load_dict(folder, spec_with(*HOSTILE_MODELS, output=HOSTILE_OUTPUT, engines=HOSTILE_ENGINES))
    assert len(spec.analysis.stages) == 2
    return spec


def write_orchestration(spec, root: Path) -> dict[str, str]:
    """Only this target's files, written under root: {path: text}."""
    files = {f.path: f.text for f in orchestration.emit(spec)}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return files


def orchestrator_files(files: dict[str, str]) -> tuple[str, str]:
    airflow = next(p for p in files if "/airflow/" in f"/{p}")
    dagster = next(p for p in files if p.endswith("dagster/definitions.py"))
    return airflow, dagster


# -- fast: the files as text ------------------------------------------------------


def _top_level_calls(tree: ast.Module) -> set[str]:
    """Dotted names called outside function bodies (what runs at import time)."""
    called: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for decorator in getattr(node, "decorator_list", ()):
                visit(decorator)
            return
        if isinstance(node, ast.Call):
            called.add(ast.unparse(node.func))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return called


def _string_constants(tree: ast.Module) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@pytest.mark.parametrize("spec_name", ["example.yaml", "minimal.yaml"])
def test_files_parse_and_carry_no_absolute_path(tmp_path, spec_name):
    spec = load(copy_spec(spec_name, tmp_path / "project"))
    files = {f.path: f.text for f in orchestration.emit(spec)}
    assert orchestration.emit(spec) == orchestration.emit(spec)
    for path in orchestrator_files(files):
        text = files[path]
        tree = ast.parse(text, filename=path)
        assert str(tmp_path) not in text and str(REPO) not in text
        for value in _string_constants(tree):
            assert not re.match(r"^(/\w|[A-Za-z]:[\\/]|~)", value), f"{path}: absolute path {value!r}"
        # The root comes from the file's own location, nothing at import time but building objects.
        assert "Path(__file__).resolve().parents[2]" in text
        calls = _top_level_calls(tree)
        assert not calls & {"open", "subprocess.run", "subprocess.Popen", "os.system", "exec", "eval"}, calls
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("meshgen")]


def test_every_value_is_a_python_literal_and_commands_match_the_manifest(tmp_path):
    spec = load(copy_spec("example.yaml", tmp_path / "project"))
    files = {f.path: f.text for f in orchestration.emit(spec)}
    plan = json.loads(files["orchestration/manifest.json"])
    for path in orchestrator_files(files):
        stages = _literal(files[path], "STAGES")
        assert [s["models"] for s in stages] == [s["models"] for s in plan["stages"]]
        for stage, planned in zip(stages, plan["stages"]):
            assert stage["deploy"] == planned["deploy"]
            for env, run in planned["run"].items():
                assert stage["run"][env]["command"] == run["command"]
                assert stage["run"][env]["models"] == [(m["cron"], m["args"]) for m in run["models"]]
        assert _literal(files[path], "SCHEDULE") == "@hourly"
        assert _literal(files[path], "PROJECT") == "acme_analytics"


def test_the_files_carry_meshgens_own_cron_rules(tmp_path):
    """Both orchestrators decide what is due with a copy of meshgen/cron.py, so they agree with `meshgen run`."""
    from meshgen import cron

    spec = load(copy_spec("example.yaml", tmp_path / "project"))
    files = {f.path: f.text for f in orchestration.emit(spec)}
    source = Path(cron.__file__).read_text(encoding="utf-8")
    functions = {n.name: ast.unparse(n) for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for path in orchestrator_files(files):
        copied = {n.name: ast.unparse(n) for n in ast.parse(files[path]).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert {name: copied.get(name) for name in functions} == functions, path


def _literal(text: str, name: str):
    tree = ast.parse(text)
    value = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == name)
    return ast.literal_eval(value)


def test_switches_and_folders(tmp_path):
    data = spec_with(*HOSTILE_MODELS, engines=HOSTILE_ENGINES, output={"orchestration": {"airflow": False}})
    paths = [f.path for f in orchestration.emit(load_dict(tmp_path / "a", data))]
    assert paths == ["orchestration/manifest.json", "orchestration/dagster/definitions.py"]
    data["output"] = {"orchestration": {"dir": ".", "dagster": False}}
    files = {f.path: f.text for f in orchestration.emit(load_dict(tmp_path / "b", data))}
    assert sorted(files) == ["airflow/shop_dag.py", "manifest.json"]
    assert "Path(__file__).resolve().parents[1]" in files["airflow/shop_dag.py"]
    data["output"] = {"orchestration": {"dir": "ops/scheduling/generated"}}
    files = {f.path: f.text for f in orchestration.emit(load_dict(tmp_path / "c", data))}
    for path, text in files.items():
        if path.endswith(".py"):
            depth = int(re.search(r"\.parents\[(\d+)\]", text).group(1))
            assert (PurePosixPath("project") / path).parents[depth] == PurePosixPath("project")


def test_hostile_folders_stay_literal(tmp_path):
    spec = hostile_spec(tmp_path / "project")
    files = {f.path: f.text for f in orchestration.emit(spec)}
    plan = json.loads(next(t for p, t in files.items() if p.endswith("manifest.json")))
    for path in orchestrator_files(files):
        ast.parse(files[path])
        assert _literal(files[path], "SCHEDULE") == "*/30 * * * *"
        # Argument lists, as in the manifest: nothing for a shell or Jinja to reinterpret.
        for stage, planned in zip(_literal(files[path], "STAGES"), plan["stages"]):
            assert stage["deploy"] == planned["deploy"]


# -- integration: the real orchestrators, running the real engines ------------------


def engines_env(**extra: str) -> dict[str, str]:
    """The environment of an orchestrator process: the real sqlmesh and dbt (this venv's) on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}
    env.pop("MESHGEN_ENVIRONMENT", None)
    return env


def fresh_example(folder: Path, retries: int | None = None) -> tuple[Path, object]:
    """The example built into a new folder, with the first raw data loaded (prod on the local DuckDB file)."""
    spec_path = oracle.EXAMPLE.make_project(folder)
    if retries is not None:
        oracle.rewrite_spec(spec_path, lambda data: {**data, "orchestration": {**data["orchestration"], "retries": retries}})
    oracle.meshgen("build", spec_path.name, cwd=spec_path.parent)
    spec = load(spec_path)
    oracle.EXAMPLE.load_raw(spec_path.parent / "warehouse.duckdb", spec)
    return spec_path.parent, spec


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict]:
    """What `meshgen deploy` and, a day later, `meshgen run` leave in dev."""
    root, spec = fresh_example(tmp_path_factory.mktemp("reference") / "project")
    tables = {}
    oracle.meshgen("deploy", spec.project.spec_file, "--env", "dev", "--execution-time", oracle.T1, cwd=root)
    tables["deploy"] = oracle.summarise(root / "warehouse.duckdb", spec, "dev")
    oracle.EXAMPLE.load_next_day(root / "warehouse.duckdb", spec)
    oracle.meshgen("run", spec.project.spec_file, "--env", "dev", "--execution-time", oracle.T2, cwd=root)
    tables["run"] = oracle.summarise(root / "warehouse.duckdb", spec, "dev")
    return tables


AIRFLOW_INSPECT = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

out, folder = sys.argv[1:3]
bag = DagBag(dag_folder=folder)
result = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    result["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "schedule": dag.schedule,
        "timetable": type(dag.timetable).__name__,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md,
        "serialized_tasks": sorted(serialized.task_ids),
        "tasks": {
            task.task_id: {"upstream": sorted(task.upstream_task_ids), "retries": task.retries, "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule)}
            for task in dag.tasks
        },
    }
with open(out, "w") as file:
    json.dump(result, file)
"""


def airflow(root: Path, *args: str) -> subprocess.CompletedProcess:
    python = repo_venv("airflow", AIRFLOW_REQUIREMENT)
    home = root.parent / "airflow-home"
    env = engines_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(root / "orchestration/airflow"),
    )
    if not home.exists():
        home.mkdir()
        migrated = subprocess.run([str(python.with_name("airflow")), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
        assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    if args[0] == "inspect":
        out = root.parent / "airflow.json"
        inspected = subprocess.run([str(python), "-c", AIRFLOW_INSPECT, str(out), str(root / "orchestration/airflow")], env=env, capture_output=True, text=True, timeout=600)
        assert inspected.returncode == 0, inspected.stdout[-3000:] + inspected.stderr[-3000:]
        return json.loads(out.read_text(encoding="utf-8"))
    return subprocess.run([str(python.with_name("airflow")), *args], cwd=root, env=env, capture_output=True, text=True, timeout=1200)


def task_states(output: str) -> list[str]:
    return re.findall(r"new_state=(\w+)", output)


@pytest.mark.integration
def test_airflow_loads_the_dags_with_a_chain_of_stages(tmp_path):
    root, spec = fresh_example(tmp_path / "project")
    result = airflow(root, "inspect")
    assert result["import_errors"] == {}
    envs = ("dev", "ci", "prod")
    assert sorted(result["dags"]) == sorted([f"acme_analytics__{e}" for e in envs] + [f"acme_analytics__{e}__deploy" for e in envs])
    task_ids = [f"stage_{s.index}_{s.engine}" for s in spec.analysis.stages]
    for env in envs:
        run, deploy = result["dags"][f"acme_analytics__{env}"], result["dags"][f"acme_analytics__{env}__deploy"]
        assert Path(run["fileloc"]) == (root / AIRFLOW_FILE).resolve()
        assert (run["schedule"], run["timetable"], deploy["schedule"]) == ("@hourly", "CronTriggerTimetable", None)
        for dag in (run, deploy):
            assert (dag["catchup"], dag["max_active_runs"]) == (False, 1)
            assert dag["serialized_tasks"] == sorted(task_ids) and list(dag["tasks"]) == task_ids
            for i, task_id in enumerate(task_ids):
                assert dag["tasks"][task_id]["upstream"] == task_ids[i - 1 : i]
                assert dag["tasks"][task_id]["retries"] == 2
        # A stage with nothing due is skipped and the next one still runs.
        assert {t["trigger_rule"] for t in run["tasks"].values()} == {"none_failed"}
        for stage in spec.analysis.stages:
            for model in stage.models:
                assert f"`{model}`" in run["doc_md"]


@pytest.mark.integration
def test_airflow_deploys_and_runs_to_the_tables_meshgen_leaves(tmp_path, reference):
    root, spec = fresh_example(tmp_path / "project")
    database = root / "warehouse.duckdb"
    deployed = airflow(root, "dags", "test", "acme_analytics__dev__deploy", "2024-04-01T00:00:00+00:00")
    assert deployed.returncode == 0 and set(task_states(deployed.stdout + deployed.stderr)) == {"success"}, deployed.stderr[-5000:]
    assert oracle.summarise(database, spec, "dev") == reference["deploy"]
    oracle.EXAMPLE.load_next_day(database, spec)
    ran = airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T00:00:00+00:00")
    assert ran.returncode == 0 and set(task_states(ran.stdout + ran.stderr)) == {"success"}, ran.stderr[-5000:]
    assert oracle.summarise(database, spec, "dev") == reference["run"]
    # An hour later only the hourly models are due, all in stage 1: the other stages are skipped.
    later = airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T01:00:00+00:00")
    states = task_states(later.stdout + later.stderr)
    assert later.returncode == 0 and states == ["success", "skipped", "skipped", "skipped"], states


DAGSTER_PROBE = r"""
import importlib.util, json, sys
from dagster import DagsterInstance

out, path, job_name, execution_time = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("meshgen_definitions", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
defs = module.defs
result = {"jobs": {}, "schedules": {}}
for job in defs.resolve_all_job_defs():
    structure = job.graph.dependency_structure
    result["jobs"][job.name] = {
        "upstream": {
            node.name: sorted(o.node_name for o in structure.all_upstream_outputs_from_node(node.name)) for node in job.graph.nodes
        },
        "tags": dict(job.tags),
    }
for schedule in defs.schedules:
    result["schedules"][schedule.name] = {"job": schedule.job_name, "cron": schedule.cron_schedule, "timezone": schedule.execution_timezone}
run = defs.resolve_job_def(job_name).execute_in_process(
    instance=DagsterInstance.ephemeral(), tags={module.EXECUTION_TIME_TAG: execution_time}, raise_on_error=False
)
events = [(e.step_key, e.event_type_value) for e in run.all_events if e.step_key]
result["run"] = {"success": run.success, "steps": [k for k, kind in events if kind == "STEP_SUCCESS"], "failed": [k for k, kind in events if kind == "STEP_FAILURE"]}
with open(out, "w") as file:
    json.dump(result, file)
"""


def dagster(root: Path, job: str, execution_time: str) -> dict:
    python = repo_venv("dagster", DAGSTER_REQUIREMENT)
    home = root.parent / "dagster-home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    out = root.parent / "dagster.json"
    env = engines_env(DAGSTER_HOME=str(home))
    result = subprocess.run(
        [str(python), "-c", DAGSTER_PROBE, str(out), str(root / DAGSTER_FILE), job, execution_time],
        cwd=root.parent, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.integration
def test_dagster_definitions_validate(tmp_path):
    root, _ = fresh_example(tmp_path / "project")
    python = repo_venv("dagster", DAGSTER_REQUIREMENT)
    home = tmp_path / "dagster-home"
    home.mkdir()
    validate = subprocess.run(
        [str(python.with_name("dagster")), "definitions", "validate", "-f", DAGSTER_FILE],
        cwd=root, env=engines_env(DAGSTER_HOME=str(home)), capture_output=True, text=True, timeout=300,
    )
    assert validate.returncode == 0, validate.stdout[-5000:] + validate.stderr[-5000:]
    assert "Validation successful" in validate.stdout + validate.stderr


@pytest.mark.integration
def test_dagster_deploys_and_runs_to_the_tables_meshgen_leaves(tmp_path, reference):
    root, spec = fresh_example(tmp_path / "project")
    database = root / "warehouse.duckdb"
    op_names = [f"stage_{s.index}_{s.engine}" for s in spec.analysis.stages]
    deployed = dagster(root, "acme_analytics__dev__deploy", oracle.T1)
    assert deployed["run"] == {"success": True, "steps": op_names, "failed": []}
    assert oracle.summarise(database, spec, "dev") == reference["deploy"]
    envs = ("dev", "ci", "prod")
    assert sorted(deployed["jobs"]) == sorted([f"acme_analytics__{e}" for e in envs] + [f"acme_analytics__{e}__deploy" for e in envs])
    for env in envs:
        for job in (f"acme_analytics__{env}", f"acme_analytics__{env}__deploy"):
            upstream = deployed["jobs"][job]["upstream"]
            assert upstream == {name: op_names[i - 1 : i] for i, name in enumerate(op_names)}
            assert deployed["jobs"][job]["tags"]["meshgen/environment"] == env
    # Only the scheduled runs have a schedule; deploys are launched by hand (or by CI).
    assert deployed["schedules"] == {
        f"acme_analytics__{e}__schedule": {"job": f"acme_analytics__{e}", "cron": "@hourly", "timezone": "UTC"} for e in envs
    }
    oracle.EXAMPLE.load_next_day(database, spec)
    ran = dagster(root, "acme_analytics__dev", oracle.T2)
    assert ran["run"] == {"success": True, "steps": op_names, "failed": []}
    assert oracle.summarise(database, spec, "dev") == reference["run"]


@pytest.mark.integration
def test_a_failing_stage_stops_the_ones_after_it(tmp_path):
    """dbt fails for real (an upstream view it reads is gone): the stages after it must not run."""
    root, spec = fresh_example(tmp_path / "project", retries=0)
    oracle.meshgen("deploy", spec.project.spec_file, "--env", "dev", "--execution-time", oracle.T1, cwd=root)
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        connection.execute("DROP VIEW staging__dev.stg_accounts")
    op_names = [f"stage_{s.index}_{s.engine}" for s in spec.analysis.stages]
    ran = dagster(root, "acme_analytics__dev", oracle.T2)
    assert ran["run"] == {"success": False, "steps": op_names[:1], "failed": op_names[1:2]}
    result = airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T00:00:00+00:00")
    output = result.stdout + result.stderr
    assert task_states(output) == ["success", "failed"]
    started = re.findall(r"running task <TaskInstance: acme_analytics__dev\.(\w+)", output)
    assert started == op_names[:2], "no stage after the failed one starts"
