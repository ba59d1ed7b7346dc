"""The project-level sections: project, output, gateways, environments, orchestration and engines."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from ... import schedule
from ...errors import did_you_mean, shown
from ...execution import UNIT_TEST_GATEWAY
from ...ir import (
    Condition,
    Engines,
    EnvRef,
    Environment,
    Gateway,
    Limits,
    MeshgenSource,
    Output,
    Override,
    Project,
    Retries,
    Rule,
    SampleData,
)
from ..loader import JsonPath
from .base import ResolverBase

DEFAULT_GATEWAY = {"local": {"type": "duckdb", "path": "warehouse.duckdb"}}
# Where each CI provider reads its file, relative to the repository's top folder.
CI_DIRS = {
    "github": (".github/workflows", "GitHub reads workflows only from .github/workflows"),
    "gitlab": (".", "GitLab reads .gitlab-ci.yml only from the repository root"),
}
_COMPARATORS = ("gt", "gte", "lt", "lte", "equals", "in")
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]*@")
RESERVED_DIRS = {".git": "git owns", ".meshgen": "holds meshgen's own record of what it wrote"}


class ProjectSections(ResolverBase):
    def _limits(self) -> Limits:
        raw = self.data.get("orchestration", {})
        return Limits(**{k: v for k, v in raw.items() if k in ("max_parallel", "max_memory_gb", "max_cpu_cores")})

    def _retries(self) -> Retries:
        raw = self.data.get("orchestration", {})
        delay = schedule.duration(raw["retry_delay"]) if "retry_delay" in raw else None
        seconds = int(delay.total_seconds()) if delay else Retries().delay_seconds
        timeout = schedule.duration(raw["timeout"]) if "timeout" in raw else None
        timeout_minutes = max(1, int(timeout.total_seconds() // 60)) if timeout else Retries().timeout_minutes
        return Retries(count=raw.get("retries", Retries().count), delay_seconds=seconds, timeout_minutes=timeout_minutes)

    def _project(self) -> Project:
        raw = self.data["project"]
        self._check_date(raw.get("start"), ("project", "start"))
        dialect = raw.get("dialect", "duckdb")
        if dialect not in _known_dialects():
            self.error(("project", "dialect"), f"unknown SQL dialect '{dialect}'", did_you_mean(dialect, _known_dialects(), "dialects"))
            dialect = "duckdb"  # the rest of the spec is still checked
        return Project(
            name=raw["name"],
            dialect=dialect,
            spec_file=self.spec.path.name,
            spec_dir=self.spec.folder,
            spec_folder=self.spec_folder,
            repository_offset=self.repository_offset,
            owner=raw.get("owner", ""),
            description=raw.get("description", ""),
            start=raw.get("start", ""),
            layers=tuple(raw.get("layers", ())),
        )

    def _output(self) -> Output:
        raw = self.data.get("output", {})
        ci = raw.get("ci", {})
        orchestration = raw.get("orchestration", {})
        provider = ci.get("provider", "github")
        defaults = Output()
        output = Output(
            sqlmesh=_clean_dir(raw.get("sqlmesh", defaults.sqlmesh)),
            dbt=_clean_dir(raw.get("dbt", defaults.dbt)),
            contracts=_clean_dir(raw.get("contracts", defaults.contracts)),
            docs=_clean_dir(raw.get("docs", defaults.docs)),
            ci_provider=provider,
            ci_dir=self._ci_dir(provider, ci),
            ci_meshgen=self._meshgen_source(ci.get("meshgen")),
            sample_data=self._sample_data(ci.get("sample_data")),
            orchestration_dir=_clean_dir(orchestration.get("dir", defaults.orchestration_dir)),
            airflow=orchestration.get("airflow", True),
            dagster=orchestration.get("dagster", True),
        )
        self._refuse_reserved_dirs(raw)
        if _nested(output.sqlmesh, output.dbt):
            self.error(
                ("output", "dbt"),
                f"the SQLMesh folder '{output.sqlmesh}' and the dbt folder '{output.dbt}' overlap",
                "give each engine its own folder, e.g. transforms/sqlmesh and transforms/dbt",
            )
        return output

    def _ci_dir(self, provider: str, ci: dict) -> str:
        """The CI file's folder: the one place its provider reads it from, in the repository's top folder."""
        expected, reads = CI_DIRS.get(provider, (".", ""))
        written = _clean_dir(ci.get("dir", expected))
        if written != expected:
            self.error(("output", "ci", "dir"), f"{reads}, not from '{written}'", f"remove `dir` (or write `dir: {expected}`)")
        return expected

    def _meshgen_source(self, raw: dict | None) -> MeshgenSource:
        if not raw:
            return MeshgenSource()
        if "git" in raw:
            return MeshgenSource("git", raw["git"], raw.get("ref", ""))
        if "path" in raw:
            target = (self.spec.folder / raw["path"]).resolve()
            if not target.exists():
                self.error(("output", "ci", "meshgen", "path"), f"meshgen path '{raw['path']}' does not exist", "name a wheel, an sdist or a source folder, relative to the spec file")
            return MeshgenSource("path", _clean_dir(raw["path"]))
        return MeshgenSource("version", raw["version"])

    def _sample_data(self, raw: dict | None) -> SampleData | None:
        if not raw:
            return None
        where = self.loc(("output", "ci", "sample_data"))
        if "command" in raw:
            return SampleData(command=raw["command"], location=where)
        known = {s["name"] for s in self.data.get("sources", ())}
        tables = []
        for name, file in raw["tables"].items():
            path = ("output", "ci", "sample_data", "tables", name)
            if name not in known:
                self.error(path, f"sample data for '{name}', which is not a source", did_you_mean(name, sorted(known), "sources"), at_key=True)
            elif not (self.spec.folder / file).is_file():
                self.error(path, f"sample data file '{file}' does not exist", "paths are relative to the spec file")
            else:
                tables.append((name, PurePosixPath(file).as_posix()))
        return SampleData(tables=tuple(tables), location=where)

    def _refuse_outside(self, path: JsonPath, written: str) -> None:
        """A file the spec names stays inside the spec's folder once `..` and symbolic links are resolved."""
        folder = self.spec.folder.resolve()
        target = (folder / written).resolve()
        if PurePosixPath(written).is_absolute() or not target.is_relative_to(folder):
            where = "outside the spec's folder"
        else:
            reserved = [part for part in target.relative_to(folder).parts if part in RESERVED_DIRS]
            if not reserved:
                return
            where = f"inside {reserved[0]}/, which {RESERVED_DIRS[reserved[0]]}"
        self.error(
            path,
            f"`{path[-1]}` '{shown(written)}' is {where}",
            "paths are relative to the spec file and stay inside its folder (no `..`, no absolute path, no link leading out)",
        )

    def _refuse_hidden_secret(self, path: JsonPath, key: str, value: Any) -> None:
        """A password or key inside an ordinary setting (a URL's user:password@, `user: name:password`, a pasted key); never echoed."""
        if not isinstance(value, str):
            return
        if _URL_PASSWORD.search(value):
            found = "a password inside a URL (`user:password@`)"
        elif key == "user" and ":" in value:
            found = "a password after the user name (`name:password`)"
        elif "PRIVATE KEY" in value or "\"private_key\"" in value:
            found = "a private key"
        else:
            return
        self.error(
            path,
            f"`{key}` holds {found}: secrets may only come from the environment",
            f"keep only the host or user name here and put the secret in `password: {{env: {str(path[1]).upper()}_PASSWORD}}`",
        )

    def _refuse_reserved_dirs(self, raw: dict) -> None:
        """Output folders stay inside the spec's folder (the writer checks the real output root again) and out of .git, .meshgen."""
        named = [((key,), raw[key]) for key in ("sqlmesh", "dbt", "contracts", "docs") if key in raw]
        named += [((section, "dir"), raw[section]["dir"]) for section in ("ci", "orchestration") if "dir" in raw.get(section, {})]
        for path, folder in named:
            self._refuse_outside(("output",) + path, folder)

    def _gateways(self) -> tuple[Gateway, ...]:
        raw = self.data.get("gateways") or DEFAULT_GATEWAY
        gateways = []
        for name, settings in raw.items():
            for key, value in settings.items():
                self._refuse_hidden_secret(("gateways", name, key), key, value)
            port = settings.get("port")
            if isinstance(port, int) and not 1 <= port <= 65535:
                self.error(("gateways", name, "port"), f"port {port} is not a TCP port", "a port is a number from 1 to 65535 (PostgreSQL listens on 5432)")
            if settings["type"] == "duckdb" and isinstance(settings.get("path"), str):
                self._refuse_outside(("gateways", name, "path"), settings["path"])
            pairs = tuple((k, _setting(v)) for k, v in settings.items() if k != "type")
            gateways.append(Gateway(name=name, type=settings["type"], settings=pairs))
        return tuple(gateways)

    def _environments(self, gateways: tuple[Gateway, ...]) -> tuple[Environment, ...]:
        known = [g.name for g in gateways]
        raw = self.data.get("environments") or {"dev": {"gateway": known[0]}, "prod": {"gateway": known[0]}}
        environments = []
        for name, env in raw.items():
            if env["gateway"] not in known:
                self.error(
                    ("environments", name, "gateway"),
                    f"environment '{name}' uses unknown gateway '{env['gateway']}'",
                    did_you_mean(env["gateway"], known, "gateways"),
                )
            if name == UNIT_TEST_GATEWAY:
                self.error(
                    ("environments", name),
                    f"'{name}' is the name of the SQLMesh gateway unit tests run on",
                    "give the environment another name",
                    at_key=True,
                )
            backfill_start = env.get("backfill", {}).get("start", "")
            self._check_date(backfill_start, ("environments", name, "backfill", "start"))
            if backfill_start and name == "prod":
                self.error(
                    ("environments", name, "backfill"),
                    "prod always backfills every model from its own start",
                    "a shorter backfill window is for development environments: move `backfill` to one of those",
                    at_key=True,
                )
            environments.append(
                Environment(
                    name=name,
                    gateway=env["gateway"],
                    description=env.get("description", ""),
                    dbt_threads=env.get("dbt", {}).get("threads", 4),
                    backfill_start=backfill_start,
                )
            )
        return tuple(environments)

    def _engines(self) -> Engines:
        raw = self.data.get("engines", {})
        rules = []
        first: dict[str, int] = {}
        for i, rule in enumerate(raw.get("rules", ())):
            path = ("engines", "rules", i)
            self._unique(rule["name"], first, path, "rule")
            rules.append(
                Rule(
                    name=rule["name"],
                    when=self._condition(rule["when"], path + ("when",)),
                    engine=rule["engine"],
                    description=rule.get("description", ""),
                    location=self.loc(path + ("name",)),
                )
            )
        overrides = tuple(
            Override(
                models=tuple(o["models"]),
                engine=o["engine"],
                reason=o.get("reason", ""),
                location=self.loc(("engines", "overrides", i)),
            )
            for i, o in enumerate(raw.get("overrides", ()))
        )
        return Engines(default=raw.get("default", "dbt"), rules=tuple(rules), overrides=overrides)

    def _refuse_unknown_layers(self, raw: dict, path: JsonPath) -> None:
        """A condition on a layer the project does not declare would never match: a typo, most likely."""
        layers = self.data["project"].get("layers")
        if not layers or "layer" not in raw:
            return
        for layer in _as_tuple(raw["layer"]):
            if layer not in layers:
                self.error(path + ("layer",), f"condition on unknown layer '{shown(layer)}'", did_you_mean(str(layer), layers, "layers"))

    def _condition(self, raw: dict, path: JsonPath) -> Condition:
        comparators = [k for k in _COMPARATORS if k in raw]
        if "attribute" in raw and len(comparators) != 1:
            self.error(
                path + ("attribute",),
                f"an attribute condition needs exactly one of {', '.join(_COMPARATORS)}",
                "e.g. `{attribute: monthly_cost_usd, gt: 1000}`",
            )
        elif comparators and "attribute" not in raw:
            self.error(
                path + (comparators[0],),
                f"`{comparators[0]}` compares an attribute: add `attribute: <name>`",
                "e.g. `{attribute: monthly_cost_usd, gt: 1000}`",
                at_key=True,
            )
        self._refuse_unknown_layers(raw, path)
        return Condition(
            language=_as_tuple(raw.get("language")),
            layer=_as_tuple(raw.get("layer")),
            domain=_as_tuple(raw.get("domain")),
            kind=_as_tuple(raw.get("kind")),
            tags=_as_tuple(raw.get("tags")),
            name=_as_tuple(raw.get("name")),
            attribute=raw.get("attribute", ""),
            operator=comparators[0] if comparators else "",
            operand=tuple(raw["in"]) if "in" in raw else (raw[comparators[0]] if comparators else None),
            any_of=tuple(self._condition(c, path + ("any", i)) for i, c in enumerate(raw.get("any", ()))),
            all_of=tuple(self._condition(c, path + ("all", i)) for i, c in enumerate(raw.get("all", ()))),
            negated=self._condition(raw["not"], path + ("not",)) if "not" in raw else None,
        )


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _setting(value: Any):
    if isinstance(value, dict):
        return EnvRef(value["env"])
    if isinstance(value, list):
        return tuple(value)
    return value


def _known_dialects() -> list[str]:
    """The dialects sqlglot reads (the model SQL is parsed in one of them)."""
    from sqlglot.dialects.dialect import Dialects

    return sorted(d.value for d in Dialects if d.value)


def _clean_dir(path: str) -> str:
    clean = PurePosixPath(path).as_posix()
    return "." if clean in ("", ".") else clean.rstrip("/")


def _nested(a: str, b: str) -> bool:
    parts_a, parts_b = PurePosixPath(a).parts, PurePosixPath(b).parts
    shorter = min(len(parts_a), len(parts_b))
    return parts_a[:shorter] == parts_b[:shorter]
