"""`python -m benchmarks execution`: how long deploys and runs take, and the tables they leave.

Plays the differential oracle's scenarios (tests/oracle.py) with the real
engines on DuckDB: the showcase and a generated spec, each under three engine
assignments, from a fresh warehouse (deploy dev, deploy prod, a day of new
data, run dev, run prod). Prints each step's time and, per step, one digest
over every model table's row count and checksum, which must be the same in
each column of a row. Not a test: nothing is asserted.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "specs"), str(REPO)]
    import oracle
    from test_oracle import ASSIGNMENTS, EXAMPLE, GENERATED

    with tempfile.TemporaryDirectory() as folder:
        for scenario_name, scenario in (("showcase", EXAMPLE), ("generated", GENERATED)):
            played = {name: oracle.play(scenario, Path(folder) / scenario_name / str(i), change) for i, (name, change) in enumerate(ASSIGNMENTS.items())}
            names = list(played)
            print(f"\n{scenario_name}: seconds per step, and a digest of every model table after it")
            print("| step | " + " | ".join(names) + " |")
            print("|---|" + "---|" * len(names))
            for step in next(iter(played.values())).steps:
                cells = [f"{p.seconds[step]:.1f} s, {_digest(p.steps[step])}" for p in played.values()]
                print(f"| {step} | " + " | ".join(cells) + " |")
            tables = next(iter(played.values())).steps
            last = list(tables)[-1]
            print(f"\nafter `{last}`:")
            for model, table in sorted(tables[last].items()):
                print(f"  {model}: {table.rows} rows, md5 {table.checksum}")
    return 0


def _digest(tables) -> str:
    text = "\n".join(f"{m} {t.rows} {t.checksum}" for m, t in sorted(tables.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


if __name__ == "__main__":
    raise SystemExit(main())
