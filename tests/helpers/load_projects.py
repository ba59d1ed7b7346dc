"""Load many generated trees in one process: each SQLMesh project through `Context`, each dbt project through `dbt parse`.

argv: the output roots. Prints `loaded <root>` per tree; exits 1 at the first that does not load.
"""

import os
import sys
from pathlib import Path

# One process, no forks: SQLMesh forks workers to update model schemas, which can die when forked
# from a process that has dbt's threads running.
os.environ["MAX_FORK_WORKERS"] = "1"

from dbt.cli.main import dbtRunner
from sqlmesh import Context

runner = dbtRunner()
for root in map(Path, sys.argv[1:]):
    tree = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    for config in sorted(p for p in tree if p.endswith("/config.py")):
        project = root / Path(config).parent
        context = Context(paths=str(project), gateway="dev")
        assert context.models, f"{project}: no model loaded"
    for dbt_project in sorted(p for p in tree if p.endswith("/dbt_project.yml")):
        project = root / Path(dbt_project).parent
        result = runner.invoke(["parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "dev", "--no-partial-parse", "--quiet", "--no-write-json", "--no-send-anonymous-usage-stats", "--no-version-check"])
        if not result.success:
            print(f"dbt parse failed in {project}: {result.exception}", flush=True)
            sys.exit(1)
    print(f"loaded {root}", flush=True)
