"""The compiler's stages in order: load, validate, resolve, emit, write."""

from __future__ import annotations

import gc
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from ..errors import MeshgenError
from ..targets.files import GeneratedFile, with_header
from .writer import WritePlan

if TYPE_CHECKING:  # the IR module is costly to import; the cached no-op path never needs it
    from .memo import Memo
    from ..frontend.loader import LoadedSpec
    from ..ir import Spec


@contextmanager
def fewer_collections(stop: bool = False) -> Iterator[None]:
    """Python's cycle collector made to run less often while a build allocates its millions of objects.

    With the default threshold it scans the growing heap again and again: about
    15% of a 5,000-model build. The garbage it is there for (sqlglot's copied
    trees) is still collected, in larger batches. `stop`: not at all, for a short
    step that makes little garbage (unpickling the kept IR takes half as long).
    """
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(max(threshold[0], 20_000), *threshold[1:])
    if stop:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.set_threshold(*threshold)


@contextmanager
def settled_heap() -> Iterator[None]:
    """What exists now (the loaded spec, its IR, the memo) lives as long as the build: the collector skips it.

    Otherwise each full collection scans it again while the analysis makes
    its garbage, which grows faster than the spec does. It is handed back at the end.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# The engine whose models (and target) a helper process takes on a large cold build.
HELPER_ENGINE = "dbt"


def load(spec_path: Path, display: str | None = None, memo: "Memo | None" = None, all_types: bool = False) -> Spec:
    """Read, schema-check, resolve and analyse a spec into the IR; raise MeshgenError on bad input.

    `all_types`: infer every model's column types, not only those the generated files read.
    """
    from .memo import Memo

    with fewer_collections():
        spec, _ = analyze_and_emit(resolve_spec(spec_path, display, memo), memo or Memo(), emit=False, all_types=all_types)
    return spec


def resolve_spec(spec_path: Path, display: str | None = None, memo: "Memo | None" = None, root: Path | None = None) -> Spec:
    """The IR before analysis (no SQL parsed yet), for output under `root` (the spec's folder by default)."""
    return _resolved(spec_path, display, memo, root)[1]


def _resolved(spec_path: Path, display: str | None, memo: "Memo | None", root: Path | None) -> tuple["LoadedSpec", Spec]:
    """The loaded spec and its IR before analysis."""
    from ..frontend.loader import load_spec
    from ..frontend.resolve import resolve
    from ..frontend.schema import schema_diagnostics

    with fewer_collections(stop=True):  # the composed YAML holds no cycles: nothing for the collector to find
        loaded = load_spec(spec_path, display)
    diagnostics = schema_diagnostics(loaded, memo)
    if diagnostics:
        raise MeshgenError(diagnostics)
    if root is None:  # no output root: nothing is written, and where the CI file would go is unknown
        return loaded, resolve(loaded)
    spec_folder = Path(os.path.relpath(spec_path.parent.resolve(), root.resolve())).as_posix()
    return loaded, resolve(loaded, spec_folder, repository_offset(root))


def repository_offset(root: Path) -> str:
    """The output root relative to the top of the git work tree holding it ("" when none does)."""
    probe = root.resolve()
    while not probe.exists():  # a new output folder: its nearest existing parent decides
        probe = probe.parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):  # no git: no work tree to be inside of
        return ""
    if top.returncode != 0:
        return ""
    return Path(os.path.relpath(root.resolve(), Path(top.stdout.strip()).resolve())).as_posix()


def emit_all(spec: Spec, memo: "Memo | None" = None, delivered: Mapping[str, Callable[[], list[GeneratedFile]]] | None = None) -> list[GeneratedFile]:
    """Every generated file, target by target in `targets.NAMES` order.

    `delivered` gives, by target name, what another process produced: those are
    collected after this process has emitted the others, so both work at once.
    """
    from .. import targets

    delivered = delivered or {}
    produced = {name: targets.target(name).emit(spec, memo) for name in targets.NAMES if name not in delivered}
    produced.update((name, collect()) for name, collect in delivered.items())
    files = [with_header(f, spec.project.spec_file) for name in targets.NAMES for f in produced[name]]
    # The build cache lives next to the ownership record but never in version control.
    files.append(with_header(GeneratedFile(".meshgen/.gitignore", "cache/\n"), spec.project.spec_file))
    _refuse_collisions(files)
    return files


@settled_heap()  # the resolved spec and the memo outlive the analysis: kept out of its collections
def analyze_and_emit(resolved: Spec, memo: "Memo", emit: bool = True, all_types: bool = False) -> tuple[Spec, list[GeneratedFile]]:
    """Analysis, every target's check, and (unless `emit` is false) emission.

    On a large cold build a helper process takes the dbt models: it parses and
    analyses them alongside this process, then runs the dbt target while this one
    runs the others.
    """
    from . import parallel
    from ..analysis import analyze, helper_models
    from ..analysis.work import SharedWork
    from ..targets import target

    helper_share = helper_models(resolved, memo, HELPER_ENGINE)

    def helper(partner: parallel.Partner) -> tuple[list[GeneratedFile], dict]:
        earlier = memo.used_keys()
        spec = analyze(resolved, memo, SharedWork(partner, helper_share), all_types)
        return target(HELPER_ENGINE).emit(spec, memo) if emit else [], memo.used_since(earlier)

    partner = parallel.fork_helper(helper) if helper_share else None
    if partner is None:
        spec = _checked(analyze(resolved, memo, all_types=all_types))
        return spec, emit_all(spec, memo) if emit else []

    def helper_files() -> list[GeneratedFile]:
        delivered = partner.result()
        if delivered is None:  # the helper failed: emit here what it did not deliver
            return target(HELPER_ENGINE).emit(spec, memo)
        files, remembered = delivered
        memo.adopt(remembered)  # kept for the next build like everything computed here
        return files

    try:
        spec = _checked(analyze(resolved, memo, SharedWork(partner, helper_share), all_types))
        return spec, emit_all(spec, memo, {HELPER_ENGINE: helper_files}) if emit else []
    finally:
        partner.close()


def _checked(spec: Spec) -> Spec:
    """The spec, once every target found nothing it could not build."""
    from ..targets import check

    diagnostics = check(spec)
    if diagnostics:
        raise MeshgenError(diagnostics)
    return spec


def _refuse_collisions(files: list[GeneratedFile]) -> None:
    seen: set[str] = set()
    for file in files:
        if file.path in seen:
            raise RuntimeError(f"two targets generate {file.path}")
        seen.add(file.path)


def generated_patterns(spec: Spec, files: list[GeneratedFile]) -> list[str]:
    """.gitattributes patterns: whole folders meshgen owns, single files elsewhere."""
    owned = [spec.output.sqlmesh, spec.output.dbt, spec.output.contracts, spec.output.orchestration_dir]
    owned = [d for d in owned if d != "."]
    patterns = {f"{d}/**" for d in owned if any(f.path.startswith(d + "/") for f in files)}
    patterns.update(f.path for f in files if not any(f.path.startswith(d + "/") for d in owned))
    return sorted(patterns)


@dataclass
class BuildResult:
    spec: Spec | None  # None when the cache showed nothing changed (nothing was parsed)
    plan: WritePlan
    root: Path


def spec_inputs(spec: Spec) -> list[str]:
    """Files the spec names whose bytes end up in generated files."""
    from ..frontend.resolve import module_file

    names = {m.sql.file for m in spec.models if m.sql is not None and m.sql.file}
    names.update(m.seed_file for m in spec.models if m.seed_file)
    folder = spec.project.spec_dir
    for model in spec.models:  # the code of Python models is part of their SQLMesh stamp
        found = module_file(folder, model.entrypoint.split(":", 1)[0]) if model.entrypoint else None
        if found is not None:
            names.add(found.relative_to(folder).as_posix())
    return sorted(names)


def build(
    spec_path: Path,
    display: str | None = None,
    out: Path | None = None,
    check: bool = False,
    force: bool = False,
    use_cache: bool = False,
) -> BuildResult:
    from . import cache, swap, writer
    from .memo import Memo

    root = (out or spec_path.parent).resolve()
    if use_cache and not force:
        record = cache.intact_record(root)
        if record is not None and cache.fresh(spec_path, root, record):  # every generated file is what this build would write
            return BuildResult(spec=None, plan=WritePlan(root=root, unchanged=record.get("generated", 0)), root=root)
        if record is not None and not check:
            from . import incremental

            edited = incremental.rebuild(spec_path, root, display or spec_path.name, record)
            if edited is not None:  # only model SQL changed: the files it feeds are rebuilt and written
                return edited
    memo = Memo.load(root) if use_cache and not force else Memo()
    cache_folder = (root / cache.CACHE_FILE).parent
    if use_cache and not check and cache_folder.is_dir():  # only where an earlier build made it: no new folder if this one fails
        from ..targets.render import keep_compiled_templates

        keep_compiled_templates(cache_folder / "templates")
    with fewer_collections():
        loaded, resolved = _resolved(spec_path, display, memo, root)
        spec, files = analyze_and_emit(resolved, memo)
    with swap.locked(root, shared=check):  # one writer per output root; --check reads a settled tree
        if not check:
            swap.recover(root)  # an interrupted build is finished first (--check only reports it)
        plan = writer.plan(root, files, generated_patterns(spec, files))
        if not check:
            if not force:
                writer.refuse_unsafe(plan)
            if plan.stale:
                writer.apply(plan)
        if use_cache and not check:  # --check writes nothing, not even the cache
            from . import incremental

            memo.save(root)
            key = cache.save(spec_path, root, spec_inputs(spec), plan.manifest, [writer.MANIFEST, writer.GITATTRIBUTES])
            incremental.keep_base(root, key, loaded, spec)
    return BuildResult(spec=spec, plan=plan, root=root)
