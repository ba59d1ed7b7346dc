from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from typer.testing import CliRunner

from meshgen.commands.cli import app

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
sys.path.insert(0, str(SPECS))  # specs/demo_data.py: the example's raw data


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, cwd: Path | None = None) -> CliResult:
    """Run the real CLI in-process (exit codes and streams as a user sees them)."""
    previous = Path.cwd()
    try:
        if cwd:
            os.chdir(cwd)
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(previous)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m meshgen` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "meshgen", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


def copy_spec(name: str, target: Path) -> Path:
    """Copy a spec from specs/ with the files it references into target."""
    target.mkdir(parents=True, exist_ok=True)
    for item in SPECS.iterdir():
        if item.is_dir() and item.name != "invalid":
            shutil.copytree(item, target / item.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(SPECS / name, target / name)
    return target / name


def repo_venv(name: str, *requirements: str, key: str = "") -> Path:
    """The Python of a venv in the repository (`.venv-<name>`), set up afresh when what it installs changes.

    `requirements` go to pip; `key` names anything else they depend on (a file's hash, say).
    """
    venv = REPO / f".venv-{name}"
    python = venv / "bin" / "python"
    digest = hashlib.sha256(("\n".join(requirements) + key).encode()).hexdigest()[:16]
    stamp = venv / f".installed-{digest}"
    with open(REPO / f".venv-{name}.install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # both workers may ask for it at once: one sets it up, the other waits
        if not stamp.exists():
            _install_venv(venv, requirements)
            stamp.touch()
    return python


def _install_venv(venv: Path, requirements: tuple[str, ...]) -> None:
    # From scratch: nothing an earlier set of requirements brought stays behind.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    # --no-compile: of the thousands of modules these install, a test imports a few, compiled as it does.
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *requirements],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    shown = " ".join(requirements)
    assert install.returncode == 0, f"pip install {shown} failed:\n{install.stdout[-3000:]}{install.stderr[-3000:]}"


def local_prod(spec_path: Path) -> None:
    """The example's prod runs on PostgreSQL; tests run it on the local DuckDB gateway."""
    text = spec_path.read_text(encoding="utf-8")
    changed = text.replace("prod: {gateway: warehouse, dbt: {threads: 8}}", "prod: {gateway: local}")
    assert changed != text
    spec_path.write_text(changed, encoding="utf-8")


def prod_on_cluster(spec_path: Path, database: str) -> None:
    """The example's prod gateway on a test server's database (host, port and credentials come
    from the `{env:}` references the `postgres` fixture's `env()` fills)."""
    text = spec_path.read_text(encoding="utf-8")
    changed = text.replace("    database: analytics\n", f"    database: {database}\n")
    assert text.count("    database: analytics\n") == 1
    spec_path.write_text(changed, encoding="utf-8")


class SqlParses:
    """The SQL texts meshgen asked sqlglot to parse in this process, in order."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __len__(self) -> int:
        return len(self.texts)


@pytest.fixture
def sql_parses(monkeypatch) -> SqlParses:
    """Count meshgen's SQL parses by spying on sqlglot's entry points; the real parser still runs.

    A forked helper inherits the spy with its own copy of the list, so its parses never reach the
    build's count: what a test reads is what the process it runs in parsed.
    """
    parses = SqlParses()
    for name in ("parse", "parse_one"):
        monkeypatch.setattr(sqlglot, name, _recording(getattr(sqlglot, name), parses.texts))
    return parses


def _recording(real, texts: list[str]):
    @functools.wraps(real)
    def spy(sql, *args, **kwargs):
        # sqlglot itself calls parse_one for every string it turns into an expression (column
        # names, type names); those are not the SQL parses a build is measured by.
        if sys._getframe(1).f_globals.get("__name__", "").startswith("meshgen."):
            texts.append(sql)
        return real(sql, *args, **kwargs)

    return spy


@pytest.fixture
def example_spec(tmp_path: Path) -> Path:
    return copy_spec("example.yaml", tmp_path / "project")


@pytest.fixture
def minimal_spec(tmp_path: Path) -> Path:
    return copy_spec("minimal.yaml", tmp_path / "project")


def write_spec(folder: Path, data: dict, files: dict[str, str] | None = None) -> Path:
    """Write a spec (and files next to it) into folder, returning its path."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / "meshgen.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_dict(folder: Path, data: dict, files: dict[str, str] | None = None):
    from meshgen.build.pipeline import load

    path = write_spec(folder, data, files)
    return load(path, "meshgen.yaml")


def error_text(folder: Path, data: dict, files: dict[str, str] | None = None) -> str:
    from meshgen.errors import MeshgenError

    with pytest.raises(MeshgenError) as error:
        load_dict(folder, data, files)
    return error.value.render()


def spec_with(*models: dict, **top) -> dict:
    """A small valid spec around the given models, with one source raw.orders."""
    data = {
        "meshgen": 1,
        "project": {"name": "shop"},
        "sources": [{"name": "raw.orders", "columns": {"order_id": "integer", "customer_id": "integer", "amount": "double"}}],
        "models": list(models),
    }
    data.update(top)
    return data


@pytest.fixture(scope="session")
def postgres():
    """This worker's own throwaway PostgreSQL server (tests/postgres_cluster.py), stopped at the end.

    Skipped where PostgreSQL is not installed, except in CI (CI=true), which must install it.
    """
    import postgres_cluster

    # Outside pytest's temp root: as root the server runs as another user, and every pytest
    # session makes that root private again (mode 0700), which would lock a running server out.
    folder = Path(tempfile.mkdtemp(prefix="meshgen-postgres-"))
    try:
        cluster = postgres_cluster.start_cluster(folder)
    except postgres_cluster.Unavailable as reason:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must install it (./test.sh does)")
        pytest.skip(str(reason))
    yield cluster
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


def on_one_worker(group: str):
    """The mark keeping a module's tests on one xdist worker, so its module fixtures are built once:
    xdist hands tests out one by one, and each worker running some would build them again."""
    return pytest.mark.xdist_group(group)


# The tests that read `example_played` share one worker, so the example is played once.
EXAMPLE_PLAYED_GROUP = "example-played"


@pytest.fixture(scope="session")
def example_played(tmp_path_factory):
    """The example under its own engine rules, played once (`oracle.play`: dev deployed before prod
    on a fresh DuckDB warehouse, a day later run in both), for every test that checks that run."""
    import oracle

    return oracle.play(oracle.EXAMPLE, tmp_path_factory.mktemp("example-played") / "project", None)


# The longest groups, longest first, are collected first: each worker starts on one at once and
# the short tests fill in behind, rather than a long group starting late and running alone.
LONGEST_GROUPS = (EXAMPLE_PLAYED_GROUP, "oracle-generated")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if "example_played" in getattr(item, "fixturenames", ()):
            item.add_marker(on_one_worker(EXAMPLE_PLAYED_GROUP))

    def rank(item) -> int:
        groups = {mark.args[0] for mark in item.iter_markers("xdist_group") if mark.args}
        return next((i for i, group in enumerate(LONGEST_GROUPS) if group in groups), len(LONGEST_GROUPS))

    items.sort(key=rank)
