"""Deterministic synthetic meshgen specs of N models, for benchmarks and tests.

The mix resembles a real analytics platform:

* sources with declared columns (one per staging model, some shared);
* staging models (layer `staging`, ~30%): a `SELECT *` CTE over one source, a
  cleaning CTE, a final projection;
* intermediate models (~40%): a base upstream joined with 1-2 aggregated
  upstreams (staging models, or earlier intermediate models of the same domain)
  through CTEs; a few are Python models;
* marts (~30%): GROUP BY in a CTE, then window functions (running totals,
  moving averages, ranks, LAG), over 1-2 staging or intermediate models.

Every SQL model is 15-60 lines. About a third of the models carry a contract
(inline, or a named one for marts) whose columns and types are exactly what the
SQL outputs: the final projection CASTs every column of a contracted model.
Engines are assigned by `engines.rules` (language, layer, domain, attribute,
tag). Staging and intermediate models expose a common set of columns
(`INTERFACE`), so every downstream reference resolves.

    from benchmarks.generate import generate, write
    spec_path = write(generate(1000, seed=7), "build/bench/1000")

Same (models, seed), same bytes. `raw_data` and `next_day` give its sources
deterministic rows, so the tests can run a generated spec on the real engines.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

DOMAINS = {
    "sales": ["orders", "order_items", "quotes", "returns", "discounts"],
    "finance": ["invoices", "payments", "refunds", "ledger_entries", "payouts"],
    "marketing": ["campaigns", "clicks", "impressions", "leads", "signups"],
    "support": ["tickets", "chats", "surveys", "calls", "escalations"],
    "logistics": ["shipments", "deliveries", "stock_moves", "pickups", "parcels"],
    "product": ["page_views", "sessions", "feature_events", "subscriptions", "trials"],
}
SQLMESH_DOMAINS = ["finance", "logistics"]  # audited domains: their intermediate models run on SQLMesh

# Columns every staging and intermediate model outputs (and Python models promise).
INTERFACE = [
    ("record_id", "bigint"),
    ("customer_id", "integer"),
    ("event_date", "date"),
    ("event_time", "timestamp"),
    ("category", "varchar"),
    ("status", "varchar"),
    ("amount", "decimal(18,2)"),
    ("quantity", "integer"),
]
FOREIGN_KEYS = ["store_id", "product_id", "account_id", "campaign_id"]
# Optional source column -> (type in the source, staging expression, output type)
EXTRAS = {
    "currency": ("varchar", "UPPER(TRIM(currency))", "varchar"),
    "country_code": ("varchar", "UPPER(country_code)", "varchar"),
    "discount": ("decimal(18,2)", "COALESCE(discount, 0)", "decimal(18,2)"),
    "score": ("double", "score", "double"),
    "priority": ("varchar", "LOWER(COALESCE(priority, 'normal'))", "varchar"),
    "region": ("varchar", "LOWER(TRIM(region))", "varchar"),
}
TEAMS = ["data-platform", "analytics-eng", "finance-analytics", "growth", "ops-analytics"]

# The one-model edit the benchmark runner applies: `edit_target(spec)` names the model,
# whose SQL contains EDIT_FROM exactly once.
EDIT_FROM, EDIT_TO = "record_count >= 1", "record_count >= 2"
DEFAULT_SEED = 7


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
    return _Generator(models, seed).run()


def write(generated: Generated, folder: str | Path) -> Path:
    """Write meshgen.yaml and its files into `folder`; returns the spec's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for relative, text in sorted(generated.files.items()):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    header = f"# Synthetic benchmark spec: {generated.models} models, seed {generated.seed} (benchmarks/generate.py).\n"
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


def _sql_type(type_: str) -> str:
    return type_.upper().replace(",", ", ")


def _cast(expression: str, type_: str) -> str:
    return f"CAST({expression} AS {_sql_type(type_)})"


def _block(lines: list[str], indent: int = 4) -> str:
    """Comma-separated projection lines."""
    pad = " " * indent
    return ",\n".join(pad + line for line in lines)


@dataclass(eq=False)
class _Model:
    name: str
    layer: str
    domain: str
    noun: str
    columns: list  # [(name, type)] the SQL outputs
    spec: dict


class _Generator:
    def __init__(self, models: int, seed: int):
        self.n = models
        self.rng = random.Random(f"meshgen-bench:{models}:{seed}")
        self.seed = seed
        self.models: list[_Model] = []
        self.pools: dict[tuple[str, str | None], list[_Model]] = {}  # (layer, domain or None) -> models
        self.sources: list[dict] = []
        self.contracts: dict[str, dict] = {}
        self.files: dict[str, str] = {}
        self.counter = 0

    def run(self) -> Generated:
        n_python = max(2, self.n // 250)
        n_staging = round(self.n * 0.3)
        n_marts = round(self.n * 0.3)
        n_intermediate = self.n - n_staging - n_marts
        n_sources = max(2, math.ceil(n_staging * 0.9))
        domains = list(DOMAINS)
        for i in range(n_sources):
            self._source(domains[i % len(domains)])
        for i in range(n_staging):
            self._staging(self.sources[i % n_sources])
        python_at = set(self.rng.sample(range(n_intermediate), n_python))
        for i in range(n_intermediate):
            domain = domains[self.rng.randrange(len(domains))]
            self._python(domain) if i in python_at else self._intermediate(domain)
        for _ in range(n_marts):
            self._mart(domains[self.rng.randrange(len(domains))])
        spec = {
            "meshgen": 1,
            "project": {
                "name": "bench_platform",
                "dialect": "duckdb",
                "owner": "data-platform@example.com",
                "description": f"Synthetic analytics platform with {self.n} models for meshgen benchmarks.",
                "start": "2024-01-01",
                "layers": ["staging", "intermediate", "marts"],
            },
            "gateways": {"local": {"type": "duckdb", "path": "warehouse.duckdb"}},
            "environments": {"dev": {"gateway": "local"}, "prod": {"gateway": "local", "dbt": {"threads": 8}}},
            "sources": self.sources,
            "contracts": self.contracts,
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
            "models": [m.spec for m in self.models],
        }
        return Generated(spec=spec, files=self.files, models=self.n, seed=self.seed)

    # -- helpers ---------------------------------------------------------------
    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _owner(self) -> str:
        return f"{self.rng.choice(TEAMS)}@example.com"

    def _pick(self, layer: str, domain: str | None = None, exclude=()) -> _Model | None:
        pool = self.pools.get((layer, domain), [])
        for _ in range(5):  # prefer recent models a little: real DAGs are local
            model = pool[min(len(pool) - 1, int(len(pool) * (1 - self.rng.random() ** 2)))] if pool else None
            if model is None or model not in exclude:
                return model
        return None

    def _register(self, model: _Model) -> None:
        self.models.append(model)
        for key in ((model.layer, None), (model.layer, model.domain)):
            self.pools.setdefault(key, []).append(model)

    def _contract(self) -> bool:
        return self.rng.random() < 0.32

    def _add(self, model: _Model, sql: str, has_contract: bool) -> None:
        lines = sql.count("\n") + 1
        assert 15 <= lines <= 60, (model.name, lines)
        if has_contract:
            columns = {name: type_ for name, type_ in model.columns}
            if model.layer == "marts":
                self.contracts[model.name.split(".")[1]] = {
                    "version": f"1.{self.rng.randrange(5)}.0",
                    "description": f"Published metrics of {model.name}.",
                    "owner": model.spec["owner"],
                    "columns": {
                        name: {"type": t, "constraints": ["not_null"]} if i < 2 else t
                        for i, (name, t) in enumerate(columns.items())
                    },
                    "sla": {"freshness": self.rng.choice(["1h", "6h", "24h"])},
                    "consumers": sorted(self.rng.sample(["bi_dashboards", "finance_reporting", "exec_pack", "crm"], 2)),
                }
                model.spec["contract"] = model.name.split(".")[1]
            else:
                columns["record_id"] = {"type": "bigint", "constraints": ["not_null"]}
                model.spec["contract"] = {"columns": columns}
        if self.rng.random() < 0.15:
            schema, table = model.name.split(".")
            path = f"sql/{schema}/{table}.sql"
            self.files[path] = sql + "\n"
            model.spec["sql_file"] = path
        else:
            model.spec["sql"] = sql + "\n"
        self._register(model)

    @staticmethod
    def _projection(columns: list, expressions: dict, cast_all: bool) -> list[str]:
        """The final SELECT list; a contracted model CASTs every column, so its types are unambiguous."""
        out = []
        for name, type_ in columns:
            expression = expressions.get(name, name)
            if cast_all:
                out.append(f"{_cast(expression, type_)} AS {name}")
            elif expression.rpartition(".")[2] == name:
                out.append(expression)
            else:
                out.append(f"{expression} AS {name}")
        return out

    # -- sources and models ----------------------------------------------------
    def _source(self, domain: str) -> None:
        k = self._next()
        noun = self.rng.choice(DOMAINS[domain])
        fk = self.rng.choice(FOREIGN_KEYS)
        extras = sorted(self.rng.sample(sorted(EXTRAS), self.rng.randrange(4)))
        columns = {
            "id": "bigint",
            "customer_id": "integer",
            fk: "integer",
            "amount": "decimal(18,2)",
            "quantity": "integer",
            "status": "varchar",
            "category": "varchar",
            "channel": "varchar",
            "created_at": "timestamp",
            "updated_at": "timestamp",
            "is_deleted": "boolean",
        }
        columns.update({e: EXTRAS[e][0] for e in extras})
        self.sources.append(
            {
                "name": f"raw_{domain}.{noun}_{k:04d}",
                "description": f"{noun.replace('_', ' ').capitalize()} loaded from the {domain} system.",
                "owner": "ingestion@example.com",
                "columns": columns,
            }
        )

    def _staging(self, source: dict) -> None:
        k = self._next()
        schema, table = source["name"].split(".")
        domain, noun = schema.removeprefix("raw_"), table.rsplit("_", 1)[0]
        src = source["columns"]
        fk = next(c for c in FOREIGN_KEYS if c in src)
        extras = [e for e in EXTRAS if e in src]
        expressions = {
            "record_id": "id",
            "customer_id": "customer_id",
            fk: fk,
            "event_time": "created_at",
            "event_date": "CAST(created_at AS DATE)",
            "category": "LOWER(TRIM(COALESCE(category, 'unknown')))",
            "status": "LOWER(TRIM(status))",
            "channel": "LOWER(channel)",
            "amount": "COALESCE(amount, 0)",
            "quantity": "COALESCE(quantity, 0)",
            "updated_at": "updated_at",
        }
        expressions.update({e: EXTRAS[e][1] for e in extras})
        types = dict(INTERFACE) | {fk: "integer", "channel": "varchar", "updated_at": "timestamp"}
        types.update({e: EXTRAS[e][2] for e in extras})
        if "discount" in extras:
            expressions["net_amount"] = "amount - discount"
            types["net_amount"] = "decimal(18,2)"
        columns = [(c, t) for c, t in types.items()]
        cleaned = [
            _cast(expressions[c], t) + f" AS {c}" if c in ("record_id", "amount", "quantity")
            else c if expressions[c] == c else f"{expressions[c]} AS {c}"
            for c, t in types.items()
            if c != "net_amount"
        ]
        cleaned.append("COALESCE(is_deleted, FALSE) AS is_deleted")
        has_contract = self._contract()
        final = self._projection(columns, {"net_amount": "amount - discount"}, cast_all=has_contract)
        sql = (
            f"WITH source AS (\n  SELECT *\n  FROM {source['name']}\n),\n"
            f"cleaned AS (\n  SELECT\n{_block(cleaned)}\n  FROM source\n  WHERE id IS NOT NULL\n)\n"
            f"SELECT\n{_block(final, 2)}\nFROM cleaned\nWHERE NOT is_deleted"
        )
        kind = self.rng.choices(["view", "incremental_by_time_range", "full"], [6, 2, 2])[0]
        spec = {
            "name": f"staging.stg_{noun}_{k:04d}",
            "description": f"Cleaned {noun.replace('_', ' ')} from {source['name']}.",
            "kind": kind,
            "layer": "staging",
            "domain": domain,
            "owner": "data-platform@example.com",
            "tags": ["staging"],
            "grain": ["record_id"],
        }
        if kind == "incremental_by_time_range":
            spec |= {"time_column": "event_date", "cron": "@hourly"}
        self._add(_Model(spec["name"], "staging", domain, noun, columns, spec), sql, has_contract)

    def _upstreams(self, domain: str, count: int) -> list[_Model]:
        """Staging models, or earlier intermediate models of the same domain (SQL or Python)."""
        chosen: list[_Model] = []
        while len(chosen) < count:
            same_domain = self.rng.random() < 0.35
            candidate = self._pick("intermediate", domain, chosen) if same_domain else None
            candidate = candidate or self._pick("staging", None, chosen)
            if candidate:
                chosen.append(candidate)
        return chosen

    def _intermediate(self, domain: str) -> None:
        k = self._next()
        base, *others = self._upstreams(domain, self.rng.choice([2, 2, 3]))
        noun = base.noun
        ctes = [
            f"base AS (\n  SELECT\n{_block([c for c, _ in INTERFACE])}\n  FROM {base.name}\n"
            f"  WHERE status <> 'cancelled'\n)"
        ]
        columns = list(INTERFACE)
        expressions = {c: f"b.{c}" for c, _ in INTERFACE}
        joins = []
        for i, other in enumerate(others, 1):
            alias = f"{other.noun}_{i}"
            ctes.append(
                f"{alias} AS (\n  SELECT\n    customer_id,\n    COUNT(*) AS record_count,\n"
                f"    SUM(amount) AS total_amount,\n    MAX(event_date) AS last_event_date\n"
                f"  FROM {other.name}\n  GROUP BY customer_id\n)"
            )
            joins.append(f"LEFT JOIN {alias} AS u{i}\n  ON u{i}.customer_id = b.customer_id")
            columns += [(f"{alias}_count", "integer"), (f"{alias}_amount", "decimal(18,2)"), (f"{alias}_last_date", "date")]
            expressions |= {
                f"{alias}_count": f"COALESCE(u{i}.record_count, 0)",
                f"{alias}_amount": f"COALESCE(u{i}.total_amount, 0)",
                f"{alias}_last_date": f"u{i}.last_event_date",
            }
        columns.append(("value_band", "varchar"))
        band = "CASE\n    WHEN b.amount >= 1000 THEN 'high'\n    WHEN b.amount >= 100 THEN 'medium'\n    ELSE 'low'\n  END"
        expressions["value_band"] = band
        has_contract = self._contract()
        projection = self._projection(columns, expressions, cast_all=has_contract)
        sql = "WITH " + ",\n".join(ctes) + f"\nSELECT\n{_block(projection, 2)}\nFROM base AS b\n" + "\n".join(joins)
        kind = self.rng.choices(["full", "incremental_by_unique_key", "view"], [6, 3, 1])[0]
        spec = {
            "name": f"int_{domain}.{noun}_enriched_{k:04d}",
            "description": f"{noun.replace('_', ' ').capitalize()} of {base.name} enriched with customer roll-ups.",
            "kind": kind,
            "layer": "intermediate",
            "domain": domain,
            "owner": self._owner(),
            "tags": [domain],
            "grain": ["record_id"],
            "attributes": {"monthly_cost_usd": self.rng.randrange(10, 2000)},
        }
        if kind == "incremental_by_unique_key":
            spec["unique_key"] = "record_id"
        self._add(_Model(spec["name"], "intermediate", domain, noun, columns, spec), sql, has_contract)

    def _python(self, domain: str) -> None:
        k = self._next()
        upstreams = self._upstreams(domain, self.rng.choice([1, 2]))
        noun = self.rng.choice(DOMAINS[domain])
        name = f"int_{domain}.{noun}_scores_{k:04d}"
        module = f"{noun}_scores_{k:04d}"
        columns = INTERFACE + [("score", "double")]
        spec = {
            "name": name,
            "description": f"Anomaly score of each {noun.replace('_', ' ')} record against its customer's mean amount.",
            "python": {"entrypoint": f"pipelines.{module}:predict"},
            "depends_on": [m.name for m in upstreams],
            "kind": "full",
            "layer": "intermediate",
            "domain": domain,
            "owner": "data-science@example.com",
            "tags": ["ml", domain],
            "grain": ["record_id"],
            "contract": {"columns": {c: t for c, t in columns}},
        }
        self.files["pipelines/__init__.py"] = '"""Python models of the benchmark spec."""\n'
        self.files[f"pipelines/{module}.py"] = _python_module(name, [m.name for m in upstreams])
        self._register(_Model(name, "intermediate", domain, noun, columns, spec))

    def _mart(self, domain: str) -> None:
        k = self._next()
        pool_layer = "intermediate" if self.rng.random() < 0.8 else "staging"
        main = self._pick(pool_layer, domain if self.rng.random() < 0.5 else None) or self._pick("staging")
        second = self._pick("intermediate", None, [main]) if self.rng.random() < 0.5 else None
        by_customer = self.rng.random() < 0.35
        dim = self.rng.choice(["category", "status"])
        keys = ["customer_id"] if by_customer else ["event_date", dim]
        metric = self.rng.choice(["revenue", "volume", "activity", "performance"])
        aggregates = [
            "COUNT(*) AS record_count",
            "COUNT(DISTINCT record_id) AS distinct_records",
            "SUM(amount) AS total_amount",
            "SUM(quantity) AS total_quantity",
            "AVG(amount) AS avg_amount",
        ]
        ctes = [
            f"grouped AS (\n  SELECT\n{_block(keys + aggregates)}\n  FROM {main.name}\n"
            f"  WHERE status <> 'cancelled'\n  GROUP BY {', '.join(keys)}\n)"
        ]
        columns = [(c, dict(INTERFACE)[c]) for c in keys] + [
            ("record_count", "bigint"),
            ("distinct_records", "bigint"),
            ("total_amount", "decimal(18,2)"),
            ("total_quantity", "bigint"),
            ("avg_amount", "double"),
        ]
        expressions = {c: f"g.{c}" for c, _ in columns}
        join = ""
        if second:
            on = keys[0]
            ctes.append(
                f"related AS (\n  SELECT\n    {on},\n    SUM(amount) AS related_amount\n"
                f"  FROM {second.name}\n  GROUP BY {on}\n)"
            )
            join = f"LEFT JOIN related AS r\n  ON r.{on} = g.{on}\n"
            columns.append(("related_amount", "decimal(18,2)"))
            expressions["related_amount"] = "COALESCE(r.related_amount, 0)"
        if by_customer:
            windows = {
                "amount_rank": ("integer", "RANK() OVER (ORDER BY g.total_amount DESC)"),
                "amount_decile": ("integer", "NTILE(10) OVER (ORDER BY g.total_amount)"),
                "amount_percentile": ("double", "PERCENT_RANK() OVER (ORDER BY g.total_amount)"),
            }
        else:
            part = f"PARTITION BY g.{dim} ORDER BY g.event_date"
            windows = {
                "running_amount": ("decimal(18,2)", f"SUM(g.total_amount) OVER ({part} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"),
                "amount_7d_avg": ("double", f"AVG(g.total_amount) OVER ({part} ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)"),
                "amount_change": ("decimal(18,2)", f"g.total_amount - LAG(g.total_amount) OVER ({part})"),
                "daily_rank": ("integer", "RANK() OVER (PARTITION BY g.event_date ORDER BY g.total_amount DESC)"),
            }
        for name, (type_, expression) in windows.items():
            columns.append((name, type_))
            expressions[name] = expression
        projection = self._projection(columns, expressions, cast_all=True)  # published: always typed
        has_contract = self._contract()
        sql = (
            "WITH " + ",\n".join(ctes) + f"\nSELECT\n{_block(projection, 2)}\nFROM grouped AS g\n{join}"
            f"WHERE g.{EDIT_FROM}"
        )
        certified = self.rng.random() < 0.25
        grain = "customer" if by_customer else f"day_{dim}"
        spec = {
            "name": f"marts.{domain}_{metric}_by_{grain}_{k:04d}",
            "description": f"{metric.capitalize()} of {main.name} per {grain.replace('_', ' and ')}, with trends and ranks.",
            "kind": self.rng.choices(["full", "view"], [4, 1])[0],
            "layer": "marts",
            "domain": domain,
            "owner": self._owner(),
            "tags": ["certified", "bi"] if certified else ["bi"],
            "grain": keys,
            "attributes": {"complexity": self.rng.randrange(1, 10)},
        }
        self._add(_Model(spec["name"], "marts", domain, metric, columns, spec), sql, has_contract)


_PYTHON_MODULE = '''"""{name}: how far each record's amount is from its customer's mean (a meshgen Python model).

Called as ``predict(inputs)``; ``inputs.table(name)`` returns an upstream listed
in ``depends_on`` as a pandas DataFrame. Deterministic.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = {columns!r}
DTYPES = {dtypes!r}


def predict(inputs) -> pd.DataFrame:
    frame = inputs.table("{first}")
    if frame.empty:
        return pd.DataFrame({{c: pd.Series(dtype=DTYPES[c]) for c in COLUMNS}})[COLUMNS]
    frame = frame[COLUMNS[:-1]].copy()
    amount = frame["amount"].astype("float64")
    mean = amount.groupby(frame["customer_id"]).transform("mean")
    frame["score"] = ((amount - mean).abs() / mean.where(mean > 0)).fillna(0.0)
{related}    return frame[COLUMNS].sort_values("record_id").reset_index(drop=True)
'''
_RELATED = '''    related = inputs.table("{second}")
    counts = related.groupby("customer_id").size().rename("related_count")
    frame = frame.join(counts, on="customer_id")
    frame["score"] = frame["score"] * (1 + frame["related_count"].fillna(0).clip(upper=10) / 10)
    frame = frame.drop(columns="related_count")
'''


def _python_module(name: str, upstreams: list[str]) -> str:
    pandas = {"bigint": "int64", "integer": "Int32", "date": "object", "timestamp": "datetime64[ns]",
              "varchar": "object", "decimal(18,2)": "float64", "double": "float64"}
    columns = INTERFACE + [("score", "double")]
    related = _RELATED.format(second=upstreams[1]) if len(upstreams) > 1 else ""
    return _PYTHON_MODULE.format(
        name=name,
        columns=[c for c, _ in columns],
        dtypes={c: pandas[t] for c, t in columns},
        first=upstreams[0],
        related=related,
    )


# -- raw data for the sources of a generated spec ------------------------------------------------

_STATUSES = ["complete", "complete", "pending", "cancelled", "COMPLETE"]
_CATEGORIES = ["alpha", "beta", "gamma", None]
_CHANNELS = ["web", "store", "app"]
_TEXT_EXTRAS = {"currency": [" eur", "usd ", "GBP"], "country_code": ["de", "fr", None], "priority": ["HIGH", None, "low"], "region": [" North", "south "]}


def raw_data(spec: dict, seed: int = DEFAULT_SEED, rows: int = 60, until: str = "2024-04-01") -> dict[str, list[dict]]:
    """Deterministic rows for every source of a generated spec, created in the 30 days before `until`."""
    from datetime import datetime, timedelta
    from decimal import Decimal

    rng = random.Random(f"meshgen-bench-data:{seed}")
    end = datetime.fromisoformat(until)
    data = {}
    for source in spec["sources"]:
        table = []
        for i in range(1, rows + 1):
            created = end - timedelta(minutes=rng.randint(1, 30 * 24 * 60))
            row = {}
            for column, type_ in source["columns"].items():
                row[column] = _value(rng, column, type_, i, created, Decimal)
            table.append(row)
        data[source["name"]] = table
    return data


def _value(rng: random.Random, column: str, type_: str, i: int, created, decimal):
    from datetime import timedelta

    if column == "id":
        return i
    if column == "customer_id":
        return rng.randint(1, 25)
    if column in ("created_at",):
        return created
    if column == "updated_at":
        return created + timedelta(hours=rng.randint(0, 5))
    if column == "status":
        return rng.choice(_STATUSES)
    if column == "category":
        return rng.choice(_CATEGORIES)
    if column == "channel":
        return rng.choice(_CHANNELS)
    if column in _TEXT_EXTRAS:
        return rng.choice(_TEXT_EXTRAS[column])
    if type_ == "boolean":
        return rng.random() < 0.1
    if type_.startswith("decimal"):
        return decimal(rng.randint(-500, 500000)) / 100 if rng.random() > 0.05 else None
    if type_ == "double":
        return round(rng.random() * 100, 3)
    return rng.randint(1, 40)  # integers: quantities, foreign keys


def next_day(spec: dict, data: dict[str, list[dict]], day: str = "2024-04-01", seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    """The sources one day later: new rows on `day`, and one late row of the day before in each source."""
    from datetime import datetime, timedelta
    from decimal import Decimal

    rng = random.Random(f"meshgen-bench-next:{seed}")
    start = datetime.fromisoformat(day)
    columns = {s["name"]: s["columns"] for s in spec["sources"]}
    result = {}
    for name, rows in data.items():
        last = max(r["id"] for r in rows)
        new = []
        for i in range(1, 6):
            created = start + timedelta(minutes=rng.randint(0, 24 * 60 - 1)) if i > 1 else start - timedelta(hours=10)
            new.append({c: _value(rng, c, t, last + i, created, Decimal) for c, t in columns[name].items()})
        result[name] = rows + new
    return result
