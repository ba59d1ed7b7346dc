"""A whole synthetic spec: the mix of layers, the project around the models, and writing it to disk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from .catalog import Catalog
from .models import add_intermediate, add_mart, add_python, add_source, add_staging
from .vocabulary import DEFAULT_SEED, DOMAINS, SQLMESH_DOMAINS


@dataclass(frozen=True)
class Generated:
    spec: dict  # the content of meshgen.yaml
    files: dict  # path relative to the spec's folder -> text (sql files, Python modules)
    models: int
    seed: int


def generate_spec(models: int, seed: int = DEFAULT_SEED) -> dict:
    """The spec of `models` models as plain data (see `generate` for its files)."""
    return generate(models, seed).spec


def generate(models: int, seed: int = DEFAULT_SEED) -> Generated:
    if models < 10:
        raise ValueError("at least 10 models")
    catalog = Catalog(models, seed)
    _add_models(catalog, models)
    return Generated(spec=_spec(catalog, models), files=catalog.files, models=models, seed=seed)


def write(generated: Generated, folder: str | Path) -> Path:
    """Write meshgen.yaml and its files into `folder`; returns the spec's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for relative, text in sorted(generated.files.items()):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    header = f"# Synthetic benchmark spec: {generated.models} models, seed {generated.seed} (synthetic/).\n"
    spec_path = folder / "meshgen.yaml"
    spec_path.write_text(header + dump_yaml(generated.spec), encoding="utf-8", newline="\n")
    return spec_path


def edit_target(spec: dict) -> str:
    """The model the one-edit rebuild changes: the last mart (nothing reads marts) with inline SQL and no contract."""
    return next(
        m["name"] for m in reversed(spec["models"]) if m["layer"] == "marts" and "sql" in m and "contract" not in m
    )


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    pass


def _str(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)


def _add_models(catalog: Catalog, n: int) -> None:
    """Sources, then each layer in turn, so every model reads only models added before it."""
    n_python = max(2, n // 250)
    n_staging = round(n * 0.3)
    n_marts = round(n * 0.3)
    n_intermediate = n - n_staging - n_marts
    n_sources = max(2, math.ceil(n_staging * 0.9))
    domains = list(DOMAINS)
    for i in range(n_sources):
        add_source(catalog, domains[i % len(domains)])
    for i in range(n_staging):
        add_staging(catalog, catalog.sources[i % n_sources])
    python_at = set(catalog.rng.sample(range(n_intermediate), n_python))
    for i in range(n_intermediate):
        domain = domains[catalog.rng.randrange(len(domains))]
        add_python(catalog, domain) if i in python_at else add_intermediate(catalog, domain)
    for _ in range(n_marts):
        add_mart(catalog, domains[catalog.rng.randrange(len(domains))])


def _spec(catalog: Catalog, n: int) -> dict:
    return {
        "meshgen": 1,
        "project": {
            "name": "bench_platform",
            "dialect": "duckdb",
            "owner": "data-platform@example.com",
            "description": f"Synthetic analytics platform with {n} models for meshgen benchmarks.",
            "start": "2024-01-01",
            "layers": ["staging", "intermediate", "marts"],
        },
        "gateways": {"local": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "environments": {"dev": {"gateway": "local"}, "prod": {"gateway": "local", "dbt": {"threads": 8}}},
        "sources": catalog.sources,
        "contracts": catalog.contracts,
        "engines": {
            "default": "dbt",
            "rules": [
                {"name": "python-on-sqlmesh", "when": {"language": "python"}, "engine": "sqlmesh"},
                {"name": "staging-on-sqlmesh", "when": {"layer": "staging"}, "engine": "sqlmesh"},
                {
                    "name": "audited-domains",
                    "when": {"all": [{"layer": "intermediate"}, {"domain": SQLMESH_DOMAINS}]},
                    "engine": "sqlmesh",
                },
                {"name": "costly", "when": {"attribute": "monthly_cost_usd", "gt": 1800}, "engine": "sqlmesh"},
                {"name": "certified-marts", "when": {"layer": "marts", "tags": ["certified"]}, "engine": "sqlmesh"},
            ],
        },
        "models": [m.spec for m in catalog.models],
    }
