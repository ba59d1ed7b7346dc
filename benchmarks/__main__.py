"""`python -m benchmarks generate|run|report ...`, from the repository root."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthetic import DEFAULT_SEED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a synthetic spec of N models")
    gen.add_argument("--models", type=int, required=True, help="number of models (at least 10)")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"same models and seed, same bytes (default {DEFAULT_SEED})")
    gen.add_argument("--out", type=Path, required=True, help="folder for meshgen.yaml and its files")

    bench = commands.add_parser("run", help="measure meshgen, dbt and SQLMesh on generated specs")
    bench.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000], help="model counts (default 100 1000 5000)")
    bench.add_argument("--repeat", type=int, default=3, help="runs per meshgen measurement; the median is reported (default 3)")
    bench.add_argument("--engine-repeat", type=int, default=None,
                       help="runs per dbt parse / SQLMesh load (default: --repeat; 0 skips the engines)")
    bench.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"spec generator seed (default {DEFAULT_SEED})")
    bench.add_argument("--json", type=Path, default=None, help="write the results here (after every size)")
    bench.add_argument("--workdir", type=Path, default=None, help="where specs and builds go (default: a temporary folder, removed)")
    bench.add_argument("--keep", action="store_true", help="keep the temporary folder")
    bench.add_argument("--fast-bin", type=Path, default=None,
                       help="the bin folder of a venv with meshgen[fast] (the compiled sqlglot): its commands are measured too")

    commands.add_parser("execution", help="time deploys and runs of the oracle's scenarios, with the tables they leave")
    commands.add_parser("orchestrators", help="time the showcase's scheduled run through meshgen run, Airflow and Dagster")

    report = commands.add_parser("report", help="print the table of a results JSON again")
    report.add_argument("json", type=Path)

    args = parser.parse_args(argv)
    if args.command == "generate" and args.models < 10:
        parser.error("--models must be at least 10")
    if args.command == "generate":
        from synthetic import generate, write

        print(write(generate(args.models, args.seed), args.out))
        return 0

    if args.command == "execution":
        from .execution import main as execution

        return execution()
    if args.command == "orchestrators":
        from .orchestrators import main as orchestrators

        return orchestrators()

    from .run import BenchmarkError, run, table

    if args.command == "report":
        import json

        print(table(json.loads(args.json.read_text(encoding="utf-8"))))
        return 0

    engine_repeat = args.repeat if args.engine_repeat is None else args.engine_repeat
    try:
        run(args.sizes, args.repeat, engine_repeat, args.seed, args.json, args.workdir, args.keep, args.fast_bin)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
