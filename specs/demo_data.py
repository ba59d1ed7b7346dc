"""Deterministic raw data for example.yaml, and the results the example's models must produce.

`python specs/demo_data.py` loads the raw tables into the DuckDB file of the
spec's dev environment, so `meshgen run specs/example.yaml --env dev` has
data to work on. The integration tests seed the same rows, run the real
engines, and compare table contents with what the functions here compute in
plain Python.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

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
    """Create the raw tables with the spec's source column types and insert the rows."""
    for source in spec.sources:
        schema = source.schema + schema_suffix
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        columns = ", ".join(f"{c.name} {c.type}" for c in source.columns)
        connection.execute(f"CREATE OR REPLACE TABLE {schema}.{source.table} ({columns})")
        rows = data[source.name]
        if rows:
            names = [c.name for c in source.columns]
            placeholders = ", ".join("?" for _ in names)
            connection.executemany(
                f"INSERT INTO {schema}.{source.table} VALUES ({placeholders})",
                [[row.get(n) for n in names] for row in rows],
            )


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


def main() -> None:
    import argparse
    from pathlib import Path

    import duckdb

    from meshgen.build.pipeline import load

    parser = argparse.ArgumentParser(description="Load the example's raw tables into its dev DuckDB file.")
    parser.add_argument("spec", nargs="?", default=str(Path(__file__).with_name("example.yaml")))
    parser.add_argument("--environment", default="dev")
    args = parser.parse_args()
    spec_path = Path(args.spec)
    spec = load(spec_path)
    environment = next(e for e in spec.environments if e.name == args.environment)
    database = spec_path.parent / str(spec.gateway(environment.gateway).get("path", "warehouse.duckdb"))
    with duckdb.connect(str(database)) as connection:
        seed(connection, spec, generate())
    print(f"loaded {', '.join(s.name for s in spec.sources)} into {database}")


if __name__ == "__main__":
    main()
