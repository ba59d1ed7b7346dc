-- marts.customer_dashboard: one row per customer for the BI dashboards.
-- Joins the dbt-built customer_360 with two SQLMesh-built models
-- (ml.churn_scores, finance.customer_profitability): dbt reads them as sources
-- pointing at SQLMesh's tables for the same environment.
SELECT
  c.customer_id AS customer_id,
  c.full_name AS full_name,
  c.segment AS segment,
  c.country_code AS country_code,
  c.open_accounts AS open_accounts,
  c.total_balance AS total_balance,
  c.total_spend AS total_spend,
  c.days_since_last_transaction AS days_since_last_transaction,
  s.churn_probability AS churn_probability,
  COALESCE(s.churn_risk, 'unknown') AS churn_risk,
  p.monthly_profit AS monthly_profit,
  COALESCE(p.profitability_band, 'unknown') AS profitability_band,
  CASE
    WHEN s.churn_risk = 'high' AND p.profitability_band = 'profitable' THEN 'retention_call'
    WHEN s.churn_risk = 'high' THEN 'retention_email'
    WHEN p.profitability_band = 'loss_making' THEN 'review_pricing'
    ELSE 'no_action'
  END AS recommended_action
FROM core.customer_360 AS c
LEFT JOIN ml.churn_scores AS s
  ON s.customer_id = c.customer_id
LEFT JOIN finance.customer_profitability AS p
  ON p.customer_id = c.customer_id
