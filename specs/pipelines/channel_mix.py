"""Daily spend per channel for ml.daily_channel_mix (an incremental meshgen Python model).

Called by meshgen as ``summarise(inputs)`` for the interval being built:
``inputs.start`` (inclusive) and ``inputs.end`` (exclusive) bound it, and
``inputs.table("staging.stg_transactions")`` returns the upstream (listed in
``depends_on``) as a pandas DataFrame. The function summarises the settled
transactions of that interval, one row per day and channel; the engine keeps
the other days as they were (SQLMesh replaces the interval, dbt rebuilds the
whole range the same way).

Deterministic: sorted input, amounts rounded to cents, quantiles over the
sorted amounts, so the same rows give the same output on either engine.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["activity_date", "channel", "transaction_count", "total_amount", "p90_amount"]


def _naive(moment) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def summarise(inputs) -> pd.DataFrame:
    txns = inputs.table("staging.stg_transactions")
    times = pd.to_datetime(txns["transaction_time"])
    txns = txns[(times >= _naive(inputs.start)) & (times < _naive(inputs.end))]
    if txns.empty:
        return pd.DataFrame(
            {
                "activity_date": pd.Series(dtype="object"),
                "channel": pd.Series(dtype="object"),
                "transaction_count": pd.Series(dtype="int32"),
                "total_amount": pd.Series(dtype="float64"),
                "p90_amount": pd.Series(dtype="float64"),
            }
        )[COLUMNS]
    frame = txns.sort_values("transaction_id")[["transaction_time", "channel", "amount"]].copy()
    frame["activity_date"] = pd.to_datetime(frame["transaction_time"]).dt.date
    frame["amount"] = frame["amount"].astype("float64")
    grouped = frame.groupby(["activity_date", "channel"], sort=True)["amount"]
    out = pd.DataFrame(
        {
            "transaction_count": grouped.count().astype("int32"),
            "total_amount": grouped.sum().round(2),
            "p90_amount": grouped.quantile(0.9).round(2),
        }
    ).reset_index()
    return out[COLUMNS]
