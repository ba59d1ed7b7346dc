"""Churn scoring for ml.churn_scores (a meshgen Python model).

meshgen imports this module from the spec file's directory and calls
``predict(inputs)`` from the generated SQLMesh (or dbt) Python model:

* ``inputs.table("core.customer_360")`` returns the upstream as a pandas
  DataFrame (it must be listed in the model's ``depends_on``);
* ``inputs.start`` / ``inputs.end`` / ``inputs.execution_time`` are datetimes.

The function must return exactly the columns of the ``churn_scores`` contract:
customer_id, churn_probability, churn_risk, scored_at.

The score is a deliberately simple, deterministic logistic formula: no
randomness, no wall-clock time, no ML libraries, so the same inputs always give
the same output on either engine.
"""

from __future__ import annotations

import math

import pandas as pd

COLUMNS = ["customer_id", "churn_probability", "churn_risk", "scored_at"]

# Weights of the logistic score (log-odds per unit).
INTERCEPT = -2.0
W_INACTIVE_DAYS = 0.04    # per day since the last transaction
W_OPEN_TICKETS = 0.6      # per unresolved support ticket
W_OPEN_ACCOUNTS = -0.5    # per open product (more products, stickier customer)
W_SATISFACTION = -0.4     # per point of average satisfaction above 3 (of 5)
W_TENURE_YEARS = -0.3     # per year as a customer
NEVER_TRANSACTED_DAYS = 180


def _number(value, default: float) -> float:
    """NULL-safe conversion of a pandas cell (None/NaN/NA -> default)."""
    if value is None or pd.isna(value):
        return default
    return float(value)


def _score(row) -> float:
    inactive_days = _number(row["days_since_last_transaction"], NEVER_TRANSACTED_DAYS)
    log_odds = (
        INTERCEPT
        + W_INACTIVE_DAYS * inactive_days
        + W_OPEN_TICKETS * _number(row["open_tickets"], 0)
        + W_OPEN_ACCOUNTS * _number(row["open_accounts"], 0)
        + W_SATISFACTION * (_number(row["avg_satisfaction"], 3.0) - 3.0)
        + W_TENURE_YEARS * _number(row["tenure_days"], 0) / 365.0
    )
    return round(1.0 / (1.0 + math.exp(-log_odds)), 4)


def _band(probability: float) -> str:
    if probability >= 0.6:
        return "high"
    if probability >= 0.3:
        return "medium"
    return "low"


def predict(inputs) -> pd.DataFrame:
    customers = inputs.table("core.customer_360")
    scored_at = pd.Timestamp(inputs.execution_time).tz_localize(None)
    if customers.empty:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="int32"),
                "churn_probability": pd.Series(dtype="float64"),
                "churn_risk": pd.Series(dtype="object"),
                "scored_at": pd.Series(dtype="datetime64[ns]"),
            }
        )[COLUMNS]

    customers = customers.sort_values("customer_id").reset_index(drop=True)
    probability = customers.apply(_score, axis=1).astype("float64")
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype("int32"),
            "churn_probability": probability,
            "churn_risk": probability.map(_band),
            "scored_at": scored_at,
        }
    )[COLUMNS]
