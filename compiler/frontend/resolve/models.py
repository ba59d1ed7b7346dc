"""Models: body, kind fields, schedule, the files they name (SQL, seeds, Python modules), contract and tests."""

from __future__ import annotations

import hashlib
import os
import posixpath
from pathlib import Path, PurePosixPath

from ... import schedule
from ...errors import Location, did_you_mean, shown
from ...ir import Contract, Model, Project, SqlText, UnitTest
from ...semantics.kinds import KIND_KEYS, KINDS, kind_facts, kinds_taking
from .. import seeds
from ..loader import JsonPath, LoadedSpec
from .base import ResolverBase

_SOURCE_KEYS = ("sql", "sql_file", "python", "seed_file")


class ModelSections(ResolverBase):
    def _models(self, project: Project, contracts: dict[str, Contract], sources: set[str]) -> tuple[Model, ...]:
        models = []
        first: dict[str, int] = {}
        for i, raw in enumerate(self.data["models"]):
            path = ("models", i)
            name = raw["name"]
            self._unique(name, first, path, "model")
            if name in sources:
                self.error(path + ("name",), f"model '{name}' has the name of a source", "rename the model or the source")
            models.append(self._model(raw, path, project, contracts))
        return tuple(models)

    def _model(self, raw: dict, path: JsonPath, project: Project, contracts: dict[str, Contract]) -> Model:
        name = raw["name"]
        kind = raw.get("kind", "full")
        language = raw.get("language") or ("python" if "python" in raw else "sql")
        self._check_body(raw, path, kind, language)
        self._check_kind_fields(raw, path, kind, language)
        if raw.get("layer") and raw["layer"] not in project.layers:
            self._unknown_layer(raw["layer"], path, project.layers)
        resources = raw.get("resources", {})
        unique_key = raw.get("unique_key", ())
        cron = self._cron(raw, path)
        start = raw.get("start", project.start if kind_facts(kind).starts else "")
        self._check_date(raw.get("start"), path + ("start",))
        if kind_facts(kind).needs_start and not start:
            self.error(
                path + ("kind",),
                f"model '{name}' is {kind} but has no start date",
                "set `start: YYYY-MM-DD` on the model or `project.start`: the first date both engines load",
            )
        seed_file = self._relative_file(raw, path, "seed_file")
        contract = self._model_contract(raw, path, contracts)
        entrypoint, python_digest = self._entrypoint(raw, path)
        return Model(
            name=name,
            language=language,
            kind=kind,
            location=self.loc(path + ("name",)),
            sql=self._sql(raw, path),
            entrypoint=entrypoint,
            python_digest=python_digest,
            seed_file=seed_file,
            seed=self._seed(seed_file, path, contract) if seed_file else None,
            time_column=raw.get("time_column", ""),
            unique_key=(unique_key,) if isinstance(unique_key, str) else tuple(unique_key),
            updated_at=raw.get("updated_at", "updated_at" if kind == "scd_type_2" else ""),
            start=start,
            lookback=self._lookback(raw, path, cron),
            cron=cron,
            grain=tuple(raw.get("grain", ())),
            owner=raw.get("owner", ""),
            tags=tuple(raw.get("tags", ())),
            description=raw.get("description", ""),
            layer=raw.get("layer", ""),
            domain=raw.get("domain", ""),
            contract=contract,
            attributes=dict(raw.get("attributes", {})),
            memory_gb=resources.get("memory_gb", 0),
            cpu_cores=resources.get("cpu_cores", 0),
            depends_on=tuple(raw.get("depends_on", ())),
            engine_pin=raw.get("engine", ""),
            tests=self._tests(raw, path),
        )

    def _check_body(self, raw: dict, path: JsonPath, kind: str, language: str) -> None:
        given = [k for k in _SOURCE_KEYS if k in raw]
        name = raw["name"]
        expected = "seed_file" if kind == "seed" else ("python" if language == "python" else "sql or sql_file")
        if len(given) != 1:
            what = "none" if not given else " and ".join(f"`{k}`" for k in given)
            self.error(
                path + ("name",) if not given else path + (given[-1],),
                f"model '{name}' must have exactly one of `sql`, `sql_file`, `python` or `seed_file`; it has {what}",
                f"this model needs `{expected}`",
                at_key=bool(given),
            )
            return
        body = given[0]
        if kind == "seed" and body != "seed_file":
            self.error(path + (body,), f"seed model '{name}' takes its rows from `seed_file`, not `{body}`", "replace it with `seed_file: <file>.csv`", at_key=True)
        elif kind != "seed" and body == "seed_file":
            self.error(path + ("seed_file",), f"`seed_file` needs `kind: seed` (model '{name}' is {kind})", "add `kind: seed`, or give the model `sql` instead", at_key=True)
        elif language == "python" and body != "python":
            self.error(path + ("language",), f"model '{name}' says `language: python` but has `{body}`", "give it `python: {entrypoint: module:function}`, or drop `language`")
        elif language == "sql" and body == "python":
            self.error(path + ("language",), f"model '{name}' says `language: sql` but has `python`", "drop `language` (a `python:` body makes it a Python model)")

    def _check_kind_fields(self, raw: dict, path: JsonPath, kind: str, language: str) -> None:
        facts = kind_facts(kind)
        for required in facts.keys:
            if required not in raw:
                self.error(path + ("kind",), f"kind {kind} needs `{required}`", f"add `{required}: <column>` to model '{raw['name']}'")
        for key in KIND_KEYS:
            kinds = kinds_taking(key)
            if key in raw and kind not in kinds:
                self.error(
                    path + (key,),
                    f"`{key}` only applies to kind {' or '.join(kinds)}, and model '{raw['name']}' is {kind}",
                    f"remove `{key}` or set `kind: {kinds[0]}`",
                    at_key=True,
                )
        if language == "python" and not facts.python:
            allowed = [f"`{k.name}`" for k in KINDS.values() if k.python]
            self.error(path + ("kind",), f"a Python model cannot be of kind {kind}", f"Python models are {' or '.join(allowed)}")

    def _cron(self, raw: dict, path: JsonPath) -> str:
        cron = raw.get("cron", "@daily")
        try:
            schedule.interval_unit(cron)
        except schedule.CronError as error:
            self.error(path + ("cron",), str(error), "e.g. `@hourly`, `@daily`, or `30 6 * * *` (06:30 every day, UTC)")
            return "@daily"
        return cron

    def _lookback(self, raw: dict, path: JsonPath, cron: str) -> int:
        """The model's lookback in intervals of its own schedule (`2` or `2d` on a daily model both give 2)."""
        value = raw.get("lookback", 0)
        if isinstance(value, int):
            return value
        return schedule.intervals_in(schedule.duration(value), schedule.interval_unit(cron))

    def _seed(self, relative: str, path: JsonPath, contract: Contract | None) -> seeds.SeedTable | None:
        try:
            table = seeds.read((self.spec.folder / relative).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            self.error(path + ("seed_file",), f"cannot read seed_file '{relative}': {error}", "save it as UTF-8 text")
            return None
        except seeds.SeedError as error:
            self.error(path + ("seed_file",), f"seed_file '{relative}': {error}", error.hint)
            return None
        if contract is not None:
            declared = [c.name for c in contract.columns]
            if sorted(declared) != sorted(table.header):
                self.error(
                    path + ("contract",),
                    f"seed_file '{relative}' has the columns {', '.join(table.header)} but the contract declares {', '.join(declared)}",
                    "make the CSV header and the contract's columns the same",
                    at_key=True,
                )
        return table

    def _unknown_layer(self, layer: str, path: JsonPath, layers: tuple[str, ...]) -> None:
        if not layers:
            self.error(path + ("layer",), f"layer '{layer}' is used but `project.layers` is not defined", "list the layers, lowest first, in `project.layers`")
        else:
            self.error(path + ("layer",), f"unknown layer '{layer}'", did_you_mean(layer, layers, "layers"))

    def _sql(self, raw: dict, path: JsonPath) -> SqlText | None:
        if "sql" in raw:
            return SqlText(text=raw["sql"], location=self._scalar_start(path + ("sql",)))
        if "sql_file" not in raw:
            return None
        relative = self._relative_file(raw, path, "sql_file")
        if not relative:
            return None
        try:
            text = (self.spec.folder / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.error(path + ("sql_file",), f"cannot read sql_file '{relative}': {shown(exc)}", "save it as UTF-8 text, readable by you")
            return None
        if not text.strip():
            self.error(path + ("sql_file",), f"sql_file '{relative}' is empty", "write the model's SELECT in it")
        shown = posixpath.join(posixpath.dirname(self.spec.display.replace(os.sep, "/")), relative)
        return SqlText(text=text, location=Location(shown, 1, 1), file=relative)

    def _scalar_start(self, path: JsonPath) -> Location:
        return scalar_start(self.spec, path)

    def _relative_file(self, raw: dict, path: JsonPath, key: str) -> str:
        """A file named in the spec: it must exist and stay inside the spec's folder."""
        if key not in raw:
            return ""
        written = raw[key]
        folder = self.spec.folder.resolve()
        target = (folder / written).resolve()
        if Path(written).is_absolute() or not target.is_relative_to(folder):
            self.error(
                path + (key,),
                f"{key} '{written}' is outside the spec's folder",
                "paths are relative to the spec file and must stay inside its folder",
            )
            return ""
        if target.exists() and not target.is_file():
            self.error(path + (key,), f"{key} '{written}' is not a regular file", "name a file of SQL or CSV text, not a folder, pipe or device")
            return ""
        if not target.is_file():
            hint = f"no such file in {self.spec.folder.name or '.'}/"
            siblings = [p.name for p in target.parent.glob("*")] if target.parent.is_dir() else []
            suggestion = did_you_mean(target.name, siblings, "files") if siblings else ""
            self.error(path + (key,), f"{key} '{written}' does not exist", suggestion or hint)
            return ""
        return PurePosixPath(target.relative_to(folder).as_posix()).as_posix()

    def _entrypoint(self, raw: dict, path: JsonPath) -> tuple[str, str]:
        """The entrypoint, and the digest of its module's file (its code is part of what the model computes)."""
        if "python" not in raw:
            return "", ""
        entrypoint = raw["python"]["entrypoint"]
        module = entrypoint.split(":", 1)[0]
        file = module_file(self.spec.folder, module)
        if file is None:
            self.error(
                path + ("python", "entrypoint"),
                f"Python module '{module}' of model '{raw['name']}' not found",
                f"expected {Path(*module.split('.')).as_posix()}.py next to the spec file",
            )
            return entrypoint, ""
        if not file.resolve().is_relative_to(self.spec.folder.resolve()):
            self.error(
                path + ("python", "entrypoint"),
                f"Python module '{module}' of model '{raw['name']}' is outside the spec's folder (through a symbolic link)",
                "keep the model's code inside the spec's folder, as a real file",
            )
            return entrypoint, ""
        code = file.read_bytes()
        self._check_entrypoint(code, file, entrypoint, path + ("python", "entrypoint"))
        return entrypoint, hashlib.sha256(code).hexdigest()

    def _check_entrypoint(self, code: bytes, file: Path, entrypoint: str, path: JsonPath) -> None:
        """The module compiles and defines the entrypoint's function at its top level (both engines import it)."""
        import ast

        function = entrypoint.split(":", 1)[1] if ":" in entrypoint else ""
        shown_file = file.relative_to(self.spec.folder).as_posix()
        try:
            tree = ast.parse(code, filename=shown_file)
        except (SyntaxError, ValueError) as error:
            line = getattr(error, "lineno", None)
            where = f" (line {line})" if line else ""
            self.error(
                path,
                f"Python module {shown_file} does not compile{where}: {shown(getattr(error, 'msg', str(error)))}",
                f"run `python -m py_compile {shown_file}` and fix what it reports",
            )
            return
        defined = _top_level_names(tree)
        if function and function not in defined:
            self.error(path, f"Python module {shown_file} defines no function '{shown(function)}'", did_you_mean(function, defined, "functions") or "define it at the module's top level")

    def _model_contract(self, raw: dict, path: JsonPath, contracts: dict[str, Contract]) -> Contract | None:
        value = raw.get("contract")
        if value is None:
            return None
        if isinstance(value, dict):
            return self._contract(raw["name"], value, path + ("contract",), inline=True)
        if value not in contracts:
            self.error(path + ("contract",), f"unknown contract '{value}'", did_you_mean(value, contracts, "contracts"))
            return None
        return contracts[value]

    def _tests(self, raw: dict, path: JsonPath) -> tuple[UnitTest, ...]:
        tests = []
        first: dict[str, int] = {}
        for i, test in enumerate(raw.get("tests", ())):
            test_path = path + ("tests", i)
            self._unique(test["name"], first, test_path, "test")
            given = tuple((table, tuple(rows)) for table, rows in test.get("given", {}).items())
            tests.append(
                UnitTest(
                    name=test["name"],
                    given=given,
                    expect=tuple(test["expect"]),
                    description=test.get("description", ""),
                    location=self.loc(test_path + ("name",)),
                )
            )
        return tuple(tests)


def _top_level_names(tree) -> set[str]:
    """Names a module defines at its top level: functions, classes, assignments, imports."""
    import ast

    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def module_file(folder: Path, module: str) -> Path | None:
    """The file of a dotted Python module under a folder (a module file or a package's __init__.py)."""
    base = folder / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def scalar_start(spec: LoadedSpec, path: JsonPath) -> Location:
    """Where the first character of a scalar's text is (a block scalar starts below its `|`)."""
    location = spec.location(path)
    if path not in spec.block_scalars:
        return location
    lines = spec.lines
    line = location.line  # 1-based line of the `|`; content starts on the next non-blank one
    while line < len(lines) and not lines[line].strip():
        line += 1
    if line >= len(lines):
        return location
    indent = len(lines[line]) - len(lines[line].lstrip(" "))
    return Location(location.file, line + 1, indent + 1)
