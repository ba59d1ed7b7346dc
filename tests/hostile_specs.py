"""Hostile specs: broken YAML, types, paths, secrets, SQL and text, each with the outcome it must have.

Each case is a spec (a dict dumped to YAML, or raw text when the YAML itself is
the attack), the files beside it, the secrets that must never be echoed, and
what must happen: `reject` (exit 1, every error at file:line:col with a hint) or
`build` (every output parses in its own language and loads in SQLMesh and dbt).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

SECRET = "s3cr3t-Hunter2"


@dataclass
class Case:
    id: str
    expect: str  # "reject" or "build"
    spec: dict | None = None
    text: str | bytes | None = None  # the spec file as written, when the YAML is the attack
    files: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    words: str = ""  # a rejection's message must contain these
    setup: Callable[[Path], None] | None = None  # links, folders, pipes made beside the spec

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(content, encoding="utf-8")
        if self.setup:
            self.setup(folder)
        path = folder / "meshgen.yaml"
        if self.text is not None:
            path.write_bytes(self.text if isinstance(self.text, bytes) else self.text.encode("utf-8"))
        else:
            path.write_text(yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=False, width=10_000), encoding="utf-8")
        return path


def base() -> dict:
    """A small spec on both engines: a source, a staging model on SQLMesh, a mart with a contract on dbt."""
    return {
        "meshgen": 1,
        "project": {"name": "shop", "layers": ["staging", "marts"]},
        "sources": [
            {"name": "raw.orders", "columns": {"order_id": "integer", "customer_id": "integer", "amount": "double", "ordered_at": "timestamp"}},
            {"name": "raw.customers", "columns": {"customer_id": "integer", "name": "varchar"}},
        ],
        "contracts": {"revenue": {"version": "1.0.0", "columns": {"customer_id": {"type": "integer", "constraints": ["not_null"]}, "revenue": "double"}}},
        "engines": {"rules": [{"name": "staging-on-sqlmesh", "when": {"layer": "staging"}, "engine": "sqlmesh"}]},
        "models": [
            {"name": "staging.orders", "layer": "staging", "sql": "SELECT order_id, customer_id, amount FROM raw.orders"},
            {
                "name": "marts.revenue",
                "layer": "marts",
                "contract": "revenue",
                "sql": "SELECT customer_id, SUM(amount) AS revenue FROM staging.orders GROUP BY customer_id",
            },
        ],
    }


def spec(change: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(base())
    change(data)
    return data


def model_sql(sql: str) -> dict:
    """The base spec with one more staging model of this SQL."""
    return spec(lambda d: d["models"].append({"name": "staging.hostile", "layer": "staging", "sql": sql}))


def text_everywhere(value: str) -> dict:
    """The value as every free text a spec has: descriptions, owners, column texts, tags stay plain."""

    def change(d: dict) -> None:
        d["project"]["description"] = value
        d["project"]["owner"] = value
        d["sources"][0]["description"] = value
        d["sources"][0]["owner"] = value
        d["contracts"]["revenue"]["columns"]["revenue"] = {"type": "double", "description": value}
        d["contracts"]["revenue"]["description"] = value
        for model in d["models"]:
            model["description"] = value
            model["owner"] = value

    return spec(change)


def gateway(settings: dict) -> dict:
    def change(d: dict) -> None:
        d["gateways"] = {"local": {"type": "duckdb", "path": "warehouse.duckdb"}, "warehouse": settings}
        d["environments"] = {"dev": {"gateway": "local"}, "prod": {"gateway": "warehouse"}}

    return spec(change)


HOSTILE_TEXTS = {
    "quotes": "it's \"quoted\" and 'single' and `back`",
    "backslashes": "C:\\path\\to\\n\\x00 not escapes \\",
    "jinja_expression": "{{ ref('other') }} and {{ var('x') }}",
    "jinja_block": "{% if true %}x{% endif %} {# comment #}",
    "jinja_halves": "{ { {{ }} }} %} {%",
    "yaml_specials": "yes: no, null ~ - [a] {b} & * ! | > % @ `",
    "yaml_document": "--- \n... \n# not a comment",
    "sql_injection": "'; DROP TABLE raw.orders; --",
    "python_triple": "\"\"\" ''' \\\"\"\" end",
    "python_fstring": "{__import__('os').system('x')} %s %(x)s",
    "markdown": "# heading\n| a | b |\n<script>alert(1)</script> **bold** [link](x)",
    "newlines": "line one\nline two\n\nline four\n",
    "crlf": "windows\r\nline\r\n",
    "lone_cr": "a\rb\rc",
    "tab": "a\tb\t",
    "nul": "before\x00after",
    "del": "rub\x7fout",
    "escape_sequences": "\x1b[31mred\x1b[0m \x1b]0;title\x07",
    "c1_controls": "nel\x85csi\x9b",
    "line_separators": "ls\u2028ps\u2029",
    "bom": "\ufeffbom",
    "rtl_override": "abc\u202edef\u202c",
    "zero_width": "zero\u200bwidth\u200d",
    "emoji": "revenue \U0001f4b8 per \U0001f9d1\u200d\U0001f4bb",
    "cjk": "売上 per 顧客",
    "long": "x" * 20_000,
    "long_words": " ".join(["word"] * 3000),
    "only_spaces": "   ",
    "percent_braces": "%(name)s {0} {name} ${HOME} $(id)",
    "html_entities": "&amp; &lt; &#0; &#x7f;",
    "mermaid_breakers": "]] --> x[\"y\"] ; classDef",
    "dot_breakers": "\"; } digraph { a -> b",
    "surrogate_escape_text": "\\ud800 not a surrogate",
    "mixed_all": "'\"`{{%}}\\\n\r\t\x00\x7f\x1b\u2028<>|#",
}


def _text_cases() -> list[Case]:
    return [Case(f"text_{name}", "build", text_everywhere(value)) for name, value in HOSTILE_TEXTS.items()]


def _build_cases() -> list[Case]:
    """Unusual but valid specs: they must build into projects both engines load."""
    return [
        Case("sql_comments_and_strings", "build", model_sql("SELECT order_id, '{{ not jinja }}' AS t, '@not_macro' AS m -- {{ comment }}\nFROM raw.orders")),
        Case("sql_string_with_quotes", "build", model_sql("SELECT order_id, 'it''s' AS q, '\\n' AS bs FROM raw.orders")),
        Case("sql_unicode_literal", "build", model_sql("SELECT order_id, '売上 \U0001f4b8' AS label FROM raw.orders")),
        Case("sql_in_list_long", "build", model_sql("SELECT order_id FROM raw.orders WHERE order_id IN (" + ", ".join(map(str, range(2000))) + ")")),
        Case("sql_cte_chain", "build", model_sql("WITH " + ", ".join(f"c{i} AS (SELECT order_id FROM {'raw.orders' if i == 0 else f'c{i-1}'})" for i in range(30)) + " SELECT order_id FROM c29")),
        Case("sql_window", "build", model_sql("SELECT order_id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS rn FROM raw.orders")),
        Case("sql_join_qualified", "build", model_sql("SELECT o.order_id, c.name FROM raw.orders o JOIN raw.customers c ON o.customer_id = c.customer_id")),
        Case("sql_trailing_semicolon_whitespace", "build", model_sql("SELECT order_id FROM raw.orders\n\n   ")),
        Case("sql_nested_ok", "build", model_sql("SELECT " + "(" * 40 + "order_id" + ")" * 40 + " AS o FROM raw.orders")),
        Case("sql_bool_terms_ok", "build", model_sql("SELECT order_id FROM raw.orders WHERE " + " OR ".join(f"order_id = {i}" for i in range(200)))),
        Case("crlf_spec", "build", text=yaml.safe_dump(base(), sort_keys=False).replace("\n", "\r\n")),
        Case("bom_spec", "build", text="\ufeff" + yaml.safe_dump(base(), sort_keys=False)),
        Case("anchors_reused", "build", text=_anchored_spec()),
        Case("tags_many", "build", spec(lambda d: d["models"][0].update(tags=[f"t{i}" for i in range(50)]))),
        Case("decimal_types", "build", spec(lambda d: d["sources"][0]["columns"].update(big="decimal(38,10)", label="varchar(10)", at="timestamp with time zone"))),
        Case("keyfile_from_env", "build", gateway({"type": "bigquery", "project": "p", "method": "service-account", "keyfile": {"env": "GCP_KEYFILE"}})),
        Case("password_from_env_url_host", "build", gateway({"type": "postgres", "host": "db.internal", "user": "analytics", "password": {"env": "PG_PASSWORD"}, "database": "a"})),
        Case("duckdb_path_in_subfolder", "build", spec(lambda d: d.update(gateways={"local": {"type": "duckdb", "path": "data/w.duckdb"}}))),
        Case("output_folders_renamed", "build", spec(lambda d: d.update(output={"sqlmesh": "engines/sm", "dbt": "engines/dbt project"}))),
        Case("long_model_names", "build", spec(lambda d: d["models"].append({"name": "staging." + "a" * 60, "layer": "staging", "sql": "SELECT 1 AS id"}))),
    ]


def _anchored_spec() -> str:
    return (
        "meshgen: 1\n"
        "project: {name: shop, layers: [staging, marts]}\n"
        "sources:\n"
        "  - name: raw.orders\n"
        "    columns: &cols {order_id: integer, customer_id: integer, amount: double}\n"
        "  - name: raw.customers\n"
        "    columns: {customer_id: integer, name: varchar}\n"
        "models:\n"
        "  - &m {name: staging.orders, layer: staging, sql: SELECT order_id FROM raw.orders}\n"
        "  - {<<: *m, name: staging.orders2}\n"
    )


def _bomb(levels: int, width: int) -> str:
    lines = ["meshgen: 1", "project: {name: shop}", "x0: &a0 [lol]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\nmodels:\n  - {name: staging.a, sql: SELECT 1 AS id}\n"


def _yaml_cases() -> list[Case]:
    good = yaml.safe_dump(base(), sort_keys=False)
    return [
        Case("yaml_alias_bomb_9x9", "reject", text=_bomb(9, 9), words="YAML aliases expand"),
        Case("yaml_alias_bomb_30x2", "reject", text=_bomb(30, 2), words="YAML aliases expand"),
        Case("yaml_alias_bomb_4x100", "reject", text=_bomb(4, 100), words="YAML aliases expand"),
        Case("yaml_deep_flow", "reject", text="meshgen: 1\nproject: {name: shop}\nx: " + "[" * 3000 + "]" * 3000 + "\n"),
        Case("yaml_deep_block", "reject", text="meshgen: 1\nproject: {name: shop}\nx:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 80)) + " " * 80 + "v\n", words="nests more than"),
        Case("yaml_recursive_anchor", "reject", text="meshgen: 1\nproject: &p {name: shop, x: *p}\n"),
        Case("yaml_nul_byte", "reject", text=good.replace("shop", "sh\x00op", 1), words="does not allow"),
        Case("yaml_del_byte", "reject", text=good.replace("shop", "sh\x7fop", 1), words="does not allow"),
        Case("yaml_escape_byte", "reject", text=good.replace("shop", "sh\x1bop", 1), words="does not allow"),
        Case("yaml_not_utf8", "reject", text=good.encode("utf-8").replace(b"shop", b"sh\xffop", 1), words="not valid UTF-8"),
        Case("yaml_utf16", "reject", text=good.encode("utf-16")),
        Case("yaml_tab_indent", "reject", text="meshgen: 1\nproject:\n\tname: shop\n", words="tab"),
        Case("yaml_unclosed_flow", "reject", text="meshgen: 1\nproject: {name: shop\nmodels: []\n"),
        Case("yaml_unclosed_quote", "reject", text='meshgen: 1\nproject: {name: "shop}\n'),
        Case("yaml_custom_tag", "reject", text="meshgen: 1\nproject: !!python/object:os.system {name: shop}\n"),
        Case("yaml_local_tag", "reject", text="meshgen: 1\nproject: !evil {name: shop}\n"),
        Case("yaml_duplicate_key", "reject", text=good.replace("meshgen: 1\n", "meshgen: 1\nmeshgen: 1\n", 1), words="duplicate key"),
        Case("yaml_list_root", "reject", text="- meshgen\n- 1\n"),
        Case("yaml_scalar_root", "reject", text="just text\n"),
        Case("yaml_empty", "reject", text=""),
        Case("yaml_only_comments", "reject", text="# nothing\n# here\n"),
        Case("yaml_two_documents", "reject", text=good + "---\n" + good),
        Case("yaml_complex_key", "reject", text="meshgen: 1\n? [a, b]\n: c\nproject: {name: shop}\n"),
        Case("yaml_huge_string_value", "reject", text="meshgen: 1\nproject: {name: '" + "x" * 100_000 + "'}\n"),
        Case("yaml_number_as_name", "reject", text=good.replace("name: shop", "name: 12345", 1)),
        Case("yaml_null_project", "reject", text="meshgen: 1\nproject:\nmodels: []\n"),
        Case("yaml_date_as_version", "reject", text=good.replace("version: 1.0.0", "version: 2024-01-01", 1)),
        Case("yaml_float_version", "build", text=good.replace("meshgen: 1", "meshgen: 1.0", 1)),  # 1.0 is the number 1
        Case("yaml_merge_of_scalar", "reject", text="meshgen: 1\nproject: {<<: 5, name: shop}\n"),
        Case("yaml_string_models", "reject", text="meshgen: 1\nproject: {name: shop}\nmodels: SELECT 1\n"),
    ]


def _type_cases() -> list[Case]:
    cases = []
    for typo in ("integr", "varchr", "timestmp", "decimal(", "decimal(18,2", "int int", "42", "", "array<", "struct(a", "'; drop"):
        cases.append(Case(f"type_source_{len(cases)}", "reject", spec(lambda d, t=typo: d["sources"][0]["columns"].update(bad=t))))
    for typo in ("integr", "doubel", "decimal(18,2", "text text"):
        cases.append(Case(f"type_contract_{len(cases)}", "reject", spec(lambda d, t=typo: d["contracts"]["revenue"]["columns"].update(revenue=t))))
    cases += [
        Case("type_dialect_typo", "reject", spec(lambda d: d["project"].update(dialect="duckdbb")), words="unknown SQL dialect"),
        Case("type_dialect_unknown", "reject", spec(lambda d: d["project"].update(dialect="cobol")), words="unknown SQL dialect"),
        Case("type_count_vs_integer", "reject", spec(_count_integer), words="dbt's enforced contract"),
        Case("type_family_mismatch", "reject", spec(lambda d: d["contracts"]["revenue"]["columns"].update(revenue="date")), words="in the contract"),
        Case("type_port_too_big", "reject", gateway({"type": "postgres", "host": "h", "port": 70000, "user": "u", "password": {"env": "P"}, "database": "d"}), words="not a TCP port"),
        Case("type_port_zero", "reject", gateway({"type": "postgres", "host": "h", "port": 0, "user": "u", "password": {"env": "P"}, "database": "d"})),
        Case("type_port_string", "reject", gateway({"type": "postgres", "host": "h", "port": "5432", "user": "u", "password": {"env": "P"}, "database": "d"}), words="must be an integer"),
        Case("type_port_negative", "reject", gateway({"type": "postgres", "host": "h", "port": -1, "user": "u", "password": {"env": "P"}, "database": "d"})),
        Case("type_impossible_date", "reject", spec(lambda d: d["project"].update(start="2024-13-45")), words="not a calendar date"),
        Case("type_feb_30", "reject", spec(lambda d: d["project"].update(start="2023-02-30"))),
        Case("type_cron_words", "reject", spec(lambda d: d["models"][0].update(cron="every tuesday")), words="not a cron expression"),
        Case("type_cron_range", "reject", spec(lambda d: d["models"][0].update(cron="61 * * * *"))),
        Case("type_layer_rule_typo", "reject", spec(lambda d: d["engines"]["rules"][0]["when"].update(layer="stagin")), words="unknown layer"),
        Case("type_unknown_kind", "reject", spec(lambda d: d["models"][0].update(kind="fulll"))),
        Case("type_unknown_engine", "reject", spec(lambda d: d["models"][0].update(engine="spark"))),
        Case("type_uppercase_name", "reject", spec(lambda d: d["models"][0].update(name="Staging.Orders"))),
        Case("type_three_part_name", "reject", spec(lambda d: d["models"][0].update(name="a.b.c"))),
        Case("type_duplicate_model", "reject", spec(lambda d: d["models"].append(dict(d["models"][0])))),
        Case("type_bad_semver", "reject", spec(lambda d: d["contracts"]["revenue"].update(version="one"))),
        Case("type_negative_threads", "reject", spec(lambda d: d.update(environments={"dev": {"dbt": {"threads": -3}}}))),
        Case("type_unknown_top_key", "reject", spec(lambda d: d.update(modles=[])), words="unknown key"),
        Case("type_bool_as_string", "reject", spec(lambda d: d.update(output={"orchestration": {"airflow": "yes"}}))),
    ]
    return cases


def _count_integer(d: dict) -> None:
    d["contracts"]["counts"] = {"version": "1.0.0", "columns": {"customer_id": "integer", "n": "integer"}}
    d["models"].append({"name": "marts.counts", "layer": "marts", "contract": "counts", "sql": "SELECT customer_id, COUNT(*) AS n FROM staging.orders GROUP BY customer_id"})


def _link_out(name: str, target: str = "/tmp") -> Callable[[Path], None]:
    return lambda folder: os.symlink(target, folder / name)


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda folder: os.mkfifo(folder / name)


def _path_cases() -> list[Case]:
    with_sql_file = lambda path: spec(lambda d: d["models"].append({"name": "staging.from_file", "layer": "staging", "sql_file": path}))  # noqa: E731
    return [
        Case("path_sql_file_dotdot", "reject", with_sql_file("../outside.sql"), words="outside the spec's folder"),
        Case("path_sql_file_absolute", "reject", with_sql_file("/etc/hostname"), words="outside the spec's folder"),
        Case("path_sql_file_link_out", "reject", with_sql_file("out/hosts"), setup=_link_out("out", "/etc"), words="outside the spec's folder"),
        Case("path_sql_file_folder", "reject", with_sql_file("sql"), files={"sql/x.sql": "SELECT 1 AS id"}, words="not a regular file"),
        Case("path_sql_file_fifo", "reject", with_sql_file("pipe.sql"), setup=_fifo("pipe.sql"), words="not a regular file"),
        Case("path_sql_file_missing", "reject", with_sql_file("sql/nope.sql"), words="does not exist"),
        Case("path_seed_outside", "reject", spec(lambda d: d["models"].append({"name": "staging.codes", "layer": "staging", "kind": "seed", "seed_file": "../codes.csv"}))),
        Case("path_duckdb_dotdot", "reject", spec(lambda d: d.update(gateways={"local": {"type": "duckdb", "path": "../w.duckdb"}})), words="outside"),
        Case("path_duckdb_absolute", "reject", spec(lambda d: d.update(gateways={"local": {"type": "duckdb", "path": "/tmp/w.duckdb"}})), words="outside"),
        Case("path_duckdb_link_out", "reject", spec(lambda d: d.update(gateways={"local": {"type": "duckdb", "path": "out/w.duckdb"}})), setup=_link_out("out"), words="outside"),
        Case("path_duckdb_in_meshgen", "reject", spec(lambda d: d.update(gateways={"local": {"type": "duckdb", "path": ".meshgen/w.duckdb"}})), words=".meshgen"),
        Case("path_output_dotdot", "reject", spec(lambda d: d.update(output={"dbt": "../elsewhere"}))),
        Case("path_output_absolute", "reject", spec(lambda d: d.update(output={"dbt": "/tmp/elsewhere"}))),
        Case("path_output_link_out", "reject", spec(lambda d: d.update(output={"dbt": "outlink"})), setup=_link_out("outlink"), words="outside"),
        Case("path_output_git_hooks", "reject", spec(lambda d: d.update(output={"dbt": ".git/hooks"})), words=".git"),
        Case("path_output_meshgen", "reject", spec(lambda d: d.update(output={"sqlmesh": ".meshgen"})), words=".meshgen"),
        Case("path_output_ci_in_git", "reject", spec(lambda d: d.update(output={"ci": {"dir": ".git"}})), words=".git"),
        Case("path_output_overlap", "reject", spec(lambda d: d.update(output={"sqlmesh": "t", "dbt": "t/dbt"})), words="overlap"),
        Case("path_output_backslash", "reject", spec(lambda d: d.update(output={"dbt": "a\\..\\..\\b"}))),
        Case("path_python_link_out", "reject", _python_model("pipelines.churn:predict"), setup=_python_link_out, words="outside"),
        Case("path_python_syntax_error", "reject", _python_model("pipelines.churn:predict"), files={"pipelines/churn.py": "def predict(:\n"}, words="does not compile"),
        Case("path_python_no_function", "reject", _python_model("pipelines.churn:predict"), files={"pipelines/churn.py": "def other(inputs):\n    return None\n"}, words="defines no function"),
        Case("path_python_missing_module", "reject", _python_model("pipelines.nothing:predict"), words="not found"),
        Case("path_python_nul_in_code", "reject", _python_model("pipelines.churn:predict"), files={"pipelines/churn.py": "def predict(inputs):\n    return '\x00'\n"}),
        Case("path_seed_malformed", "reject", _seed("codes.csv"), files={"codes.csv": "code,label\n1,a,extra\n\"unclosed\n"}),
        Case("path_seed_empty", "reject", _seed("codes.csv"), files={"codes.csv": ""}),
        Case("path_seed_null_word", "reject", _seed("codes.csv"), files={"codes.csv": "code,label\n1,null\n"}),
    ]


def _python_model(entrypoint: str) -> dict:
    def change(d: dict) -> None:
        d["contracts"]["scores"] = {"version": "1.0.0", "columns": {"customer_id": "integer", "score": "double"}}
        d["models"].append({"name": "marts.scores", "layer": "marts", "engine": "sqlmesh", "contract": "scores", "python": {"entrypoint": entrypoint}, "depends_on": ["staging.orders"]})

    return spec(change)


def _python_link_out(folder: Path) -> None:
    outside = folder.parent / (folder.name + "_outside")
    outside.mkdir(exist_ok=True)
    (outside / "churn.py").write_text("def predict(inputs):\n    return None\n")
    os.symlink(outside, folder / "pipelines")


def _seed(name: str) -> dict:
    return spec(lambda d: d["models"].append({"name": "staging.codes", "layer": "staging", "kind": "seed", "seed_file": name}))


def _secret_cases() -> list[Case]:
    pg = {"type": "postgres", "host": "db", "user": "u", "password": {"env": "P"}, "database": "d"}
    cases = [
        Case("secret_literal_password", "reject", gateway({**pg, "password": SECRET}), secrets=(SECRET,), words="literal secret"),
        Case("secret_url_host", "reject", gateway({**pg, "host": f"postgres://admin:{SECRET}@db.internal:5432/a"}), secrets=(SECRET,), words="inside a URL"),
        Case("secret_url_host_no_user", "reject", gateway({**pg, "host": f"postgresql://:{SECRET}@db"}), secrets=(SECRET,)),
        Case("secret_user_colon", "reject", gateway({**pg, "user": f"admin:{SECRET}"}), secrets=(SECRET,), words="after the user name"),
        Case("secret_private_key_user", "reject", gateway({**pg, "user": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----"}), secrets=(SECRET,)),
        Case("secret_keyfile_literal_path", "reject", gateway({"type": "bigquery", "project": "p", "method": "service-account", "keyfile": "/home/me/key.json"}), secrets=("/home/me/key.json",)),
        Case("secret_keyfile_literal_key", "reject", gateway({"type": "bigquery", "project": "p", "method": "service-account", "keyfile": f'{{"private_key": "{SECRET}"}}'}), secrets=(SECRET,)),
        Case("secret_snowflake_key_path", "reject", gateway({"type": "snowflake", "account": "a", "user": "u", "private_key_path": f"/keys/{SECRET}.p8", "database": "d", "warehouse": "w"}), secrets=(SECRET,)),
        Case("secret_snowflake_passphrase", "reject", gateway({"type": "snowflake", "account": "a", "user": "u", "private_key_path": {"env": "K"}, "private_key_passphrase": SECRET, "database": "d", "warehouse": "w"}), secrets=(SECRET,)),
        Case("secret_password_number", "reject", gateway({**pg, "password": 12345678}), secrets=("12345678",)),
        Case("secret_password_list", "reject", gateway({**pg, "password": [SECRET]}), secrets=(SECRET,)),
        Case("secret_env_wrong_shape", "reject", gateway({**pg, "password": {"env": "P", "default": SECRET}}), secrets=(SECRET,)),
    ]
    return cases


def _sql_cases() -> list[Case]:
    ors = lambda n: "SELECT order_id FROM raw.orders WHERE " + " OR ".join(f"order_id = {i}" for i in range(n))  # noqa: E731
    return [
        Case("sql_nested_3000", "reject", model_sql("SELECT " + "(" * 3000 + "1" + ")" * 3000 + " AS x"), words="nests parentheses"),
        Case("sql_nested_150", "reject", model_sql("SELECT " + "(" * 150 + "1" + ")" * 150 + " AS x"), words="nests parentheses"),
        Case("sql_or_20000", "reject", model_sql(ors(20_000)), words="characters long"),
        Case("sql_or_3000", "reject", model_sql(ors(3000)), words="AND/OR terms"),
        Case("sql_huge_literal", "reject", model_sql("SELECT '" + "x" * 150_000 + "' AS x"), words="characters long"),
        Case("sql_nested_subqueries", "reject", model_sql("SELECT * FROM " + "(SELECT * FROM " * 200 + "raw.orders" + ") AS t" * 200), words="nests parentheses"),
        Case("sql_jinja_ref", "reject", model_sql("SELECT order_id FROM {{ ref('orders') }}"), words="dbt Jinja"),
        Case("sql_jinja_block", "reject", model_sql("SELECT order_id FROM raw.orders {% if is_incremental() %} WHERE 1 = 1 {% endif %}"), words="dbt Jinja"),
        Case("sql_macro_end_date", "reject", model_sql("SELECT order_id FROM raw.orders WHERE ordered_at < @end_date"), words="SQLMesh macro"),
        Case("sql_macro_start_ds", "reject", model_sql("SELECT order_id FROM raw.orders WHERE ordered_at >= @start_ds"), words="SQLMesh macro"),
        Case("sql_macro_braced", "reject", model_sql("SELECT order_id FROM raw.orders_@{env}"), words="SQLMesh macro"),
        Case("sql_unknown_column", "reject", model_sql("SELECT order_idd FROM raw.orders"), words="has a column 'order_idd'"),
        Case("sql_ambiguous_column", "reject", model_sql("SELECT customer_id FROM raw.orders o JOIN raw.customers c ON o.customer_id = c.customer_id"), words="ambiguous"),
        Case("sql_duplicate_output", "reject", model_sql("SELECT order_id, order_id FROM raw.orders"), words="appears 2 times"),
        Case("sql_unnamed_output", "reject", model_sql("SELECT order_id + 1 FROM raw.orders"), words="has no name"),
        Case("sql_two_statements", "reject", model_sql("SELECT 1 AS a; SELECT 2 AS b"), words="single SELECT"),
        Case("sql_ddl", "reject", model_sql("DROP TABLE raw.orders"), words="single SELECT"),
        Case("sql_insert", "reject", model_sql("INSERT INTO raw.orders VALUES (1, 2, 3.0, NULL)")),
        Case("sql_syntax_error", "reject", model_sql("SELEC order_id FROM raw.orders")),
        Case("sql_unclosed_string", "reject", model_sql("SELECT 'open AS x FROM raw.orders")),
        Case("sql_unknown_table", "reject", model_sql("SELECT order_id FROM raw.order"), words="unknown table"),
        Case("sql_reads_higher_layer", "reject", model_sql("SELECT customer_id FROM marts.revenue")),
        Case("sql_empty", "reject", model_sql("   ")),
        Case("sql_only_comment", "reject", model_sql("-- nothing")),
        Case("sql_cycle", "reject", spec(lambda d: d["models"].extend([
            {"name": "staging.a", "layer": "staging", "sql": "SELECT order_id FROM staging.b"},
            {"name": "staging.b", "layer": "staging", "sql": "SELECT order_id FROM staging.a"}])), words="->"),
        Case("sql_check_subquery", "reject", spec(lambda d: d["contracts"]["revenue"]["columns"].update(revenue={"type": "double", "constraints": [{"check": "revenue < (SELECT MAX(amount) FROM raw.orders)"}]})), words="cross-table"),
        Case("sql_check_not_condition", "reject", spec(lambda d: d["contracts"]["revenue"]["columns"].update(revenue={"type": "double", "constraints": [{"check": "DROP TABLE x"}]}))),
        Case("sql_check_huge", "reject", spec(lambda d: d["contracts"]["revenue"]["columns"].update(revenue={"type": "double", "constraints": [{"check": " OR ".join(["revenue > 0"] * 1000)}]}))),
        Case("sql_contract_missing_column", "reject", spec(lambda d: d["contracts"]["revenue"]["columns"].update(extra="integer")), words="missing column"),
    ]


def cases() -> list[Case]:
    every = _text_cases() + _build_cases() + _yaml_cases() + _type_cases() + _path_cases() + _secret_cases() + _sql_cases()
    ids = [c.id for c in every]
    assert len(ids) == len(set(ids)), "case ids are unique"
    return every
