"""The benchmark runner: meshgen against the engines' own work, side by side.

Every measurement is one fresh process, timed from spawn to exit, with its peak
resident memory (the process and any helper it forks, summed). Each figure is the median of several runs.
Results go to a table on stdout and, optionally, to JSON (written after every
size, so a long run keeps what it has measured).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

from meshgen import DISTRIBUTION
from synthetic import EDIT_FROM, EDIT_TO, edit_target, generate, write

BIN = Path(sys.executable).parent
PACKAGES = [DISTRIBUTION, "sqlglot", "sqlglotc", "pyyaml", "jinja2", "jsonschema", "typer",
            "sqlmesh", "dbt-core", "dbt-duckdb", "duckdb"]
ENV = dict(os.environ, DO_NOT_TRACK="1", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
SQLMESH_LOAD = (
    "import sys, time\n"
    "start = time.perf_counter()\n"
    "from sqlmesh import Context\n"
    "context = Context(paths=[sys.argv[1]], gateway=sys.argv[2])\n"
    "print(f'{len(context.models)} models loaded in {time.perf_counter() - start:.2f} s')\n"
)
# (key, label) in table order; the floor is measured once, the rest per size.
FLOOR = [("python", "python -c pass"), ("import", 'python -c "import meshgen"')]
MESHGEN = [
    ("validate", "meshgen validate"),
    ("build", "meshgen build (empty output folder)"),
    ("noop", "meshgen build (no-op rebuild)"),
    ("edit", "meshgen build (one model's SQL edited)"),
]
# The same commands with the compiled sqlglot (meshgen's `fast` extra, in a venv of its own: `--fast-bin`).
FAST = [(f"fast_{key}", label.replace("meshgen", "meshgen[fast]", 1)) for key, label in MESHGEN]
ROWS = MESHGEN + FAST + [
    ("dbt_parse", "dbt parse --no-partial-parse"),
    ("sqlmesh_load", "SQLMesh Context(paths=...) load"),
]
MESHGEN_ROWS = [key for key, _ in MESHGEN + FAST]
RATIOS = [
    ("noop_minus_import_s", "no-op minus import floor", "{:+.3f} s"),
    ("edit_over_noop", "one edit / no-op", "{:.2f}x"),
    ("dbt_parse_over_build", "dbt parse / full build", "{:.2f}x"),
    ("dbt_parse_over_fast_build", "dbt parse / full build [fast]", "{:.2f}x"),
    ("sqlmesh_load_over_build", "SQLMesh load / full build", "{:.2f}x"),
]
GIB = 1024.0


class BenchmarkError(RuntimeError):
    pass


def tool(name: str) -> str:
    """The console script installed next to this interpreter (the venv being measured)."""
    path = BIN / name
    if not path.exists():
        raise BenchmarkError(f"`{name}` is not installed next to {Path(sys.executable).name}; install the dev extras")
    return str(path)


def measure_once(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Seconds from spawn to exit, peak memory in MiB, and the process's output.

    The peak is the larger of the biggest single process (`wait4`) and the
    sampled sum over the process and its children (a build's helper included).
    """
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        sampler = _TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if process.returncode != 0:
        raise BenchmarkError(f"`{' '.join(command)}` exited with {process.returncode}:\n{text[-3000:]}")
    kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss  # bytes on macOS
    return seconds, max(kib / 1024, sampler.peak_mib), text


class _TreeMemory:
    """Samples the summed resident memory of a process and its descendants (Linux /proc; 0 elsewhere)."""

    PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0

    def __init__(self, pid: int):
        self.peak_mib = 0.0
        self._pid = pid
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if Path(f"/proc/{pid}").exists():
            self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            self.peak_mib = max(self.peak_mib, sum(self._rss_pages(pid) for pid in self._tree(self._pid)) * self.PAGE_MIB)

    def _tree(self, pid: int) -> list[int]:
        found = [pid]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                for child in children:
                    found.extend(self._tree(int(child)))
        except OSError:
            pass
        return found

    @staticmethod
    def _rss_pages(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return 0

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def measure(
    command: list[str],
    repeat: int,
    before: Callable[[], None] = lambda: None,
    after: Callable[[], None] = lambda: None,
    cwd: Path | None = None,
) -> dict:
    runs, peaks, text = [], [], ""
    for _ in range(repeat):
        before()
        seconds, peak, text = measure_once(command, cwd)
        after()
        runs.append(round(seconds, 4))
        peaks.append(round(peak, 1))
    lines = [line for line in text.splitlines() if line.strip()]
    return {
        "median_s": round(statistics.median(runs), 4),
        "runs_s": runs,
        "peak_mib": max(peaks),
        "last_output": lines[-1] if lines else "",
    }


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        ram_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        ram_gib = None
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import yaml

    return {
        "commit": _commit(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "packages": versions,
    }


def _commit() -> str | None:
    """The checkout's commit (`+` when tracked files are modified): what `bench.sh` installed."""
    git = ["git", "-C", str(Path(__file__).resolve().parent.parent)]
    try:
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def bench_size(models: int, seed: int, work: Path, repeat: int, engine_repeat: int, log: Callable[[str], None], fast_bin: Path | None = None) -> dict:
    folder = work / str(models)
    shutil.rmtree(folder, ignore_errors=True)
    generated = generate(models, seed)
    spec_path = write(generated, folder / "spec")
    out = folder / "out"
    spec_text = spec_path.read_text(encoding="utf-8")
    target = edit_target(generated.spec)
    result: dict = {"spec": {
        "models": models,
        "seed": seed,
        "sources": len(generated.spec["sources"]),
        "contracts": sum("contract" in m for m in generated.spec["models"]),
        "python_models": sum("python" in m for m in generated.spec["models"]),
        "spec_bytes": len(spec_text.encode()),
        "edited_model": target,
    }}

    def step(key: str, stats: dict) -> None:
        stats["last_output"] = stats["last_output"].replace(str(folder), "<workdir>")
        result[key] = stats
        log(f"  {models:>6} models  {key:<13} median {stats['median_s']:8.3f} s  peak {stats['peak_mib']:7.1f} MiB  ({stats['last_output'][:70]})")

    def edit() -> None:
        at = spec_text.index(EDIT_FROM, spec_text.index(f"- name: {target}\n"))
        spec_path.write_text(spec_text[:at] + EDIT_TO + spec_text[at + len(EDIT_FROM):], encoding="utf-8")

    variants = [("", tool("meshgen"))] + ([("fast_", str(fast_bin / "meshgen"))] if fast_bin else [])
    for prefix, meshgen in variants:
        build = [meshgen, "build", str(spec_path), "--out", str(out)]

        def restore() -> None:
            spec_path.write_text(spec_text, encoding="utf-8")
            measure_once(build)  # back to an up-to-date tree, untimed

        step(prefix + "validate", measure([meshgen, "validate", str(spec_path)], repeat))
        step(prefix + "build", measure(build, repeat, before=lambda: shutil.rmtree(out, ignore_errors=True)))
        step(prefix + "noop", measure(build, repeat))
        step(prefix + "edit", measure(build, repeat, before=edit, after=restore))

    dbt_project, sqlmesh_project = out / "transforms" / "dbt", out / "transforms" / "sqlmesh"
    result["spec"]["dbt_models"] = sum(1 for p in (dbt_project / "models").rglob("*") if p.suffix in (".sql", ".py"))
    result["spec"]["sqlmesh_models"] = sum(1 for p in (sqlmesh_project / "models").rglob("*") if p.suffix in (".sql", ".py"))
    if engine_repeat:
        scratch = folder / "engine-scratch"
        step("dbt_parse", measure(
            [tool("dbt"), "parse", "--no-partial-parse", "--project-dir", str(dbt_project), "--profiles-dir",
             str(dbt_project), "--target-path", str(scratch / "target"), "--log-path", str(scratch / "logs")],
            engine_repeat,
            before=lambda: shutil.rmtree(scratch, ignore_errors=True),
        ))
        gateway = next(iter(generated.spec["environments"]))  # SQLMesh gateways are named after environments
        step("sqlmesh_load", measure(
            [sys.executable, "-c", SQLMESH_LOAD, str(sqlmesh_project), gateway],
            engine_repeat,
            before=lambda: [shutil.rmtree(sqlmesh_project / d, ignore_errors=True) for d in (".cache", "logs")],
            cwd=folder,
        ))
    return result


def ratios(floor: dict, size: dict) -> dict:
    build, noop, edit = (size[k]["median_s"] for k in ("build", "noop", "edit"))
    out = {
        "noop_minus_import_s": round(noop - floor["import"]["median_s"], 4),
        "edit_over_noop": round(edit / noop, 3),
    }
    for engine in ("dbt_parse", "sqlmesh_load"):
        if engine in size:
            out[f"{engine}_over_build"] = round(size[engine]["median_s"] / build, 3)
    if "dbt_parse" in size and "fast_build" in size:
        out["dbt_parse_over_fast_build"] = round(size["dbt_parse"]["median_s"] / size["fast_build"]["median_s"], 3)
    return out


def targets(floor: dict, sizes: dict) -> list[dict]:
    """The targets of the performance issue, each with its measured value (None: not measured)."""
    small, large = sizes.get("1000", {}), sizes.get("5000", {})
    median = lambda size, key: size[key]["median_s"] if key in size else None
    ratio = lambda a, b: a / b if a is not None and b is not None else None
    noop = median(small, "noop")
    peaks = [large[k]["peak_mib"] / GIB for k in MESHGEN_ROWS if k in large]
    # The fastest installation measured: with the compiled sqlglot when `--fast-bin` was given.
    best = "fast_build" if "fast_build" in small else "build"
    rows = [
        (f"full build(1k) at least 5x faster than dbt parse(1k) (aim 10x; {best.replace('_', ' ')})",
         ratio(median(small, "dbt_parse"), median(small, best)), "{:.2f}x", lambda v: v >= 5),
        ('no-op rebuild(1k) within 0.25 s of python -c "import meshgen"',
         noop - floor["import"]["median_s"] if noop is not None else None, "{:+.3f} s", lambda v: v <= 0.25),
        ("one-edit rebuild(1k) at most 2x the no-op rebuild", ratio(median(small, "edit"), noop), "{:.2f}x", lambda v: v <= 2),
        ("full build(5k) / full build(1k) at most 5.0", ratio(median(large, "build"), median(small, "build")),
         "{:.2f}", lambda v: v <= 5.0),
        ("peak memory of meshgen at 5k under 1 GiB", max(peaks) if peaks else None, "{:.2f} GiB", lambda v: v < 1),
    ]
    return [
        {"target": label, "value": None if v is None else round(v, 4), "shown": "not measured" if v is None else fmt.format(v),
         "met": None if v is None else bool(ok(v))}
        for label, v, fmt, ok in rows
    ]


def _cell(stats: dict | None) -> str:
    return f"{stats['median_s']:.3f} s, {stats['peak_mib']:.0f} MiB" if stats else "-"


def table(results: dict) -> str:
    sizes = results["sizes"]
    head = ["measurement (median, peak memory)"] + [f"{int(n):,} models" for n in sizes]
    rows = [[label, _cell(results["floor"][key])] + [""] * (len(sizes) - 1) for key, label in FLOOR]
    rows += [[label] + [_cell(sizes[n].get(key)) for n in sizes] for key, label in ROWS if any(key in s for s in sizes.values())]
    rows.append(["models on dbt / on SQLMesh"] + [f"{s['spec']['dbt_models']} / {s['spec']['sqlmesh_models']}" for s in sizes.values()])
    for key, label, fmt in RATIOS:
        cells = [sizes[n]["ratios"].get(key) for n in sizes]
        rows.append([label] + ["-" if c is None else fmt.format(c) for c in cells])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    m = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items() if version)
    out = [
        f"meshgen at {m.get('commit') or 'an unknown commit'}",
        f"{m['cpu']}, {m['usable_cores']} cores, {m['ram_gib']} GiB RAM, {m['python']}, libyaml {m['libyaml']}; {packages}",
        f"medians of {results['config']['repeat']} runs (engines: {results['config']['engine_repeat']}), seed {results['config']['seed']}",
        "",
        line(head),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ] + [line(r) for r in rows]
    out.append("")
    for t in results["targets"]:
        verdict = {True: f"{t['shown']}: met", False: f"{t['shown']}: NOT met", None: "not measured"}[t["met"]]
        out.append(f"- {t['target']}: {verdict}")
    return "\n".join(out)


def run(
    sizes: list[int], repeat: int, engine_repeat: int, seed: int, json_path: Path | None, workdir: Path | None, keep: bool,
    fast_bin: Path | None = None,
) -> dict:
    work = workdir or Path(tempfile.mkdtemp(prefix="meshgen-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = lambda text: print(text, file=sys.stderr, flush=True)
    results: dict = {"machine": machine(), "config": {"sizes": sizes, "repeat": repeat, "engine_repeat": engine_repeat, "seed": seed}}
    log(f"benchmarking in {work}")
    try:
        results["floor"] = {
            "python": measure([sys.executable, "-c", "pass"], max(repeat, 11)),
            "import": measure([sys.executable, "-c", "import meshgen"], max(repeat, 11)),
        }
        results["sizes"] = {}
        for models in sizes:
            size = bench_size(models, seed, work, repeat, engine_repeat, log, fast_bin)
            size["ratios"] = ratios(results["floor"], size)
            results["sizes"][str(models)] = size
            results["targets"] = targets(results["floor"], results["sizes"])
            if json_path:
                json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    finally:
        if not keep and workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    return results
