"""Spend anomaly detection for ml.spend_anomalies (a meshgen Python model).

Called by meshgen as ``detect(inputs)``; ``inputs.table("staging.stg_transactions")``
returns the upstream (listed in ``depends_on``) as a pandas DataFrame.

A transaction is an anomaly when its amount is at least ``Z_THRESHOLD``
standard deviations away from the customer's own mean amount, for customers
with at least ``MIN_HISTORY`` transactions. Pure pandas and deterministic:
the output is sorted and depends only on the input rows.

Returns exactly the columns of the model's inline contract: transaction_id,
customer_id, transaction_time, amount, customer_mean_amount, z_score.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = [
    "transaction_id",
    "customer_id",
    "transaction_time",
    "amount",
    "customer_mean_amount",
    "z_score",
]
Z_THRESHOLD = 3.0
MIN_HISTORY = 10


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": pd.Series(dtype="int64"),
            "customer_id": pd.Series(dtype="int32"),
            "transaction_time": pd.Series(dtype="datetime64[ns]"),
            "amount": pd.Series(dtype="float64"),
            "customer_mean_amount": pd.Series(dtype="float64"),
            "z_score": pd.Series(dtype="float64"),
        }
    )[COLUMNS]


def detect(inputs) -> pd.DataFrame:
    txns = inputs.table("staging.stg_transactions")
    if txns.empty:
        return _empty()

    df = txns[["transaction_id", "customer_id", "transaction_time", "amount"]].copy()
    df = df.dropna(subset=["customer_id", "amount"])
    df["amount"] = df["amount"].astype("float64")

    by_customer = df.groupby("customer_id")["amount"]
    df["history"] = by_customer.transform("count")
    df["customer_mean_amount"] = by_customer.transform("mean")
    std = by_customer.transform(lambda s: s.std(ddof=0))
    df["z_score"] = ((df["amount"] - df["customer_mean_amount"]) / std.where(std > 0)).fillna(0.0)

    flagged = df[(df["history"] >= MIN_HISTORY) & (df["z_score"].abs() >= Z_THRESHOLD)]
    if flagged.empty:
        return _empty()

    out = flagged.sort_values("transaction_id").reset_index(drop=True)
    out["transaction_id"] = out["transaction_id"].astype("int64")
    out["customer_id"] = out["customer_id"].astype("int32")
    out["transaction_time"] = pd.to_datetime(out["transaction_time"])
    out["customer_mean_amount"] = out["customer_mean_amount"].round(2)
    out["z_score"] = out["z_score"].round(3)
    return out[COLUMNS]
