"""Deterministic raw data for example.yaml, and the results the example's models must produce.

`python specs/demo_data.py [SPEC] [--env ENV]` loads the raw tables into the
warehouse of the spec's environment (dev by default), DuckDB or PostgreSQL, so
`meshgen deploy specs/example.yaml --env dev` has data to work on. The
integration tests seed the same rows, run the real engines, and compare table
contents with what the functions here compute in plain Python.
"""

from __future__ import annotations

import os
import random
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

MCC_CODES = ["5411", "5541", "5812", "5999", "6011", "4111", "7995"]  # 7995 (betting) is not in the seed


def generate(seed: int = 42, label: str = "prod", customers_count: int = 40) -> dict[str, list[dict]]:
    """Rows for every raw source; `label` and `customers_count` let two environments hold different data."""
    rng = random.Random(seed)
    customers = []
    for customer_id in range(1, customers_count + 1):
        customers.append(
            {
                "customer_id": customer_id,
                "first_name": f" {label.title()}{customer_id} ",
                "last_name": "Doe",
                "email": f"C{customer_id}@Example.com",
                "date_of_birth": date(1960 + customer_id % 40, 1 + customer_id % 12, 1 + customer_id % 28),
                "segment": rng.choice(["Retail", "premier", "PRIVATE", None]),
                "country_code": rng.choice(["de", "FR", "nl"]),
                "signup_date": date(2020, 1, 1) + timedelta(days=customer_id * 11),
                "is_active": rng.choice([True, True, False, None]),
                "updated_at": datetime(2024, 1, 1) + timedelta(hours=customer_id),
            }
        )
    accounts = []
    for account_id in range(1, 2 * customers_count + 1):
        customer_id = 1 + (account_id - 1) % customers_count
        closed = rng.random() < 0.1
        accounts.append(
            {
                "account_id": account_id,
                "customer_id": customer_id,
                "product_type": rng.choice(["checking", "Savings", "credit_card", "mortgage", "premier_checking"]),
                "opened_date": date(2021, 1, 1) + timedelta(days=account_id * 5),
                "closed_date": date(2024, 2, 1) if closed else None,
                "balance": Decimal(rng.randint(-50000, 2000000)) / 100,
                "credit_limit": Decimal(rng.choice([0, 100000, 500000])) / 100,
                "status": "closed" if closed else rng.choice(["open", "open", "OPEN", "frozen"]),
                "currency": "EUR",
            }
        )
    merchants = [
        {
            "merchant_id": merchant_id,
            "merchant_name": f"Merchant {merchant_id}",
            "mcc_code": MCC_CODES[merchant_id % len(MCC_CODES)],
            "country_code": "DE",
            "is_high_risk": merchant_id in (3, 7) or None if merchant_id % 5 == 0 else merchant_id in (3, 7),
        }
        for merchant_id in range(1, 16)
    ]
    transactions = []
    start = datetime(2024, 1, 1)
    for transaction_id in range(1, 601):
        when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 90))
        if transaction_id % 97 == 0:
            when = transactions[-1]["transaction_time"] + timedelta(minutes=5)  # bursts for the velocity rule
        transactions.append(
            {
                "transaction_id": transaction_id,
                "account_id": rng.randint(1, 2 * customers_count + 5),  # a few accounts do not exist
                "merchant_id": rng.randint(1, 15),
                "amount": Decimal(rng.choice([rng.randint(100, 20000), rng.randint(100000, 900000)])) / 100,
                "currency": rng.choice(["eur", "EUR"]),
                "channel": rng.choice(["card", "online", "ATM", "branch"]),
                "transaction_time": when,
                "status": rng.choice(["settled", "settled", "SETTLED", "pending", "declined"]),
            }
        )
    transactions.extend(_scenarios(len(transactions)))
    tickets = [
        {
            "ticket_id": ticket_id,
            "customer_id": 1 + ticket_id % customers_count,
            "opened_at": datetime(2024, 2, 1) + timedelta(hours=ticket_id * 7),
            "closed_at": datetime(2024, 2, 1) + timedelta(hours=ticket_id * 7 + 3) if ticket_id % 3 else None,
            "channel": rng.choice(["phone", "Chat", "email"]),
            "category": rng.choice(["card", "loan", "app"]),
            "priority": rng.choice(["low", "High"]),
            "satisfaction_score": rng.choice([1, 2, 3, 4, 5, None]),
            "updated_at": datetime(2024, 3, 1) + timedelta(hours=ticket_id),
        }
        for ticket_id in range(1, 61)
    ]
    return {
        "raw.customers": customers,
        "raw.accounts": accounts,
        "raw.transactions": transactions,
        "raw.merchants": merchants,
        "raw.support_tickets": tickets,
    }


def _scenarios(last_id: int) -> list[dict]:
    """Rows that must trigger the anomaly and large-cash models (ids after the random ones)."""
    base = {"currency": "EUR", "status": "settled", "merchant_id": 1}
    rows = [
        {**base, "account_id": 1, "amount": Decimal("10.00"), "channel": "card", "transaction_time": datetime(2024, 1, 2 + day, 9)}
        for day in range(12)
    ]
    rows.append({**base, "account_id": 1, "amount": Decimal("9000.00"), "channel": "card", "transaction_time": datetime(2024, 1, 20, 9)})
    rows.append({**base, "account_id": 2, "amount": Decimal("6000.00"), "channel": "branch", "transaction_time": datetime(2024, 2, 5, 10)})
    rows.append({**base, "account_id": 2, "amount": Decimal("5000.00"), "channel": "ATM", "transaction_time": datetime(2024, 2, 5, 15)})
    return [{"transaction_id": last_id + i + 1, **row} for i, row in enumerate(rows)]


OUTLIER_TRANSACTION_ID = 613  # the 9000.00 card payment of customer 1, after 12 payments of 10.00
# The day after the generated history: `next_day` adds it.
NEXT_DAY = date(2024, 4, 1)
LATE_TRANSACTION_ID = 10_000  # a payment of the day before NEXT_DAY that arrives with it


def next_day(data: dict[str, list[dict]], day: date = NEXT_DAY, seed: int = 1) -> dict[str, list[dict]]:
    """The raw tables one day later: a day of new payments, one late payment of the day before,
    a customer who changed segment and a support ticket that was closed."""
    rng = random.Random(seed)
    accounts = [a["account_id"] for a in data["raw.accounts"]]
    start = datetime.combine(day, datetime.min.time())
    last_id = max(t["transaction_id"] for t in data["raw.transactions"])
    new = [
        {
            "transaction_id": last_id + i,
            "account_id": rng.choice(accounts),
            "merchant_id": rng.randint(1, 15),
            "amount": Decimal(rng.randint(100, 20000)) / 100,
            "currency": "EUR",
            "channel": rng.choice(["card", "online", "ATM", "branch"]),
            "transaction_time": start + timedelta(minutes=rng.randint(0, 24 * 60 - 1)),
            "status": rng.choice(["settled", "settled", "pending"]),
        }
        for i in range(1, 21)
    ]
    late = {
        "transaction_id": LATE_TRANSACTION_ID,
        "account_id": accounts[0],
        "merchant_id": 2,
        "amount": Decimal("77.70"),
        "currency": "EUR",
        "channel": "card",
        "transaction_time": start - timedelta(hours=14),
        "status": "settled",
    }
    customers = [dict(c) for c in data["raw.customers"]]
    customers[1] = {**customers[1], "segment": "PRIVATE", "updated_at": start + timedelta(hours=9)}
    tickets = [dict(t) for t in data["raw.support_tickets"]]
    open_ticket = next(i for i, t in enumerate(tickets) if t["closed_at"] is None)
    tickets[open_ticket] = {**tickets[open_ticket], "closed_at": start + timedelta(hours=8), "updated_at": start + timedelta(hours=8)}
    return {
        **data,
        "raw.customers": customers,
        "raw.transactions": data["raw.transactions"] + new + [late],
        "raw.support_tickets": tickets,
    }


def seed(connection, spec, data: dict[str, list[dict]], schema_suffix: str = "") -> None:
    """DuckDB: create the raw tables with the spec's source column types and insert the rows."""
    for source in spec.sources:
        schema = source.schema + schema_suffix
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        connection.execute(f"CREATE OR REPLACE TABLE {schema}.{source.table} ({_columns(spec, source, 'duckdb')})")
        rows = _rows(source, data)
        if rows:
            placeholders = ", ".join("?" for _ in source.columns)
            connection.executemany(f"INSERT INTO {schema}.{source.table} VALUES ({placeholders})", rows)


def seed_postgres(connection, spec, data: dict[str, list[dict]], schema_suffix: str = "") -> None:
    """PostgreSQL (a psycopg2 connection): the same tables and rows, all in one transaction.

    A table that exists is emptied and filled again rather than replaced: PostgreSQL cannot drop
    it while the models' views read it.
    """
    from psycopg2.extras import execute_values

    with connection, connection.cursor() as cursor:
        for source in spec.sources:
            schema = source.schema + schema_suffix
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{source.table} ({_columns(spec, source, 'postgres')})")
            cursor.execute(f"TRUNCATE {schema}.{source.table}")
            rows = _rows(source, data)
            if rows:
                execute_values(cursor, f"INSERT INTO {schema}.{source.table} VALUES %s", rows)


def _columns(spec, source, warehouse_type: str) -> str:
    """The source's columns, their types as the warehouse spells them (meshgen's own translation)."""
    from meshgen.semantics.types import warehouse_type as spelled_for

    return ", ".join(f"{c.name} {spelled_for(c.type, spec.project.dialect, warehouse_type)}" for c in source.columns)


def _rows(source, data: dict[str, list[dict]]) -> list[tuple]:
    return [tuple(row.get(c.name) for c in source.columns) for row in data[source.name]]


# -- expected results, computed in Python from the raw rows -------------------


def settled_transactions(data) -> list[dict]:
    accounts = {a["account_id"]: a for a in data["raw.accounts"]}
    merchants = {m["merchant_id"]: m for m in data["raw.merchants"]}
    rows = []
    for t in data["raw.transactions"]:
        if t["status"].lower() != "settled" or t["account_id"] not in accounts:
            continue
        merchant = merchants.get(t["merchant_id"])
        rows.append(
            {
                **t,
                "customer_id": accounts[t["account_id"]]["customer_id"],
                "merchant_is_high_risk": bool(merchant and merchant["is_high_risk"]),
                "channel": t["channel"].lower(),
            }
        )
    return rows


def expected_fraud_alerts(data) -> dict[int, tuple[str, int]]:
    """transaction_id -> (alert_reason, risk_score), as risk.fraud_alerts computes them."""
    transactions = settled_transactions(data)
    by_customer = defaultdict(list)
    for t in transactions:
        by_customer[t["customer_id"]].append(t["transaction_time"])
    alerts = {}
    for t in transactions:
        window_start = t["transaction_time"] - timedelta(hours=1)
        last_hour = sum(1 for when in by_customer[t["customer_id"]] if window_start <= when <= t["transaction_time"])
        risky, fast, large = t["merchant_is_high_risk"], last_hour >= 5, t["amount"] >= 5000
        if not (risky or fast or large):
            continue
        reason = "high_risk_merchant" if risky else "velocity" if fast else "large_amount"
        alerts[t["transaction_id"]] = (reason, min(100, 50 * risky + 30 * fast + 40 * large))
    return alerts


def expected_large_cash(data) -> dict[tuple[int, date], Decimal]:
    """(customer_id, activity_date) -> cash_total, as compliance.large_cash_movements computes it."""
    totals: dict[tuple[int, date], Decimal] = defaultdict(Decimal)
    for t in settled_transactions(data):
        if t["channel"] in ("atm", "branch"):
            totals[(t["customer_id"], t["transaction_time"].date())] += abs(t["amount"])
    return {key: total for key, total in totals.items() if total >= 10000}


# -- the command line ------------------------------------------------------------


class Refusal(Exception):
    """A request the command line cannot carry out, said in one line (exit 2)."""


class LoadFailed(Exception):
    """The spec has errors, or the warehouse refused the connection or the rows (exit 1)."""


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Load the example's raw tables into the warehouse of one of the spec's environments.")
    parser.add_argument("spec", nargs="?", default=str(Path(__file__).with_name("example.yaml")))
    parser.add_argument("--env", "--environment", dest="env", default="dev", help="the environment whose gateway is loaded (default: dev)")
    args = parser.parse_args(argv)
    try:
        spec, where = load(Path(args.spec), args.env)
    except (Refusal, LoadFailed) as error:
        print(f"demo_data: {error}", file=sys.stderr)
        return 2 if isinstance(error, Refusal) else 1
    print(f"loaded {', '.join(s.name for s in spec.sources)} into {where}")
    return 0


def load(spec_path: Path, env: str):
    """Load `generate()`'s rows into the warehouse of environment `env`: the spec, and where they went."""
    try:
        from meshgen.build.pipeline import load as load_spec
        from meshgen.errors import MeshgenError
    except ImportError:
        raise Refusal("meshgen is not installed: pip install meshgen-compiler") from None
    try:
        spec = load_spec(spec_path, str(spec_path))  # what `meshgen validate` accepts, source types included
    except MeshgenError as error:
        raise LoadFailed(error.render()) from None  # meshgen's own file:line:col errors
    gateway = _gateway(spec, env)
    data = generate()
    unknown = [s.name for s in spec.sources if s.name not in data]
    if unknown:
        raise Refusal(f"no demo data for {', '.join(unknown)}: it has rows for the example's sources ({', '.join(data)})")
    return spec, LOADERS[gateway.type](spec, _resolved(gateway, env), spec_path.parent, data)


def _gateway(spec, env: str):
    environment = next((e for e in spec.environments if e.name == env), None)
    if environment is None:
        known = ", ".join(e.name for e in spec.environments)
        raise Refusal(f"the spec has no environment {env!r} (it has {known})")
    gateway = spec.gateway(environment.gateway)
    if gateway.type not in LOADERS:
        raise Refusal(
            f"environment {env!r} runs on gateway {gateway.name!r} of type {gateway.type}; "
            f"demo data loads into {' or '.join(LOADERS)} only"
        )
    return gateway


def _resolved(gateway, env: str):
    """The gateway with its `{env: NAME}` settings read from the environment, as the tools read them."""
    from meshgen.ir import EnvRef

    missing = [v.name for _, v in gateway.settings if isinstance(v, EnvRef) and v.name not in os.environ]
    if missing:
        names, verb, pronoun = ("variables", "are", "them") if len(missing) > 1 else ("variable", "is", "it")
        raise Refusal(
            f"environment {names} {', '.join(missing)} {verb} not set "
            f"(gateway {gateway.name!r} of environment {env!r} reads {pronoun})"
        )
    settings = tuple((key, os.environ[v.name] if isinstance(v, EnvRef) else v) for key, v in gateway.settings)
    return replace(gateway, settings=settings)


def _load_duckdb(spec, gateway, spec_folder: Path, data) -> str:
    try:
        import duckdb
    except ImportError:
        raise Refusal("loading into DuckDB needs the duckdb module: pip install duckdb") from None
    from meshgen.warehouses import database_file

    database = spec_folder / database_file(gateway)
    try:
        with duckdb.connect(str(database)) as connection:
            seed(connection, spec, data)
    except duckdb.Error as error:
        raise LoadFailed(f"could not load {database}: {_one_line(error)}") from None
    return str(database)


def _load_postgres(spec, gateway, spec_folder: Path, data) -> str:
    try:
        import psycopg2
    except ImportError:
        raise Refusal("loading into PostgreSQL needs psycopg2: pip install psycopg2-binary") from None
    from meshgen.warehouses import warehouse

    postgres = warehouse("postgres")
    # dbt's profile keys for PostgreSQL are libpq's own connection keywords; a wrong host fails fast.
    keywords = {**postgres.profile_defaults, "connect_timeout": 10}
    keywords.update((postgres.profile_keys[key], value) for key, value in gateway.settings if key in postgres.profile_keys)
    where = f"PostgreSQL database {keywords.get('dbname', '')} on {keywords.get('host', '')}:{keywords['port']}"
    try:
        connection = psycopg2.connect(**keywords)
        try:
            seed_postgres(connection, spec, data)
        finally:
            connection.close()
    except psycopg2.Error as error:
        raise LoadFailed(f"could not load the {where}: {_one_line(error)}") from None
    return where


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


LOADERS = {"duckdb": _load_duckdb, "postgres": _load_postgres}  # gateway type -> loader


if __name__ == "__main__":
    sys.exit(main())
