"""Engine assignment: every condition and combinator, precedence, capability checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import error_text, load_dict, spec_with
from meshgen.analysis.engines import decide, evaluate
from meshgen.ir import Condition, Engines, Model, Override, Rule
from meshgen.errors import Location

HERE = Location("meshgen.yaml", 1, 1)


def model(**fields) -> Model:
    base = {"name": "staging.orders", "language": "sql", "kind": "full", "location": HERE}
    base.update(fields)
    return Model(**base)


@pytest.mark.parametrize(
    "condition, fields, expected",
    [
        (Condition(language=("python",)), {"language": "python"}, True),
        (Condition(language=("python",)), {}, False),
        (Condition(layer=("raw", "integration")), {"layer": "integration"}, True),
        (Condition(layer=("raw",)), {"layer": "marts"}, False),
        (Condition(layer=("raw",)), {}, False),
        (Condition(domain=("finance",)), {"domain": "finance"}, True),
        (Condition(domain=("finance",)), {"domain": "risk"}, False),
        (Condition(kind=("view", "full")), {"kind": "view"}, True),
        (Condition(kind=("scd_type_2",)), {}, False),
        (Condition(tags=("pii", "gold")), {"tags": ("gold", "daily")}, True),
        (Condition(tags=("pii",)), {"tags": ("gold",)}, False),
        (Condition(name=("finance.*",)), {"name": "finance.ledger"}, True),
        (Condition(name=("*.fraud_*", "x.*")), {"name": "risk.fraud_alerts"}, True),
        (Condition(name=("finance.*",)), {}, False),
        (Condition(attribute="cost", operator="gt", operand=1000), {"attributes": {"cost": 1200}}, True),
        (Condition(attribute="cost", operator="gt", operand=1000), {"attributes": {"cost": 1000}}, False),
        (Condition(attribute="cost", operator="gte", operand=1000), {"attributes": {"cost": 1000}}, True),
        (Condition(attribute="cost", operator="lt", operand=10), {"attributes": {"cost": 9.5}}, True),
        (Condition(attribute="cost", operator="lte", operand=10), {"attributes": {"cost": 11}}, False),
        (Condition(attribute="tier", operator="equals", operand="gold"), {"attributes": {"tier": "gold"}}, True),
        (Condition(attribute="live", operator="equals", operand=True), {"attributes": {"live": False}}, False),
        (Condition(attribute="tier", operator="in", operand=("a", "b")), {"attributes": {"tier": "b"}}, True),
        (Condition(attribute="tier", operator="in", operand=("a", "b")), {"attributes": {"tier": "c"}}, False),
        (Condition(attribute="cost", operator="gt", operand=1), {}, False),
        (Condition(attribute="cost", operator="gt", operand=1), {"attributes": {"cost": "high"}}, False),
        (Condition(any_of=(Condition(layer=("raw",)), Condition(kind=("view",)))), {"kind": "view"}, True),
        (Condition(any_of=(Condition(layer=("raw",)), Condition(kind=("view",)))), {}, False),
        (Condition(all_of=(Condition(kind=("full",)), Condition(language=("sql",)))), {}, True),
        (Condition(all_of=(Condition(kind=("full",)), Condition(language=("python",)))), {}, False),
        (Condition(negated=Condition(tags=("certified",))), {"tags": ("certified",)}, False),
        (Condition(negated=Condition(tags=("certified",))), {}, True),
        (Condition(kind=("full",), language=("python",)), {}, False),  # several keys: all must hold
    ],
)
def test_conditions(condition, fields, expected):
    matched, reason = evaluate(condition, model(**fields))
    assert matched is expected
    assert reason


def test_reasons_say_why():
    matched, reason = evaluate(Condition(attribute="cost", operator="gt", operand=1000), model(attributes={"cost": 5}))
    assert (matched, reason) == (False, "attribute cost = 5 is not > 1000")


ENGINES = Engines(
    default="dbt",
    rules=(Rule("heavy", Condition(tags=("heavy",)), "sqlmesh"), Rule("marts", Condition(name=("marts.*",)), "dbt")),
    overrides=(Override(("finance.*",), "sqlmesh", "critical"),),
)


def test_precedence_pin_over_override_over_rule_over_default():
    pinned = decide(model(name="finance.x", tags=("heavy",), engine_pin="dbt"), ENGINES)
    assert (pinned.engine, pinned.decided_by.kind) == ("dbt", "pin")
    overridden = decide(model(name="finance.x", tags=("heavy",)), ENGINES)
    assert (overridden.engine, overridden.decided_by.kind) == ("sqlmesh", "override")
    ruled = decide(model(name="marts.x", tags=("heavy",)), ENGINES)
    assert (ruled.engine, ruled.decided_by.name) == ("sqlmesh", "heavy"), "the first matching rule wins"
    default = decide(model(name="staging.x"), ENGINES)
    assert (default.engine, default.decided_by.kind) == ("dbt", "default")
    assert [s.kind for s in default.trail] == ["override", "rule", "rule", "default"]
    assert not any(s.matched for s in default.trail[:-1])


def test_python_on_a_dbt_adapter_without_python_names_the_rule(tmp_path: Path):
    data = spec_with(
        {
            "name": "ml.p",
            "python": {"entrypoint": "pipe:run"},
            "depends_on": ["raw.orders"],
            "contract": {"columns": {"x": "integer"}},
        },
        gateways={"pg": {"type": "postgres", "host": "h", "user": "u", "database": "d"}},
        environments={"prod": {"gateway": "pg"}},
        engines={"default": "sqlmesh", "rules": [{"name": "all-python-to-dbt", "when": {"language": "python"}, "engine": "dbt"}]},
    )
    text = error_text(tmp_path, data, files={"pipe.py": "def run(inputs):\n    return None\n"})
    assert "Python model 'ml.p' is put on dbt by rule all-python-to-dbt" in text
    assert "gateway 'pg' (postgres) of environment 'prod'" in text


def test_python_on_dbt_duckdb_is_fine(tmp_path: Path):
    data = spec_with(
        {"name": "ml.p", "python": {"entrypoint": "pipe:run"}, "depends_on": ["raw.orders"], "contract": {"columns": {"x": "integer"}}},
    )
    spec = load_dict(tmp_path, data, files={"pipe.py": "def run(inputs):\n    return None\n"})
    assert spec.analysis.engine("ml.p") == "dbt"
