"""What the example's cross-engine models must hold, computed in plain Python from the raw rows.

Independent of meshgen and of both engines: each function restates one model's
SQL (specs/example.yaml) over the rows `demo_data` generates. Churn scores use
the model's own scoring function (specs/pipelines/churn.py), on inputs computed
here.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SPECS = Path(__file__).resolve().parent.parent / "specs"
CENT = Decimal("0.01")


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _seed(name: str) -> list[dict]:
    with open(SPECS / "seeds" / name, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def stg_transactions(data: dict, until: datetime) -> list[dict]:
    """Settled transactions of known accounts before `until`, with customer and merchant category."""
    accounts = {a["account_id"]: a for a in data["raw.accounts"]}
    merchants = {m["merchant_id"]: m for m in data["raw.merchants"]}
    categories = {row["mcc_code"]: row["category"] for row in _seed("merchant_categories.csv")}
    rows = []
    for t in data["raw.transactions"]:
        if t["status"].lower() != "settled" or t["account_id"] not in accounts or t["transaction_time"] >= until:
            continue
        merchant = merchants.get(t["merchant_id"])
        rows.append(
            {
                "transaction_id": t["transaction_id"],
                "customer_id": accounts[t["account_id"]]["customer_id"],
                "merchant_category": categories.get(merchant["mcc_code"], "other") if merchant else "other",
                "amount": _money(t["amount"]),
                "transaction_date": t["transaction_time"].date(),
            }
        )
    return rows


def daily_customer_spend(data: dict, until: datetime) -> dict[tuple, tuple[int, Decimal]]:
    """(spend_date, customer_id, merchant_category) -> (transaction_count, total_amount), complete days only."""
    totals: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for t in stg_transactions(data, until):
        if t["transaction_date"] < until.date():
            key = (t["transaction_date"], t["customer_id"], t["merchant_category"])
            totals[key][0] += 1
            totals[key][1] += t["amount"]
    return {key: (count, amount) for key, (count, amount) in totals.items()}


def _accounts(data: dict) -> list[dict]:
    return [
        {
            **a,
            "product_type": a["product_type"].lower(),
            "balance": _money(a["balance"] or 0),
            "is_open": a["status"].lower() == "open" and a["closed_date"] is None,
        }
        for a in data["raw.accounts"]
    ]


def customer_360(data: dict, until: datetime) -> dict[int, dict]:
    transactions = stg_transactions(data, until)
    as_of = max(t["transaction_date"] for t in transactions)
    accounts, spend, tickets = defaultdict(list), defaultdict(list), defaultdict(list)
    for a in _accounts(data):
        accounts[a["customer_id"]].append(a)
    for t in transactions:
        spend[t["customer_id"]].append(t)
    for ticket in data["raw.support_tickets"]:
        tickets[ticket["customer_id"]].append(ticket)
    result = {}
    for c in data["raw.customers"]:
        cid = c["customer_id"]
        open_accounts = [a for a in accounts[cid] if a["is_open"]]
        txns = spend[cid]
        scores = [t["satisfaction_score"] for t in tickets[cid] if t["satisfaction_score"] is not None]
        last = max((t["transaction_date"] for t in txns), default=None)
        result[cid] = {
            "customer_id": cid,
            "full_name": f"{c['first_name'].strip()} {c['last_name'].strip()}",
            "segment": (c["segment"] or "retail").lower(),
            "country_code": c["country_code"].upper(),
            "tenure_days": (as_of - c["signup_date"]).days,
            "open_accounts": len(open_accounts),
            "total_balance": sum((a["balance"] for a in open_accounts), Decimal(0)),
            "transaction_count": len(txns),
            "total_spend": sum((t["amount"] for t in txns), Decimal(0)),
            "days_since_last_transaction": (as_of - last).days if last else None,
            "open_tickets": sum(1 for t in tickets[cid] if t["closed_at"] is None),
            "avg_satisfaction": sum(scores) / len(scores) if scores else None,
        }
    return result


def churn_scores(data: dict, until: datetime) -> dict[int, tuple[float, str]]:
    """customer_id -> (churn_probability, churn_risk), the model's formula over the customer_360 computed here."""
    import sys

    sys.path.insert(0, str(SPECS))
    from pipelines import churn

    return {cid: (churn._score(row), churn._band(churn._score(row))) for cid, row in customer_360(data, until).items()}


def customer_profitability(data: dict, until: datetime) -> dict[int, dict]:
    pricing = {row["product_type"]: (Decimal(row["monthly_fee"]), float(row["net_interest_margin"])) for row in _seed("product_pricing.csv")}
    fees, interest = defaultdict(Decimal), defaultdict(float)
    for a in _accounts(data):
        if a["is_open"] and a["product_type"] in pricing:
            fee, margin = pricing[a["product_type"]]
            fees[a["customer_id"]] += fee
            interest[a["customer_id"]] += float(a["balance"]) * margin / 12
    result = {}
    for cid, c in customer_360(data, until).items():
        fee, net = _money(fees.get(cid, 0)), _money(interest.get(cid, 0.0))
        cost = _money(3 * c["open_accounts"] + 15 * c["open_tickets"])
        profit = fee + net - cost
        band = "loss_making" if profit < 0 else "break_even" if profit < 5 else "profitable"
        result[cid] = {"monthly_fee_revenue": fee, "net_interest_revenue": net, "servicing_cost": cost, "monthly_profit": profit, "profitability_band": band}
    return result


def executive_summary(data: dict, until: datetime) -> dict[str, dict]:
    spend = daily_customer_spend(data, until)
    as_of = max(day for day, _, _ in spend)
    recent = defaultdict(Decimal)
    for (day, cid, _), (_, amount) in spend.items():
        if (as_of - day).days < 30:
            recent[cid] += amount
    profits = customer_profitability(data, until)
    segments: dict[str, dict] = {}
    for cid, c in customer_360(data, until).items():
        row = segments.setdefault(c["segment"], {"customers": 0, "total_balance": Decimal(0), "monthly_profit": Decimal(0), "spend_30d": Decimal(0)})
        row["customers"] += 1
        row["total_balance"] += c["total_balance"]
        row["monthly_profit"] += profits[cid]["monthly_profit"]
        row["spend_30d"] += recent.get(cid, Decimal(0))
    total_profit = sum(r["monthly_profit"] for r in segments.values())
    for row in segments.values():
        row["profit_share_pct"] = round(float(100 * row["monthly_profit"] / total_profit), 1) if total_profit else None
    return segments


def customer_dashboard(data: dict, until: datetime) -> dict[int, str]:
    """customer_id -> recommended_action."""
    scores, profits = churn_scores(data, until), customer_profitability(data, until)
    actions = {}
    for cid in customer_360(data, until):
        risk, band = scores[cid][1], profits[cid]["profitability_band"]
        if risk == "high" and band == "profitable":
            actions[cid] = "retention_call"
        elif risk == "high":
            actions[cid] = "retention_email"
        elif band == "loss_making":
            actions[cid] = "review_pricing"
        else:
            actions[cid] = "no_action"
    return actions


def as_datetime(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
