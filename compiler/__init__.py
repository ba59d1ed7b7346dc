"""meshgen: one YAML spec compiled into SQLMesh and dbt projects, CI and orchestration."""

__version__ = "0.1.0"
