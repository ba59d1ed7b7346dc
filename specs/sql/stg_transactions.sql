-- staging.stg_transactions: settled transactions, cleaned and enriched with the
-- owning customer and the merchant category (from the merchant_categories seed).
-- Plain engine-neutral DuckDB SQL: meshgen adds each engine's incremental
-- time-range filter on transaction_time, do not add one here.
SELECT
  t.transaction_id AS transaction_id,
  t.account_id AS account_id,
  a.customer_id AS customer_id,
  t.merchant_id AS merchant_id,
  m.merchant_name AS merchant_name,
  COALESCE(mc.category, 'other') AS merchant_category,
  COALESCE(m.is_high_risk, FALSE) AS merchant_is_high_risk,
  CAST(t.amount AS DECIMAL(18, 2)) AS amount,
  UPPER(t.currency) AS currency,
  LOWER(t.channel) AS channel,
  t.transaction_time AS transaction_time,
  CAST(t.transaction_time AS DATE) AS transaction_date
FROM raw.transactions AS t
INNER JOIN raw.accounts AS a
  ON a.account_id = t.account_id
LEFT JOIN raw.merchants AS m
  ON m.merchant_id = t.merchant_id
LEFT JOIN reference.merchant_categories AS mc
  ON CAST(mc.mcc_code AS VARCHAR) = m.mcc_code
WHERE LOWER(t.status) = 'settled'
