"""What the synthetic platform is made of: its domains, the columns models share, the benchmark's edit."""

from __future__ import annotations

DOMAINS = {
    "sales": ["orders", "order_items", "quotes", "returns", "discounts"],
    "finance": ["invoices", "payments", "refunds", "ledger_entries", "payouts"],
    "marketing": ["campaigns", "clicks", "impressions", "leads", "signups"],
    "support": ["tickets", "chats", "surveys", "calls", "escalations"],
    "logistics": ["shipments", "deliveries", "stock_moves", "pickups", "parcels"],
    "product": ["page_views", "sessions", "feature_events", "subscriptions", "trials"],
}
SQLMESH_DOMAINS = ["finance", "logistics"]  # audited domains: their intermediate models run on SQLMesh

# Columns every staging and intermediate model outputs (and Python models promise).
INTERFACE = [
    ("record_id", "bigint"),
    ("customer_id", "integer"),
    ("event_date", "date"),
    ("event_time", "timestamp"),
    ("category", "varchar"),
    ("status", "varchar"),
    ("amount", "decimal(18,2)"),
    ("quantity", "integer"),
]
FOREIGN_KEYS = ["store_id", "product_id", "account_id", "campaign_id"]
# Optional source column -> (type in the source, staging expression, output type)
EXTRAS = {
    "currency": ("varchar", "UPPER(TRIM(currency))", "varchar"),
    "country_code": ("varchar", "UPPER(country_code)", "varchar"),
    "discount": ("decimal(18,2)", "COALESCE(discount, 0)", "decimal(18,2)"),
    "score": ("double", "score", "double"),
    "priority": ("varchar", "LOWER(COALESCE(priority, 'normal'))", "varchar"),
    "region": ("varchar", "LOWER(TRIM(region))", "varchar"),
}
TEAMS = ["data-platform", "analytics-eng", "finance-analytics", "growth", "ops-analytics"]

# The one-model edit the benchmark runner applies: `edit_target(spec)` names the model,
# whose SQL contains EDIT_FROM exactly once.
EDIT_FROM, EDIT_TO = "record_count >= 1", "record_count >= 2"
DEFAULT_SEED = 7
