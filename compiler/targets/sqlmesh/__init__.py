"""The SQLMesh project: config, SQL and Python models, external models, unit tests.

Cross-engine wiring (see config.py.j2): SQLMesh gateways are named after the
spec's environments and carry `meshgen_dbt_suffix`, the schema suffix dbt
gives that environment. A SQLMesh model reads a dbt model as
`<schema>@{meshgen_dbt_suffix}.<table>`, so each environment reads the dbt
table of the same environment, and external_models.yaml declares that table
once per environment schema with the contract's (or the inferred) columns.
"""

from __future__ import annotations

import posixpath

from ...build.memo import Memo
from ...ir import Spec
from ..files import GeneratedFile
from ..render import render
from .config import config_file, default_environment, guard_file
from .externals import external_models, tests
from .models import SUFFIX_VARIABLE, inline_seed, python_model, references_audit, sql_model, stamp, uses_references

__all__ = ["SUFFIX_VARIABLE", "default_environment", "emit", "emit_models", "inline_seed", "stamp"]


def emit(spec: Spec, memo: Memo | None = None) -> list[GeneratedFile]:
    memo = memo or Memo()
    analysis = spec.analysis
    models = [spec.model(name) for name in analysis.order if analysis.engine(name) == "sqlmesh"]
    if not models:
        return []
    files = [
        config_file(spec),
        guard_file(spec),
        GeneratedFile(posixpath.join(spec.output.sqlmesh, ".gitignore"), render("sqlmesh/gitignore.j2")),
        external_models(spec, models),
    ]
    files.extend(_model_files(spec, models, memo))
    if uses_references(models):
        files.append(references_audit(spec))
    return files


def emit_models(spec: Spec, names: set[str], memo: Memo | None = None) -> list[GeneratedFile]:
    """The files of these models that their SQL and fingerprints feed: each one's model file and unit tests."""
    analysis = spec.analysis
    models = [spec.model(name) for name in analysis.order if name in names and analysis.engine(name) == "sqlmesh"]
    return _model_files(spec, models, memo or Memo())


def _model_files(spec: Spec, models: list, memo: Memo) -> list[GeneratedFile]:
    files = []
    for model in models:
        files.append(python_model(model, spec) if model.language == "python" else sql_model(model, spec, memo))
        files.extend(tests(model, spec))
    return files
