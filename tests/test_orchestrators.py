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
import shutil
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


def test_the_files_hold_the_manifests_per_model_graph(tmp_path):
    spec = load(copy_spec("example.yaml", tmp_path / "project"))
    files = {f.path: f.text for f in orchestration.emit(spec)}
    plan = json.loads(files["orchestration/manifest.json"])
    for path in orchestrator_files(files):
        models = _literal(files[path], "MODELS")
        assert list(models) == [m.name for m in spec.models]
        for name, facts in models.items():
            assert (facts["engine"], facts["stage"], facts["cron"], facts["upstreams"]) == tuple(
                plan["models"][name][k] for k in ("engine", "stage", "cron", "upstreams")
            )
        assert [s["models"] for s in _literal(files[path], "STAGES")] == [s["models"] for s in plan["stages"]]
        assert _literal(files[path], "SCHEDULE") == "@hourly"
        assert _literal(files[path], "PROJECT") == "acme_analytics"
        assert _literal(files[path], "SPEC") == "example.yaml"
    # A stage waits for the stages holding its models' upstreams, not for every stage before it.
    assert [s["after"] for s in plan["stages"]] == [[], [1], [1, 2], [2, 3]]


def test_every_contract_constraint_is_a_named_check(tmp_path):
    from meshgen.semantics.checks import contract_checks

    spec = load(copy_spec("example.yaml", tmp_path / "project"))
    files = {f.path: f.text for f in orchestration.emit(spec)}
    models = _literal(files[orchestrator_files(files)[1]], "MODELS")
    for model in spec.models:
        names = [name for name, _ in models[model.name]["checks"]]
        assert len(names) == len(set(names)) == len(contract_checks(model.contract))
        assert all(re.fullmatch(r"[A-Za-z0-9_]+", name) for name in names)
    assert ("range_risk_score", "risk_score is at least 0 and at most 100") in models["risk.fraud_alerts"]["checks"]


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
    assert sorted(files) == ["airflow/pools.json", "airflow/shop_dag.py", "manifest.json"]
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
    for path in orchestrator_files(files):
        ast.parse(files[path])
        assert _literal(files[path], "SCHEDULE") == "*/30 * * * *"
        # The files run `meshgen run meshgen.yaml`: meshgen itself reads the folders from the spec.
        assert _literal(files[path], "SPEC") == "meshgen.yaml"
        assert _literal(files[path], "MODELS")["marts.totals"]["upstreams"] == ["staging.sh"]


def test_airflow_pools_name_each_duckdb_file(tmp_path):
    spec = load(copy_spec("example.yaml", tmp_path / "project"))
    files = {f.path: f.text for f in orchestration.emit(spec)}
    pools = json.loads(files["orchestration/airflow/pools.json"])
    plan = json.loads(files["orchestration/manifest.json"])
    databases = {e["database"] for e in plan["environments"] if "database" in e}
    assert {name: p["slots"] for name, p in pools.items() if p["slots"] == 1} == {f"meshgen_{re.sub(r'[^A-Za-z0-9_]+', '_', d).strip('_').lower()}": 1 for d in databases}
    # prod is PostgreSQL: its stages share orchestration.max_cpu_cores.
    assert pools["meshgen_acme_analytics_cpu"]["slots"] == 8


# -- integration: the real orchestrators, running the real engines ------------------


def engines_env(**extra: str) -> dict[str, str]:
    """The environment of an orchestrator process: the real sqlmesh and dbt (this venv's) on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}
    env.pop("MESHGEN_ENVIRONMENT", None)
    return env


def built_example(folder: Path, retries: int | None = None, retry_delay: str = "") -> tuple[Path, object]:
    """The example built into a new folder, prod on the local DuckDB file; no warehouse yet."""
    spec_path = oracle.EXAMPLE.make_project(folder)
    if retries is not None:
        delay = {"retry_delay": retry_delay} if retry_delay else {}
        oracle.rewrite_spec(spec_path, lambda data: {**data, "orchestration": {**data["orchestration"], "retries": retries, **delay}})
    oracle.meshgen("build", spec_path.name, cwd=spec_path.parent)
    return spec_path.parent, load(spec_path)


def fresh_example(folder: Path) -> tuple[Path, object]:
    """The built example on a fresh warehouse holding the first raw data."""
    root, spec = built_example(folder)
    oracle.EXAMPLE.load_raw(root / "warehouse.duckdb", spec)
    return root, spec


DEPLOYED_DEV, RAN_DEV = oracle.step_label("deploy", "dev", oracle.T1), oracle.step_label("run", "dev", oracle.T2)


@pytest.fixture(scope="module")
def reference(example_played) -> dict[str, dict]:
    """What `meshgen deploy` and, a day later, `meshgen run` leave in dev: the example's play
    (its prod deploy in between changes nothing in dev, as the oracle checks)."""
    return {"deploy": example_played.steps[DEPLOYED_DEV], "run": example_played.steps[RAN_DEV]}


def deployed_example(folder: Path, example_played, retries: int, retry_delay: str = "") -> tuple[Path, object]:
    """The example built into a new folder on the warehouse `meshgen deploy --env dev` left in the
    example's play (a copy: SQLMesh's state is in the file), before the next day's data."""
    root, spec = built_example(folder, retries, retry_delay)
    shutil.copyfile(example_played.warehouses[DEPLOYED_DEV], root / "warehouse.duckdb")
    return root, spec


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
            task.task_id: {
                "upstream": sorted(task.upstream_task_ids),
                "retries": task.retries,
                "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
                "pool": task.pool,
                "timeout": task.execution_timeout.total_seconds() if task.execution_timeout else None,
                "outlets": [outlet.name for outlet in task.outlets],
            }
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
    if args[0] in ("inspect", "script"):
        out = root.parent / "airflow.json"
        script, script_args = (AIRFLOW_INSPECT, [str(root / "orchestration/airflow")]) if args[0] == "inspect" else (args[1], list(args[2:]))
        inspected = subprocess.run([str(python), "-c", script, str(out), *script_args], env=env, capture_output=True, text=True, timeout=600)
        assert inspected.returncode == 0, inspected.stdout[-3000:] + inspected.stderr[-3000:]
        return json.loads(out.read_text(encoding="utf-8"))
    return subprocess.run([str(python.with_name("airflow")), *args], cwd=root, env=env, capture_output=True, text=True, timeout=1200)




AIRFLOW_STATES = r"""
import json, sys
from airflow.models import DagRun, TaskInstance
from airflow.utils.session import create_session

out, dag_id = sys.argv[1:3]
with create_session() as session:
    run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
    tasks = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
    result = {"run": str(run.state), "tasks": {t.task_id: [str(t.state), t.try_number] for t in tasks}}
with open(out, "w") as file:
    json.dump(result, file)
"""


def airflow_states(root: Path, dag_id: str) -> dict:
    """The latest run of a DAG: its state and each task's (state, try number)."""
    return airflow(root, "script", AIRFLOW_STATES, dag_id)


def stage_task(spec, model: str) -> str:
    stage = spec.analysis.stage_of(model)[0]
    return f"stage_{stage.index}_{stage.engine}.{model}"


def downstream_of(spec, model: str) -> set[str]:
    """Every model that reads `model`, directly or not."""
    found: set[str] = set()
    frontier = {model}
    while frontier:
        frontier = {m.name for m in spec.models if set(spec.analysis.models[m.name].upstreams) & frontier} - found
        found |= frontier
    return found


FAILING_MODEL = "staging.stg_support_tickets"


def break_raw_tickets(database: Path, broken: bool = True) -> None:
    """The raw table FAILING_MODEL reads loses a column (and gets it back): a real failure in the engine."""
    old, new = ("opened_at", "opened_at_lost") if broken else ("opened_at_lost", "opened_at")
    with duckdb.connect(str(database)) as connection:
        connection.execute(f"ALTER TABLE raw.support_tickets RENAME COLUMN {old} TO {new}")


@pytest.mark.integration
def test_airflow_loads_a_task_per_model_that_waits_for_its_own_upstreams(tmp_path):
    root, spec = fresh_example(tmp_path / "project")
    result = airflow(root, "inspect")
    assert result["import_errors"] == {}
    envs = ("dev", "ci", "prod")
    assert sorted(result["dags"]) == sorted([f"acme_analytics__{e}" for e in envs] + [f"acme_analytics__{e}__deploy" for e in envs])
    plan = json.loads((root / "orchestration/manifest.json").read_text(encoding="utf-8"))
    databases = {e["name"]: e.get("database") for e in plan["environments"]}
    for env in envs:
        run, deploy = result["dags"][f"acme_analytics__{env}"], result["dags"][f"acme_analytics__{env}__deploy"]
        assert Path(run["fileloc"]) == (root / AIRFLOW_FILE).resolve()
        assert (run["schedule"], run["timetable"], deploy["schedule"]) == ("@hourly", "CronTriggerTimetable", None)
        assert list(deploy["tasks"]) == ["deploy"]
        tasks = run["tasks"]
        stage_runs = {s.index: f"stage_{s.index}_{s.engine}.run" for s in spec.analysis.stages}
        assert sorted(tasks) == sorted(list(stage_runs.values()) + [stage_task(spec, m.name) for m in spec.models])
        for model in spec.models:
            upstreams = [u for u in spec.analysis.models[model.name].upstreams if spec.model(u) is not None]
            stage = spec.analysis.stage_of(model.name)[0]
            task = tasks[stage_task(spec, model.name)]
            assert task["upstream"] == sorted([stage_runs[stage.index]] + [stage_task(spec, u) for u in upstreams])
            assert (task["trigger_rule"], task["retries"], task["timeout"]) == ("none_failed", 2, 7200.0)
            assert task["outlets"] == [f"acme_analytics.{env}.{model.name}"]
        for stage in spec.analysis.stages:
            task = tasks[stage_runs[stage.index]]
            outside = {u for m in stage.models for u in spec.analysis.models[m].upstreams if spec.model(u) is not None and u not in stage.models}
            assert task["upstream"] == sorted(stage_task(spec, u) for u in outside)
            assert task["trigger_rule"] == "all_done"
        # One writer at a time on a DuckDB file; prod (PostgreSQL) shares the CPU budget.
        pools = {t["pool"] for t in tasks.values()}
        expected = f"meshgen_{re.sub(r'[^A-Za-z0-9_]+', '_', databases[env]).strip('_').lower()}" if databases[env] else "meshgen_acme_analytics_cpu"
        assert pools == {expected}, pools


@pytest.mark.integration
def test_airflow_deploys_and_runs_to_the_tables_meshgen_leaves(tmp_path, reference):
    root, spec = fresh_example(tmp_path / "project")
    database = root / "warehouse.duckdb"
    deployed = airflow(root, "dags", "test", "acme_analytics__dev__deploy", "2024-04-01T00:00:00+00:00")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert airflow_states(root, "acme_analytics__dev__deploy")["tasks"] == {"deploy": ["success", 1]}
    assert oracle.summarise(database, spec, "dev") == reference["deploy"]
    oracle.EXAMPLE.load_next_day(database, spec)
    ran = airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T00:00:00+00:00")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    states = airflow_states(root, "acme_analytics__dev")["tasks"]
    assert {task: state for task, (state, _) in states.items()} == {task: "success" for task in states}
    assert oracle.summarise(database, spec, "dev") == reference["run"]
    # An hour later only the hourly models are due: the daily ones (and stages with none) are skipped.
    later = airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T01:00:00+00:00")
    assert later.returncode == 0, later.stderr[-3000:]
    states = airflow_states(root, "acme_analytics__dev")["tasks"]
    for model in spec.models:
        assert states[stage_task(spec, model.name)][0] == ("success" if model.cron == "@hourly" else "skipped"), model.name
    assert [states[f"stage_{s.index}_{s.engine}.run"][0] for s in spec.analysis.stages] == ["success", "skipped", "skipped", "skipped"]


DAGSTER_PROBE = r"""
import importlib.util, json, sys
from dagster import AssetKey, DagsterInstance

out, path, job_name, execution_time, *selected = sys.argv[1:]
spec = importlib.util.spec_from_file_location("meshgen_definitions", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
defs = module.defs
graph = defs.resolve_asset_graph()
result = {
    "assets": sorted(key.to_user_string() for key in graph.get_all_asset_keys()),
    "materializable": sorted(key.to_user_string() for key in graph.materializable_asset_keys),
    "deps": {key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys) for key in graph.materializable_asset_keys},
    "checks": sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys),
    "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
    "schedules": {s.name: {"job": s.job_name, "cron": s.cron_schedule} for s in defs.schedules},
}
selection = [AssetKey(name.split(".")) for name in selected] or None
run = defs.resolve_job_def(job_name).execute_in_process(
    instance=DagsterInstance.ephemeral(), tags={module.EXECUTION_TIME_TAG: execution_time}, raise_on_error=False, asset_selection=selection
)
kinds = [e.event_type_value for e in run.all_events]
result["run"] = {
    "success": run.success,
    "materialized": sorted(e.event_specific_data.materialization.asset_key.to_user_string() for e in run.all_events if e.event_type_value == "ASSET_MATERIALIZATION"),
    "checks": {f"{e.event_specific_data.asset_key.to_user_string()}:{e.event_specific_data.check_name}": e.event_specific_data.passed for e in run.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"},
    "failed_steps": sorted({e.step_key for e in run.all_events if e.event_type_value == "STEP_FAILURE"}),
    "succeeded_steps": sorted({e.step_key for e in run.all_events if e.event_type_value == "STEP_SUCCESS"}),
}
with open(out, "w") as file:
    json.dump(result, file)
"""


def dagster(root: Path, job: str, execution_time: str, *selected: str) -> dict:
    python = repo_venv("dagster", DAGSTER_REQUIREMENT)
    home = root.parent / "dagster-home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    out = root.parent / "dagster.json"
    result = subprocess.run(
        [str(python), "-c", DAGSTER_PROBE, str(out), str(root / DAGSTER_FILE), job, execution_time, *selected],
        cwd=root.parent, env=engines_env(DAGSTER_HOME=str(home)), capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return json.loads(out.read_text(encoding="utf-8"))


def asset_name(table: str) -> str:
    return table.replace(".", "/")


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
def test_dagster_materialises_an_asset_per_model_to_the_tables_meshgen_leaves(tmp_path, reference):
    from meshgen.semantics.checks import named_checks

    root, spec = fresh_example(tmp_path / "project")
    database = root / "warehouse.duckdb"
    deployed = dagster(root, "acme_analytics__dev__deploy", oracle.T1)
    assert deployed["run"]["success"] and deployed["run"]["succeeded_steps"] == ["deploy"], deployed["run"]
    assert oracle.summarise(database, spec, "dev") == reference["deploy"]
    # One asset per model and per source; the lineage crosses engines; one check per contract constraint.
    sources = sorted({u for m in spec.models for u in spec.analysis.models[m.name].upstreams if spec.model(u) is None})
    assert deployed["assets"] == sorted(asset_name(t) for t in [m.name for m in spec.models] + sources)
    assert deployed["materializable"] == sorted(asset_name(m.name) for m in spec.models)
    for model in spec.models:
        assert deployed["deps"][asset_name(model.name)] == sorted(asset_name(u) for u in spec.analysis.models[model.name].upstreams)
    expected_checks = sorted(f"{asset_name(m.name)}:{name}" for m in spec.models for name, _ in named_checks(m.contract))
    assert deployed["checks"] == expected_checks and len(expected_checks) > 40
    envs = ("dev", "ci", "prod")
    assert deployed["jobs"] == sorted([f"acme_analytics__{e}" for e in envs] + [f"acme_analytics__{e}__deploy" for e in envs])
    assert deployed["schedules"] == {f"acme_analytics__{e}__schedule": {"job": f"acme_analytics__{e}", "cron": "@hourly"} for e in envs}
    oracle.EXAMPLE.load_next_day(database, spec)
    ran = dagster(root, "acme_analytics__dev", oracle.T2)
    assert ran["run"]["success"], ran["run"]
    assert ran["run"]["materialized"] == deployed["materializable"]
    assert ran["run"]["checks"] == {check: True for check in expected_checks}
    assert oracle.summarise(database, spec, "dev") == reference["run"]


@pytest.mark.integration
def test_a_failed_model_stops_only_what_it_feeds_and_rebuilds_alone(tmp_path, reference, example_played):
    """A model fails for real in `meshgen run`, Airflow and Dagster alike: what it feeds is not built, the rest is."""
    root, spec = deployed_example(tmp_path / "project", example_played, retries=0)
    database = root / "warehouse.duckdb"
    oracle.EXAMPLE.load_next_day(database, spec)
    break_raw_tickets(database)
    fed = downstream_of(spec, FAILING_MODEL)
    unrelated = {m.name for m in spec.models} - fed - {FAILING_MODEL}
    assert "core.daily_customer_spend" in unrelated and "core.customer_360" in fed

    result = subprocess.run(
        [sys.executable, "-m", "meshgen", "run", spec.project.spec_file, "--env", "dev", "--execution-time", oracle.T2, "--report", "report.json"],
        cwd=root, env=engines_env(), capture_output=True, text=True,
    )
    assert result.returncode == 1, result.stdout
    statuses = {m: o["status"] for m, o in json.loads((root / "report.json").read_text())["models"].items()}
    assert statuses == {FAILING_MODEL: "failed", **{m: "blocked" for m in fed}, **{m: "success" for m in unrelated}}
    assert f"upstream {FAILING_MODEL} failed" in result.stdout

    ran = airflow(root, "dags", "test", "acme_analytics__dev", "2024-04-02T00:00:00+00:00")
    assert ran.returncode != 0
    states = airflow_states(root, "acme_analytics__dev")["tasks"]
    assert states[stage_task(spec, FAILING_MODEL)][0] == "failed"
    assert {m: states[stage_task(spec, m)][0] for m in fed} == {m: "upstream_failed" for m in fed}
    assert {m: states[stage_task(spec, m)][0] for m in unrelated} == {m: "success" for m in unrelated}

    failed = dagster(root, "acme_analytics__dev", oracle.T2)["run"]
    assert not failed["success"] and failed["failed_steps"] == ["stage_1_sqlmesh"]
    stage_one = spec.analysis.stages[0].models
    assert failed["materialized"] == sorted(asset_name(m) for m in stage_one if m != FAILING_MODEL)
    assert failed["succeeded_steps"] == [], "the stages after the failed one do not start"

    # Fixed: the failed model and what it feeds, nothing else.
    break_raw_tickets(database, broken=False)
    retried = dagster(root, "acme_analytics__dev", oracle.T2, FAILING_MODEL, *sorted(fed))["run"]
    assert retried["success"] and retried["materialized"] == sorted(asset_name(m) for m in {FAILING_MODEL} | fed)
    assert oracle.summarise(database, spec, "dev") == reference["run"]


@pytest.mark.integration
def test_an_airflow_retry_rebuilds_the_failed_model_alone(tmp_path, reference, example_played):
    """Airflow's own retry, ten seconds after a real failure, once the data is fixed: the model alone, then what it feeds."""
    root, spec = deployed_example(tmp_path / "project", example_played, retries=1, retry_delay="10s")
    database = root / "warehouse.duckdb"
    oracle.EXAMPLE.load_next_day(database, spec)
    break_raw_tickets(database)
    python = repo_venv("airflow", AIRFLOW_REQUIREMENT)
    airflow(root, "version")  # the metadata database
    env = engines_env(
        AIRFLOW_HOME=str(root.parent / "airflow-home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(root / "orchestration/airflow"),
    )
    argv = [str(python.with_name("airflow")), "dags", "test", "acme_analytics__dev", "2024-04-02T00:00:00+00:00"]
    with subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        output = []
        for line in process.stdout:
            output.append(line)
            if f"{FAILING_MODEL} failed in stage_1_sqlmesh" in line and len(output) and not any("fixed" == o for o in output):
                break_raw_tickets(database, broken=False)  # during the retry delay: no task holds the file
                output.append("fixed")
        process.wait(timeout=600)
    assert process.returncode == 0, "".join(output)[-5000:]
    states = airflow_states(root, "acme_analytics__dev")["tasks"]
    assert states[stage_task(spec, FAILING_MODEL)] == ["success", 2]
    assert states["stage_1_sqlmesh.run"] == ["success", 1], "the stage did not run again"
    assert {task: state for task, (state, _) in states.items()} == {task: "success" for task in states}
    assert oracle.summarise(database, spec, "dev") == reference["run"]
