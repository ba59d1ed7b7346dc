"""meshgen: one YAML spec compiled into SQLMesh and dbt projects, CI and orchestration."""

__version__ = "0.1.0"
# The distribution's name on package indexes (`meshgen` there is another project); the command stays `meshgen`.
DISTRIBUTION = "meshgen-compiler"
