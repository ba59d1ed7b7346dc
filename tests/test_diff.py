"""meshgen diff and impact: every class of change, with before/after specs and the exact classification."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from conftest import load_dict, run_cli, write_spec
from meshgen.commands import diff as change_safety


def base_spec() -> dict:
    return {
        "meshgen": 1,
        "project": {"name": "shop"},
        "gateways": {"local": {"type": "duckdb", "path": "w.duckdb"}, "spare": {"type": "duckdb", "path": "s.duckdb"}},
        "environments": {"dev": {"gateway": "local"}, "prod": {"gateway": "local"}, "qa": {"gateway": "spare"}},
        "sources": [
            {"name": "raw.orders", "columns": {"order_id": "bigint", "amount": "double", "status": "varchar", "score": "integer"}}
        ],
        "contracts": {
            "orders": {
                "version": "1.0.0",
                "consumers": ["finance_dashboard"],
                "columns": {
                    "order_id": {"type": "bigint", "constraints": ["not_null"]},
                    "amount": {"type": "double", "constraints": [{"range": [0, 1000]}]},
                    "status": {"type": "varchar", "constraints": [{"accepted_values": ["open", "closed"]}]},
                    "score": "integer",
                },
            }
        },
        "engines": {"default": "dbt"},
        "models": [
            {
                "name": "staging.orders",
                "engine": "sqlmesh",
                "grain": ["order_id"],
                "contract": "orders",
                "sql": "SELECT order_id, amount, status, score FROM raw.orders",
            },
            {"name": "marts.revenue", "sql": "SELECT SUM(amount) AS revenue FROM staging.orders"},
            {"name": "marts.unused", "sql": "SELECT COUNT(*) AS n FROM raw.orders"},
        ],
    }


def classify(tmp_path: Path, edit) -> list[tuple[str, str, str]]:
    before = base_spec()
    after = copy.deepcopy(before)
    edit(after)
    old = load_dict(tmp_path / "before", before)
    new = load_dict(tmp_path / "after", after)
    changes = change_safety.diff(old, new)
    classify.failed = change_safety.failed(changes)
    classify.changes = changes
    return [(c.kind, c.subject, c.message) for c in changes]


def contract(data) -> dict:
    return data["contracts"]["orders"]


def sql(data, text: str) -> None:
    data["models"][0]["sql"] = text


def drop_score(data):
    del contract(data)["columns"]["score"]
    sql(data, "SELECT order_id, amount, status FROM raw.orders")


def test_no_changes(tmp_path):
    assert classify(tmp_path, lambda d: None) == []
    assert not classify.failed


def test_column_dropped_is_breaking_and_fails_without_a_major_bump(tmp_path):
    assert classify(tmp_path, drop_score) == [
        ("breaking", "contract orders.score", "column score dropped"),
        ("safe", "model staging.orders", "logic changed"),
    ]
    assert classify.failed
    change = classify.changes[0]
    assert change.affected_models == ["marts.revenue"]
    assert change.consumers == ["finance_dashboard"]
    assert change.stages == [1, 2]


def test_breaking_change_with_a_major_bump_passes(tmp_path):
    def bumped(data):
        drop_score(data)
        contract(data)["version"] = "2.0.0"

    assert ("breaking", "contract orders.score", "column score dropped") in classify(tmp_path, bumped)
    assert not classify.failed


def test_column_renamed(tmp_path):
    def rename(data):
        columns = contract(data)["columns"]
        columns["rating"] = columns.pop("score")
        sql(data, "SELECT order_id, amount, status, score AS rating FROM raw.orders")

    assert classify(tmp_path, rename) == [
        ("breaking", "contract orders.score", "column score renamed to rating"),
        ("safe", "model staging.orders", "logic changed"),
    ]


@pytest.mark.parametrize(
    "column, old, new, expected",
    [
        ("order_id", "bigint", "integer", ("breaking", "type narrowed from bigint to integer")),
        ("score", "integer", "bigint", ("safe", "type widened from integer to bigint")),
        ("status", "varchar", "integer", ("breaking", "type changed from varchar to integer")),
    ],
)
def test_type_changes(tmp_path, column, old, new, expected):
    def retype(data):
        columns = contract(data)["columns"]
        if isinstance(columns[column], dict):
            columns[column]["type"] = new
        else:
            columns[column] = new
        sql(data, f"SELECT order_id, amount, status, score FROM (SELECT CAST(order_id AS BIGINT) AS order_id, amount, CAST(status AS {'INTEGER' if column == 'status' else 'VARCHAR'}) AS status, score FROM raw.orders)")
        if column != "status":
            sql(data, f"SELECT CAST(order_id AS {new if column == 'order_id' else 'BIGINT'}) AS order_id, amount, status, CAST(score AS {new if column == 'score' else 'INTEGER'}) AS score FROM raw.orders")
        else:
            sql(data, "SELECT order_id, amount, TRY_CAST(status AS INTEGER) AS status, score FROM raw.orders")

    kinds = classify(tmp_path, retype)
    assert (expected[0], f"contract orders.{column}", expected[1]) in kinds
    assert classify.failed is (expected[0] == "breaking")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["score"].__class__ and c.__setitem__("score", {"type": "integer", "constraints": ["not_null"]}), ("breaking", "constraint not_null added")),
        (lambda c: c["score"].__class__ and c.__setitem__("score", {"type": "integer", "constraints": ["unique"]}), ("breaking", "constraint unique added")),
        (lambda c: c["order_id"].__setitem__("constraints", []), ("safe", "constraint not_null removed")),
        (lambda c: c["status"].__setitem__("constraints", [{"accepted_values": ["open"]}]), ("breaking", "accepted values narrowed: closed no longer accepted")),
        (lambda c: c["status"].__setitem__("constraints", [{"accepted_values": ["open", "closed", "void"]}]), ("safe", "accepted values widened: void now accepted")),
        (lambda c: c["amount"].__setitem__("constraints", [{"range": [0, 500]}]), ("breaking", "range narrowed from [0, 1000] to [0, 500]")),
        (lambda c: c["amount"].__setitem__("constraints", [{"range": [None, 5000]}]), ("safe", "range widened from [0, 1000] to [None, 5000]")),
        (lambda c: c["amount"].__setitem__("constraints", [{"range": [0, 1000]}, {"check": "amount <> 13"}]), ("breaking", "check added: amount <> 13")),
    ],
)
def test_constraint_changes(tmp_path, edit, expected):
    kinds = classify(tmp_path, lambda d: edit(contract(d)["columns"]))
    assert len(kinds) == 1 and (kinds[0][0], kinds[0][2]) == expected
    assert classify.failed is (expected[0] == "breaking")


def test_model_removed_while_read_is_breaking(tmp_path):
    def remove(data):
        data["models"] = [m for m in data["models"] if m["name"] != "staging.orders"]
        data["models"] = [m for m in data["models"] if m["name"] != "marts.revenue"]

    kinds = classify(tmp_path, remove)
    assert ("breaking", "model staging.orders", "model staging.orders removed while marts.revenue, consumer finance_dashboard read(s) it") in kinds
    assert ("breaking", "model marts.revenue", "model marts.revenue removed") not in kinds


def test_model_removed_that_nothing_reads_is_safe(tmp_path):
    kinds = classify(tmp_path, lambda d: d["models"].pop())
    assert kinds == [("safe", "model marts.unused", "model marts.unused removed")]
    assert not classify.failed


def test_model_renamed_while_read_is_breaking(tmp_path):
    def rename(data):
        data["models"][0]["name"] = "staging.order_facts"
        data["models"][1]["sql"] = "SELECT SUM(amount) AS revenue FROM staging.order_facts"

    kinds = classify(tmp_path, rename)
    assert (
        "breaking",
        "model staging.orders",
        "model staging.orders renamed to staging.order_facts while marts.revenue, consumer finance_dashboard read(s) it",
    ) in kinds
    assert classify.failed


def test_model_moved_to_the_other_engine_while_read(tmp_path):
    kinds = classify(tmp_path, lambda d: d["models"][0].__setitem__("engine", "dbt"))
    assert kinds == [
        ("breaking", "model staging.orders", "moved from sqlmesh to dbt while marts.revenue, consumer finance_dashboard read(s) it")
    ]
    assert classify.failed


def test_grain_changed(tmp_path):
    kinds = classify(tmp_path, lambda d: d["models"][0].__setitem__("grain", ["order_id", "status"]))
    assert kinds == [("breaking", "model staging.orders", "grain changed from (order_id) to (order_id, status)")]


def test_environment_and_gateway_removed(tmp_path):
    def remove(data):
        del data["environments"]["qa"]
        del data["gateways"]["spare"]

    assert classify(tmp_path, remove) == [  # in spec order: gateways come before environments
        ("breaking", "gateway spare", "gateway spare removed"),
        ("breaking", "environment qa", "environment qa removed"),
    ]


def test_safe_changes(tmp_path):
    def edit(data):
        contract(data)["columns"]["channel"] = "varchar"
        sql(data, "SELECT order_id, amount, status, score, 'web' AS channel FROM raw.orders")
        data["models"][1]["description"] = "Revenue."
        data["models"][1]["tags"] = ["finance"]
        data["models"].append({"name": "marts.new_one", "sql": "SELECT 1 AS x"})

    kinds = classify(tmp_path, edit)
    assert ("safe", "contract orders.channel", "column channel added") in kinds
    assert ("safe", "model marts.revenue", "description changed") in kinds
    assert ("safe", "model marts.revenue", "tags changed") in kinds
    assert ("safe", "model marts.new_one", "model added") in kinds
    assert all(kind == "safe" for kind, _, _ in kinds)
    assert not classify.failed


def test_type_change_rules():
    assert change_safety.type_change("decimal(18,2)", "decimal(20,2)") == "widened"
    assert change_safety.type_change("decimal(18,2)", "decimal(18,4)") == "narrowed"
    assert change_safety.type_change("varchar(10)", "varchar") == "widened"
    assert change_safety.type_change("varchar(10)", "varchar(5)") == "narrowed"
    assert change_safety.type_change("integer", "double") == "widened"
    assert change_safety.type_change("double", "integer") == "changed"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def test_diff_against_a_git_ref_reports_the_spec_line(tmp_path):
    repo = tmp_path / "repo"
    spec_path = write_spec(repo / "platform", base_spec())
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "spec")
    data = base_spec()
    drop_score(data)
    write_spec(repo / "platform", data)
    text = spec_path.read_text()
    line = text.splitlines().index("  orders:") + 1
    result = run_cli("diff", spec_path, "--base", "HEAD", "--format", "github")
    assert result.exit_code == 1, result.output
    annotation = result.stdout.splitlines()[0]
    assert annotation.startswith(f"::error file=platform/meshgen.yaml,line={line},col=3,title=meshgen%3A breaking change without a major version bump::")
    assert "column score dropped" in annotation
    plain = run_cli("diff", spec_path, "--base", "HEAD")
    assert f"meshgen.yaml:{line}:3: BREAKING (needs a major version bump of contract orders): contract orders.score: column score dropped" in plain.stdout
    as_json = json.loads(run_cli("diff", spec_path, "--base", "HEAD", "--format", "json").stdout)
    assert as_json["changes"][0]["kind"] == "breaking"


def test_diff_with_a_bad_ref_is_a_user_error(tmp_path):
    repo = tmp_path / "repo"
    spec_path = write_spec(repo, base_spec())
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "spec")
    result = run_cli("diff", spec_path, "--base", "no-such-branch")
    assert result.exit_code == 1 and "cannot read the spec at git ref 'no-such-branch'" in result.stderr


def test_impact_lists_the_downstream_closure(tmp_path):
    spec = write_spec(tmp_path, base_spec())
    result = run_cli("impact", "staging.orders", "--spec", spec)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "staging.orders (sqlmesh, stage 1)",
        "  contract orders consumers: finance_dashboard",
        "  -> marts.revenue (dbt, stage 2, batch 1)",
        "1 downstream model(s) on dbt",
    ]
    report = json.loads(run_cli("impact", "staging.orders", "--spec", spec, "--format", "json").stdout)
    assert report["downstream"][0]["engine"] == "dbt"
