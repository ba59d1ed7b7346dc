"""Edits of model SQL: only the files that SQL feeds, rebuilt from the last build's IR.

A full build with the cache keeps its analysed IR here (`BASE_FILE`), with the
spec text and SQL files it was built from. The next build, when the no-op path
finds the spec changed, looks at what changed. When it is only the SQL of some
models (inside one model's entry of the spec, or in `sql_file`s), it resolves
those models' new SQL, and `analysis.reanalyze` checks that each still reads,
outputs and calls exactly what it did. Then nothing another model or any check
reads has changed, so the build re-renders only the files those models' SQL
and fingerprints feed (`targets.emit_models`) and writes those.

Anything else (another key, another section, a file it cannot vouch for, an
interface that moved, a problem of any kind) takes the full build, which
reports problems with their positions. Positions in the kept IR after an edit
that added or removed lines are stale: nothing rendered reads them, and no
diagnostic is ever made from them. Builds after edits keep an overlay
(`OVERLAY_FILE`) of the models they changed, so the base is written only by
full builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import MeshgenError
from . import cache, swap
from .memo import Memo
from .resources import schema_path

BASE_FILE = ".meshgen/cache/ir.pickle"
OVERLAY_FILE = ".meshgen/cache/ir-edits.pickle"
_FORMAT = 1


@dataclass
class Kept:
    """What a build leaves for the next one to compare an edit with."""

    key: str  # the build record's key (cache.py) these texts were built from
    spec_text: str
    sql_files: dict[str, str]  # spec-relative sql_file -> text
    other_inputs: dict[str, str]  # the other files the spec names (seeds, Python modules) -> sha256
    items: list[tuple[str, int, int]]  # each model's entry in the spec text: (name, first line, end line), 0-based
    sql_min_length: int  # the shortest inline SQL the schema takes
    spec: object = None  # the analysed Spec (the base's, or with the overlay applied), parsed SQL dropped
    # An overlay's models that differ from the base's: name -> (Model, ModelAnalysis), and their SQL facts.
    models: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)


def _salt() -> str:
    from .memo import _SALT

    return f"{_FORMAT}\0{_SALT}"


# -- keeping --------------------------------------------------------------------
def keep_base(root: Path, key: str | None, loaded, spec) -> None:
    """After a full build: the analysed IR and the texts it came from (nothing when the spec's shape does not allow edits)."""
    overlay = root / OVERLAY_FILE
    overlay.unlink(missing_ok=True)
    items = model_items(loaded)
    min_length = _sql_min_length()
    if key is None or items is None or min_length is None:
        (root / BASE_FILE).unlink(missing_ok=True)
        return
    from .pipeline import spec_inputs

    sql_files = {m.sql.file: m.sql.text for m in spec.models if m.sql is not None and m.sql.file}
    others = {name: _digest(loaded.folder / name) for name in spec_inputs(spec) if name not in sql_files}
    _dump(root / BASE_FILE, Kept(key, loaded.text, sql_files, others, items, min_length, _portable(spec)))


def _keep_overlay(root: Path, key: str, edit: "_Edit", base) -> None:
    """After a build of an edit: the models that differ from the base's, and the texts built from."""
    spec = edit.spec
    changed = {
        m.name: (m, replace(spec.analysis.models[m.name], queries=None))
        for m in spec.models
        if m != base.model(m.name) or spec.analysis.models[m.name] != base.analysis.models[m.name]
    }
    facts = {name: spec.analysis.sql_facts[name] for name in changed if name in spec.analysis.sql_facts}
    _dump(root / OVERLAY_FILE, Kept(key, edit.text, edit.sql_files, edit.other_inputs, edit.items, edit.sql_min_length, None, changed, facts))


def _portable(spec):
    """The spec without parsed SQL, each equal decision and output column kept once (a fifth less to unpickle)."""
    analysis = spec.analysis
    once: dict = {}

    def shared(value):
        return once.setdefault(value, value)

    models = {
        name: replace(info, queries=None, decision=shared(info.decision), output=info.output and tuple(shared(c) for c in info.output))
        for name, info in analysis.models.items()
    }
    return replace(spec, analysis=replace(analysis, models=models))


def _dump(path: Path, kept: Kept) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "wb") as handle:
        pickle.dump((_salt(), kept), handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temp, path)


def _load(path: Path) -> Kept | None:
    try:
        with open(path, "rb") as handle:
            salt, kept = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
        return None
    return kept if salt == _salt() and isinstance(kept, Kept) else None


def _kept(root: Path) -> tuple[Kept, object] | None:
    """The last build's IR (the base with the overlay of later edits applied), and the base's spec."""
    base = _load(root / BASE_FILE)
    if base is None:
        return None
    overlay = _load(root / OVERLAY_FILE) if (root / OVERLAY_FILE).exists() else None
    if overlay is None:
        return base, base.spec
    spec = base.spec
    models, facts = overlay.models, overlay.facts
    analysis = spec.analysis
    spec = replace(
        spec,
        models=tuple(models[m.name][0] if m.name in models else m for m in spec.models),
        analysis=replace(
            analysis,
            models={n: models[n][1] if n in models else info for n, info in analysis.models.items()},
            sql_facts={**analysis.sql_facts, **facts},
        ),
    )
    return Kept(overlay.key, overlay.spec_text, overlay.sql_files, overlay.other_inputs, overlay.items, overlay.sql_min_length, spec), base.spec


def model_items(loaded) -> list[tuple[str, int, int]] | None:
    """Each model's entry in the spec text as lines [first, end), when each starts a block sequence item ("- ")."""
    models = loaded.data.get("models") if isinstance(loaded.data, dict) else None
    if not isinstance(models, list) or not models:
        return None
    lines = loaded.lines
    firsts = [loaded.positions[("models", i)][0] - 1 for i in range(len(models))]
    if any(not lines[f].lstrip().startswith("- ") for f in firsts) or firsts != sorted(set(firsts)):
        return None
    after = [line - 1 for path, (line, _) in loaded.key_positions.items() if len(path) == 1 and line - 1 > firsts[-1]]
    ends = firsts[1:] + [min(after, default=len(lines))]
    return [(m.get("name") if isinstance(m, dict) else None, f, e) for m, f, e in zip(models, firsts, ends)]


def _sql_min_length() -> int | None:
    """The shortest inline SQL the schema takes, when `type: string` and `minLength` are all it says of it."""
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict) and "sql" in properties:
                found.append(properties["sql"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    if len(found) != 1 or not isinstance(found[0], dict) or found[0].get("type") != "string":
        return None
    if set(found[0]) - {"type", "minLength", "description"}:
        return None
    return int(found[0].get("minLength", 0))


# -- rebuilding -------------------------------------------------------------------
@dataclass
class _Edit:
    """An edit of model SQL, analysed: the new spec, the files its SQL feeds, and the texts to keep."""

    spec: object
    files: list
    text: str
    sql_files: dict[str, str]
    other_inputs: dict[str, str]
    items: list[tuple[str, int, int]]
    sql_min_length: int


def rebuild(spec_path: Path, root: Path, display: str, record: dict):
    """The build after an edit of model SQL alone, written; None when the full build must decide.

    `record` is the last build's record, read when the tree was found intact: it
    still holds when, under the lock, the record is the same file.
    """
    from . import writer
    from .pipeline import BuildResult, fewer_collections

    with swap.locked(root), fewer_collections(stop=True):
        found = _kept(root) if cache.same_record(root, record) else None
        if found is None or found[0].key != record["key"]:
            return None
        kept, base = found
        try:
            edit = _edited_models(spec_path, root, display, kept)
        except MeshgenError:
            return None
        plan = _plan(root, edit.files) if edit is not None else None
        if plan is None:
            return None
        if plan.changes:
            writer.apply(plan)
        key = cache.save_after(spec_path, root, record, plan.manifest, plan.written, [writer.MANIFEST, writer.GITATTRIBUTES])
        if key is None:
            (root / OVERLAY_FILE).unlink(missing_ok=True)
        else:
            _keep_overlay(root, key, edit, base)
        return BuildResult(spec=edit.spec, plan=plan, root=root)


def _plan(root: Path, files: list):
    """The write plan of the re-rendered files over the intact tree; None when one of them is not already owned."""
    from .writer import FileChange, WritePlan, load_manifest, sha256

    manifest = load_manifest(root)
    plan = WritePlan(root=root, manifest=dict(manifest))
    for generated in files:
        if generated.path not in manifest:
            return None
        new_hash = sha256(generated.text)
        if new_hash == manifest[generated.path]:
            continue
        old = (root / generated.path).read_bytes().decode("utf-8")
        plan.changes.append(FileChange(generated.path, generated.text, old))
        plan.manifest[generated.path] = new_hash
    plan.manifest_changed = plan.manifest != manifest
    plan.unchanged = len(manifest) - len(plan.changes)
    return plan


def _edited_models(spec_path: Path, root: Path, display: str, kept: Kept) -> _Edit | None:
    """The edit analysed, when only model SQL changed and all the edited models offer stays; else None."""
    from ..analysis import reanalyze
    from ..ir import SqlText
    from ..targets import emit_models
    from ..targets.files import with_header

    spec = kept.spec
    try:
        text = spec_path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if any(_digest(spec_path.parent / name) != digest for name, digest in kept.other_inputs.items()):
        return None
    new_sql: dict[str, SqlText] = {}
    items = kept.items
    if text != kept.spec_text:
        found = _inline_edit(kept, text, display)
        if found is None:
            return None
        name, sql, items = found
        if sql is not None:
            new_sql[name] = sql
    sql_files = {}
    for relative, before in kept.sql_files.items():
        try:
            now = (spec_path.parent / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        sql_files[relative] = now
        if now != before:
            if not now.strip():
                return None
            for model in spec.models:
                if model.sql is not None and model.sql.file == relative:
                    new_sql[model.name] = replace(model.sql, text=now)
    if not new_sql and text == kept.spec_text:  # the key changed, yet nothing here did
        return None
    edited_spec = replace(
        spec,
        models=tuple(replace(m, sql=new_sql[m.name]) if m.name in new_sql else m for m in spec.models),
        analysis=None,
    )
    analysed = reanalyze(edited_spec, spec.analysis, sorted(new_sql))
    if analysed is None:
        return None
    before, after = spec.analysis.models, analysed.analysis.models
    reached = set(new_sql) | {n for n in after if after[n] != before[n]}
    # Models reached through fingerprints alone have SQL the last build rendered: its memo has it.
    memo = Memo.load(root) if reached - set(new_sql) else Memo()
    files = [with_header(f, analysed.project.spec_file) for f in emit_models(analysed, reached, memo)]
    return _Edit(analysed, files, text, sql_files, kept.other_inputs, items, kept.sql_min_length)


def _inline_edit(kept: Kept, text: str, display: str):
    """(model, its new SqlText, the new items) when the spec changed inside one model's entry, in its `sql` only."""
    from ..frontend.loader import load_spec_text
    from ..frontend.resolve.models import scalar_start

    old_lines = kept.spec_text.splitlines(keepends=True)
    new_lines = text.splitlines(keepends=True)
    start = _same_lines(old_lines, new_lines, 1)
    tail = _same_lines(old_lines[start:][::-1], new_lines[start:][::-1], 1)
    old_stop, delta = len(old_lines) - tail, len(new_lines) - len(old_lines)
    index = next((i for i, (_, first, end) in enumerate(kept.items) if first <= start and old_stop <= end), None)
    if index is None:
        return None
    name, first, end = kept.items[index]
    path = Path(display)
    old_item = load_spec_text("".join(old_lines[first:end]), path, display)
    new_item = load_spec_text("".join(new_lines[first:end + delta]), path, display)
    if not (_one_entry(old_item) and _one_entry(new_item)):
        return None
    before, after = old_item.data[0], new_item.data[0]
    if not isinstance(after.get("sql"), str) or len(after["sql"]) < kept.sql_min_length:
        return None
    # repr, not ==: key order and 1 against 1.0 or true are differences the IR keeps.
    if "sql" not in before or repr({**before, "sql": ""}) != repr({**after, "sql": ""}):
        return None
    model = kept.spec.model(name)
    if model is None or model.sql is None or model.sql.text != before["sql"] or model.sql.file:
        return None
    items = kept.items[: index] + [(name, first, end + delta)] + [(n, f + delta, e + delta) for n, f, e in kept.items[index + 1:]]
    if after["sql"] == before["sql"]:  # comments or layout only
        return name, None, items
    where = scalar_start(new_item, (0, "sql"))
    return name, replace(model.sql, text=after["sql"], location=replace(where, line=where.line + first)), items


def _same_lines(old: list[str], new: list[str], step: int) -> int:
    """How many leading lines the two have in common (comparing growing slices: list equality runs in C)."""
    same, limit = 0, min(len(old), len(new))
    while step and same < limit:
        end = min(same + step, limit)
        if old[same:end] == new[same:end]:
            same, step = end, step * 2
        else:
            step //= 2
    return same


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _one_entry(loaded) -> bool:
    return isinstance(loaded.data, list) and len(loaded.data) == 1 and isinstance(loaded.data[0], dict)
