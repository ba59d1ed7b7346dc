"""The engine CLIs `meshgen deploy` and `meshgen run` start, and the warehouse drivers they need.

Both are checked before the first stage starts, so a missing driver is one line
naming the package to install, not an engine's traceback halfway through a deploy.
A driver is looked for in the Python the engine's CLI runs on, which need not be
meshgen's own.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable

from ..errors import Location, fail, shown
from ..execution import database_path, install_hint
from ..interrupts import deferred_interrupt
from ..ir import Environment, Spec
from ..sqltext import compiled_sqlglot, sqlmesh_beside_compiled
from ..warehouses import Warehouse, warehouse

# Run by another Python: exit 3 when the module is not found (any other failure is not a verdict).
_FIND_MODULE = """import importlib.util, sys
try:
    found = importlib.util.find_spec(sys.argv[1]) is not None
except ImportError:
    found = False
sys.exit(0 if found else 3)
"""
_NOT_FOUND = 3
_COMPILED = 4
_FIND_COMPILED_SQLGLOT = """import importlib.util, sys
spec = importlib.util.find_spec("sqlglot.parser")
sys.exit(4 if spec is not None and spec.origin and not spec.origin.endswith(".py") else 0)
"""


def tool_path(name: str, facts: Warehouse) -> str:
    """The engine CLI next to this Python (a venv's bin), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise fail(Location(name), f"the {name} command is not installed", install_hint(name, facts.name))
    return found


def engine_python(tool: str) -> str | None:
    """The Python a CLI runs on: this one when it sits beside it, else its `#!` line's (None: unknown)."""
    if Path(tool).parent == Path(sys.executable).parent:
        return sys.executable
    try:
        with open(tool, "rb") as script:
            first = script.readline(512).decode(errors="replace")
    except OSError:
        return None
    words = first[2:].split() if first.startswith("#!") else []
    if len(words) > 1 and Path(words[0]).name == "env":  # #!/usr/bin/env python3
        words = [shutil.which(words[1]) or ""]
    return words[0] if words and Path(words[0]).name.startswith("python") else None


def _exit_code(python: str, script: str, *args: str) -> int | None:
    """The exit code of `script` run by another Python; None when it could not run."""
    try:
        return subprocess.run([python, "-c", script, *args], capture_output=True, timeout=60).returncode
    except (OSError, subprocess.TimeoutExpired):
        return None


def importable(python: str | None, module: str) -> bool:
    """Whether `python` finds `module` (without importing it); True when that cannot be told."""
    if python is None:
        return True
    if python == sys.executable:
        try:
            return importlib.util.find_spec(module) is not None
        except ImportError:  # its parent package is missing
            return False
    return _exit_code(python, _FIND_MODULE, module) != _NOT_FOUND


def has_compiled_sqlglot(python: str | None) -> bool:
    """Whether `python` has the compiled sqlglot, beside which SQLMesh cannot import (False when unknown)."""
    if python is None:
        return False
    if python == sys.executable:
        return compiled_sqlglot()
    return _exit_code(python, _FIND_COMPILED_SQLGLOT) == _COMPILED


def check_engines(spec: Spec, env: Environment, engines: Iterable[str]) -> None:
    """Each engine's CLI is installed and finds the driver of the environment's warehouse, or a one-line error."""
    facts = warehouse(spec.gateway(env.gateway).type)
    missing = []
    for engine in dict.fromkeys(engines):
        driver = facts.driver(engine)
        python = engine_python(tool_path(engine, facts))
        if engine == "sqlmesh" and has_compiled_sqlglot(python):
            raise sqlmesh_beside_compiled(spec.project.spec_file)
        if not importable(python, driver.module):
            missing.append(driver.requirement)
    if missing:
        drivers = "drivers" if len(missing) > 1 else "driver"
        message = f"environment '{env.name}' runs on {facts.name}: install its {drivers} with pip install {shlex.join(missing)}"
        raise fail(Location(spec.project.spec_file), message)  # one line: the message is the fix


def check_warehouse_free(spec: Spec, root: Path, env: Environment) -> None:
    """A DuckDB file another process holds open for writing stops everything before stage 1, in one line."""
    if spec.gateway(env.gateway).type != "duckdb":
        return
    database = root / database_path(spec, env)
    if not database.exists():
        return
    try:
        import duckdb
    except ImportError:
        return
    try:
        with deferred_interrupt():
            duckdb.connect(str(database), read_only=True).close()
    except duckdb.Error as error:
        if "lock" not in str(error).lower():
            raise fail(Location(database_path(spec, env)), f"cannot open the warehouse: {shown(str(error))}", "check the file is a DuckDB database") from None
        holder = re.search(r"PID (\d+)", str(error))
        by = f" (process {holder.group(1)})" if holder else ""
        raise fail(
            Location(database_path(spec, env)),
            f"the warehouse file is locked by another process{by}; nothing was run",
            "DuckDB has one writer: wait for that process (an engine, a notebook, a DuckDB shell) to finish or close it, then run again",
        ) from None
