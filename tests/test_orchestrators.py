"""The generated Airflow DAG and Dagster definitions.

Fast tests read the files with `ast`. The integration tests load them in the
real orchestrators, each in its own venv (`.venv-airflow`, `.venv-dagster`:
they conflict with each other and with dbt and SQLMesh), created on first use
and reused while the pinned requirement is unchanged. The tasks and ops are
also executed, with stand-ins for the `sqlmesh` and `dbt` CLIs on PATH that
record their arguments and working directory: that proves each stage runs its
exact commands from the output root, in stage order (the real engines running
these commands is `meshgen run`'s test).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from conftest import REPO, copy_spec, load_dict, spec_with
from meshgen.emit import orchestration
from meshgen.pipeline import build, load

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
    """Only this emitter's files, written under root: {path: text}."""
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
            assert not re.match(r"^(/|[A-Za-z]:[\\/]|~)", value), f"{path}: absolute path {value!r}"
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
            for env, argvs in planned["commands"].items():
                assert [shlex.split(line) for line in stage["commands"][env]] == argvs
        assert _literal(files[path], "SCHEDULE") == "@hourly"
        assert _literal(files[path], "PROJECT") == "acme_analytics"


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
    airflow, dagster = orchestrator_files(files)
    for path in (airflow, dagster):
        ast.parse(files[path])
        assert _literal(files[path], "SCHEDULE") == "*/30 * * * *"
    # Dagster splits the lines back into the manifest's argument lists.
    for stage, planned in zip(_literal(files[dagster], "STAGES"), plan["stages"]):
        assert {env: [shlex.split(c) for c in lines] for env, lines in stage["commands"].items()} == planned["commands"]


# -- integration: the real orchestrators --------------------------------------


def orchestrator_python(name: str, requirement: str) -> Path:
    """The venv of one orchestrator, created (once per requirement) in the repository."""
    venv = REPO / f".venv-{name}"
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{hashlib.sha256(requirement.encode()).hexdigest()[:16]}"
    if not stamp.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
            capture_output=True,
            text=True,
            timeout=1500,
        )
        assert install.returncode == 0, f"pip install {requirement} failed:\n{install.stdout[-3000:]}{install.stderr[-3000:]}"
        stamp.touch()
    return python


STAND_IN = """#!{python}
# Stands in for the engine's CLI: records where it ran and with which arguments.
import json, os, sys
tool = os.path.basename(sys.argv[0])
with open(os.environ["MESHGEN_STAND_IN_LOG"], "a") as log:
    log.write(json.dumps({{"tool": tool, "cwd": os.getcwd(), "argv": sys.argv[1:]}}) + "\\n")
if os.environ.get("MESHGEN_STAND_IN_FAIL") == tool:
    for number in range(1, 101):
        print(f"{{tool}} output line {{number}}")
    sys.exit(3)
"""


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bin")
    for tool in ("sqlmesh", "dbt"):
        (folder / tool).write_text(STAND_IN.format(python=sys.executable), encoding="utf-8")
        (folder / tool).chmod(0o755)
    return folder


def probe(python: Path, code: str, *args: str, env: dict[str, str], cwd: Path) -> dict:
    out = cwd / "probe.json"
    result = subprocess.run(
        [str(python), "-c", code, str(out), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return json.loads(out.read_text(encoding="utf-8"))


def stand_in_env(stand_ins: Path, log: Path) -> dict[str, str]:
    return {"PATH": f"{stand_ins}{os.pathsep}{os.environ['PATH']}", "MESHGEN_STAND_IN_LOG": str(log)}


def recorded(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def expected_calls(plan: dict, env: str, root: Path) -> list[dict]:
    return [
        {"tool": argv[0], "cwd": str(root.resolve()), "argv": argv[1:]}
        for stage in plan["stages"]
        for argv in stage["commands"][env]
    ]


@pytest.fixture(scope="module")
def example_build(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("orchestrators") / "project"
    build(copy_spec("example.yaml", root))
    return root, json.loads((root / "orchestration/manifest.json").read_text(encoding="utf-8"))


AIRFLOW_PROBE = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

out, folder, run_dag_id = sys.argv[1:4]
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
                "downstream": sorted(task.downstream_task_ids),
                "bash_command": task.bash_command,
                "retries": task.retries,
                "operator": type(task).__name__,
            }
            for task in dag.tasks
        },
    }

# Run one DAG's tasks in dependency order, the way a worker does: render, then execute.
dag = bag.dags[run_dag_id]
done, runs = set(), []
while len(done) < len(dag.tasks):
    task = next(t for t in dag.tasks if t.task_id not in done and t.upstream_task_ids <= done)
    task.render_template_fields(context={})
    try:
        task.execute(context={})
        runs.append([task.task_id, "success", task.bash_command])
    except Exception as error:
        runs.append([task.task_id, type(error).__name__, task.bash_command])
    done.add(task.task_id)
result["runs"] = runs
with open(out, "w") as file:
    json.dump(result, file)
"""


def run_airflow(root: Path, folder: str, dag_id: str, env: dict[str, str]) -> dict:
    python = orchestrator_python("airflow", AIRFLOW_REQUIREMENT)
    home = root.parent / "airflow-home"
    home.mkdir(exist_ok=True)
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env}
    return probe(python, AIRFLOW_PROBE, str(root / folder), dag_id, env=env, cwd=root.parent)


@pytest.mark.integration
def test_airflow_loads_the_dags_and_runs_each_stage_from_the_root(example_build, stand_ins):
    root, plan = example_build
    log = root.parent / "airflow-calls.jsonl"
    result = run_airflow(root, "orchestration/airflow", "acme_analytics__dev", stand_in_env(stand_ins, log))
    assert result["import_errors"] == {}
    assert sorted(result["dags"]) == ["acme_analytics__ci", "acme_analytics__dev", "acme_analytics__prod"]
    task_ids = [f"stage_{s['index']}_{s['engine']}" for s in plan["stages"]]
    assert task_ids == ["stage_1_sqlmesh", "stage_2_dbt", "stage_3_sqlmesh", "stage_4_dbt"]
    for env in ("dev", "ci", "prod"):
        dag = result["dags"][f"acme_analytics__{env}"]
        assert Path(dag["fileloc"]) == (root / AIRFLOW_FILE).resolve()
        assert dag["schedule"] == "@hourly" == min((s["cron"] for s in plan["stages"]), key=["@hourly", "@daily"].index)
        assert dag["timetable"] == "CronTriggerTimetable"
        assert (dag["catchup"], dag["max_active_runs"]) == (False, 1)
        assert dag["tags"] == sorted(["meshgen", "acme_analytics", env])
        assert dag["serialized_tasks"] == sorted(task_ids)
        assert list(dag["tasks"]) == task_ids
        for i, task_id in enumerate(task_ids):
            task = dag["tasks"][task_id]
            assert task["operator"] == "BashOperator" and task["retries"] == 2
            assert task["upstream"] == task_ids[i - 1 : i] if i else task["upstream"] == []
            assert task["downstream"] == task_ids[i + 1 : i + 2]
            stage = plan["stages"][i]
            assert task["bash_command"] == " && ".join(
                [f"cd {shlex.quote(str(root.resolve()))}", *(shlex.join(argv) for argv in stage["commands"][env])]
            )
            for model in stage["models"]:
                assert f"`{model}`" in dag["doc_md"]
    assert [run[:2] for run in result["runs"]] == [[task_id, "success"] for task_id in task_ids]
    assert recorded(log) == expected_calls(plan, "dev", root)


@pytest.mark.integration
def test_airflow_carries_hostile_folders_and_stops_a_stage_at_the_first_failure(tmp_path, stand_ins):
    root = tmp_path / "project"
    spec = hostile_spec(root)
    airflow, _ = orchestrator_files(write_orchestration(spec, root))
    plan = json.loads((root / HOSTILE_OUTPUT["orchestration"]["dir"] / "manifest.json").read_text(encoding="utf-8"))
    log = tmp_path / "calls.jsonl"
    env = {**stand_in_env(stand_ins, log), "MESHGEN_STAND_IN_FAIL": "dbt"}
    result = run_airflow(root, str(Path(airflow).parent), "shop__dev", env)
    assert result["import_errors"] == {}
    assert sorted(result["dags"]) == ["shop__dev", "shop__prod"]
    assert result["dags"]["shop__dev"]["schedule"] == "*/30 * * * *"
    # Rendered by Airflow's Jinja and run by bash, the commands arrive unchanged; dbt fails the second task.
    assert [run[:2] for run in result["runs"]] == [["stage_1_sqlmesh", "success"], ["stage_2_dbt", "AirflowException"]]
    assert recorded(log) == expected_calls(plan, "dev", root)


DAGSTER_PROBE = r"""
import importlib.util, json, os, sys

out, path, run_job = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("meshgen_definitions", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
defs = module.defs
result = {"jobs": {}, "schedules": {}}
for job in defs.resolve_all_job_defs():
    structure = job.graph.dependency_structure
    result["jobs"][job.name] = {
        "ops": [node.name for node in job.graph.nodes],
        "upstream": {
            node.name: sorted(o.node_name for o in structure.all_upstream_outputs_from_node(node.name))
            for node in job.graph.nodes
        },
        "tags": dict(job.tags),
        "retries": job.op_retry_policy.max_retries if job.op_retry_policy else None,
    }
for schedule in defs.schedules:
    result["schedules"][schedule.name] = {
        "job": schedule.job_name,
        "cron": schedule.cron_schedule,
        "timezone": schedule.execution_timezone,
    }


def step_order(run):
    return [event.step_key for event in run.all_events if event.event_type_value == "STEP_SUCCESS"]


run = defs.resolve_job_def(run_job).execute_in_process(raise_on_error=False)
result["run"] = {"success": run.success, "steps": step_order(run)}

# The same graph without the job's retry delays, with dbt failing: the op fails with the tail of the output.
os.environ["MESHGEN_STAND_IN_FAIL"] = "dbt"
environment = run_job.rsplit("__", 1)[1]
probe_job = module.stages.to_job(name="probe", resource_defs={"meshgen": module.MeshgenEnvironment(name=environment)})
failed = probe_job.execute_in_process(raise_on_error=False)
failures = [event for event in failed.all_events if event.is_step_failure]
result["failure"] = {
    "success": failed.success,
    "steps": step_order(failed),
    "failed": [event.step_key for event in failures],
    "description": failures[0].step_failure_data.user_failure_data.description if failures else None,
}
with open(out, "w") as file:
    json.dump(result, file)
"""


@pytest.mark.integration
def test_dagster_loads_the_definitions_and_runs_the_stages_in_order(example_build, stand_ins):
    root, plan = example_build
    python = orchestrator_python("dagster", DAGSTER_REQUIREMENT)
    home = root.parent / "dagster-home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {"DAGSTER_HOME": str(home)}
    validate = subprocess.run(
        [str(python.with_name("dagster")), "definitions", "validate", "-f", DAGSTER_FILE],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert validate.returncode == 0, validate.stdout[-5000:] + validate.stderr[-5000:]
    assert "Validation successful" in validate.stdout + validate.stderr

    log = root.parent / "dagster-calls.jsonl"
    env.update(stand_in_env(stand_ins, log))
    result = probe(python, DAGSTER_PROBE, str(root / DAGSTER_FILE), "acme_analytics__dev", env=env, cwd=root.parent)
    op_names = ["stage_1_sqlmesh", "stage_2_dbt", "stage_3_sqlmesh", "stage_4_dbt"]
    jobs = result["jobs"]
    assert sorted(jobs) == ["acme_analytics__ci", "acme_analytics__dev", "acme_analytics__prod"]
    for env_name in ("dev", "ci", "prod"):
        job = jobs[f"acme_analytics__{env_name}"]
        assert sorted(job["ops"]) == sorted(op_names)
        assert job["upstream"] == {name: op_names[i - 1 : i] if i else [] for i, name in enumerate(op_names)}
        assert job["tags"]["meshgen/environment"] == env_name
        assert job["retries"] == 2
        assert result["schedules"][f"acme_analytics__{env_name}__schedule"] == {
            "job": f"acme_analytics__{env_name}",
            "cron": "@hourly",
            "timezone": "UTC",
        }
    assert len(result["schedules"]) == 3
    assert result["run"] == {"success": True, "steps": op_names}
    calls = recorded(log)
    dev_calls = expected_calls(plan, "dev", root)
    assert calls[: len(dev_calls)] == dev_calls
    # The failing run: stage 1 ran, dbt failed stage 2 with its last lines, nothing after it ran.
    failure = result["failure"]
    assert (failure["success"], failure["steps"], failure["failed"]) == (False, ["stage_1_sqlmesh"], ["stage_2_dbt"])
    assert "exit code 3" in failure["description"] and "dbt output line 100" in failure["description"]
    assert "dbt output line 60\n" not in failure["description"]
    assert calls[len(dev_calls) :] == dev_calls[:2]
