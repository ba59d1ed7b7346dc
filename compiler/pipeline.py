"""The compiler's stages in order: load, validate, resolve, emit, write."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import MeshgenError
from .generated import GeneratedFile, with_header
from .writer import WritePlan

# Specs with fewer models emit in one process: a helper costs more than it saves.
PARALLEL_MIN_MODELS = 200

if TYPE_CHECKING:  # the IR module is costly to import; the cached no-op path never needs it
    from .analysis.memo import Memo
    from .ir import Spec


def load(spec_path: Path, display: str | None = None, memo: "Memo | None" = None) -> Spec:
    """Read, schema-check and resolve a spec into the IR; raise MeshgenError on bad input."""
    from .analysis import analyze
    from .loader import load_spec
    from .resolve import resolve
    from .schema import schema_diagnostics

    loaded = load_spec(spec_path, display)
    diagnostics = schema_diagnostics(loaded, memo)
    if diagnostics:
        raise MeshgenError(diagnostics)
    return analyze(resolve(loaded), memo)


def emit_all(spec: Spec) -> list[GeneratedFile]:
    from .emit import ci, contracts, dbt, docs, orchestration, sqlmesh

    dbt_aside = _emit_aside(dbt.emit, spec) if len(spec.models) >= PARALLEL_MIN_MODELS else lambda: None
    files: list[GeneratedFile] = []
    for emitter in (sqlmesh, dbt, contracts, orchestration, ci, docs):
        produced = dbt_aside() if emitter is dbt else None
        if produced is None:
            produced = emitter.emit(spec)
        files.extend(with_header(f, spec.project.spec_file) for f in produced)
    # The build cache lives next to the ownership record but never in version control.
    files.append(with_header(GeneratedFile(".meshgen/.gitignore", "cache/\n"), spec.project.spec_file))
    _refuse_collisions(files)
    return files


def _emit_aside(emit: Callable[[Spec], list[GeneratedFile]], spec: Spec) -> Callable[[], list[GeneratedFile] | None]:
    """Run an emitter in a helper process while this one runs the others; None if it could not."""
    from . import parallel

    memo = spec.analysis.memo

    def work() -> tuple[list[GeneratedFile], dict]:
        earlier = memo.used_keys()
        return emit(spec), memo.used_since(earlier)

    result = parallel.call_forked(work)

    def files() -> list[GeneratedFile] | None:
        done = result()
        if done is None:
            return None
        produced, remembered = done
        memo.adopt(remembered)  # what the helper computed is kept for the next build
        return produced

    return files


def _refuse_collisions(files: list[GeneratedFile]) -> None:
    seen: set[str] = set()
    for file in files:
        if file.path in seen:
            raise RuntimeError(f"two emitters generate {file.path}")
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
    names = {m.sql.file for m in spec.models if m.sql is not None and m.sql.file}
    names.update(m.seed_file for m in spec.models if m.seed_file)
    return sorted(names)


def build(
    spec_path: Path,
    display: str | None = None,
    out: Path | None = None,
    check: bool = False,
    force: bool = False,
    use_cache: bool = False,
) -> BuildResult:
    from . import cache, writer
    from .analysis.memo import Memo

    root = (out or spec_path.parent).resolve()
    if use_cache and not force:
        unchanged = cache.fresh(spec_path, root)
        if unchanged is not None:  # every generated file is exactly what this build would write
            return BuildResult(spec=None, plan=WritePlan(root=root, unchanged=unchanged), root=root)
    memo = Memo.load(root) if use_cache and not force else Memo()
    spec = load(spec_path, display, memo)
    spec_folder = Path(os.path.relpath(spec_path.parent.resolve(), root)).as_posix()
    spec = replace(spec, project=replace(spec.project, spec_folder=spec_folder))
    files = emit_all(spec)
    plan = writer.plan(root, files, generated_patterns(spec, files))
    if not check:
        if not force:
            writer.refuse_unsafe(plan)
        if plan.stale:
            writer.apply(plan)
    if use_cache and not check:  # --check writes nothing, not even the cache
        memo.save(root)
        cache.save(spec_path, root, spec_inputs(spec), list(plan.manifest), [writer.MANIFEST, writer.GITATTRIBUTES])
    return BuildResult(spec=spec, plan=plan, root=root)
