"""CI pipelines: GitHub Actions (default) or GitLab CI, plus the pinned tool requirements."""

from __future__ import annotations

from typing import TYPE_CHECKING

import posixpath
import shlex

from .. import DISTRIBUTION, __version__
from .files import GeneratedFile
from ..ir import EnvRef, Environment, Spec
from .render import render
from ..warehouses import DBT_CORE_VERSION, SQLMESH_VERSION, warehouse

if TYPE_CHECKING:
    from ..build.memo import Memo

PYTHON_VERSION = "3.11"
MAIN_BRANCH = "main"


def requirements_path(spec: Spec) -> str:
    common = posixpath.commonpath([spec.output.sqlmesh, spec.output.dbt])
    return "requirements-meshgen.txt" if common in ("", ".") else posixpath.join(common, "requirements.txt")


def _env_vars(spec: Spec, env: Environment | None) -> list[str]:
    if env is None:
        return []
    return sorted({v.name for _, v in spec.gateway(env.gateway).settings if isinstance(v, EnvRef)})


def ci_environment(spec: Spec) -> Environment:
    """The environment pull requests run in: `ci`, else the first one that is not prod."""
    by_name = {e.name: e for e in spec.environments}
    return by_name.get("ci") or next((e for e in spec.environments if not e.is_prod), spec.environments[0])


def _requirements(spec: Spec) -> GeneratedFile:
    types = sorted({g.type for g in spec.gateways})
    text = render(
        "ci/requirements.txt.j2",
        requirements_path=requirements_path(spec),
        distribution=DISTRIBUTION,
        meshgen_version=__version__,
        sqlmesh_extras=[t for t in types if not warehouse(t).sqlmesh_driver_package],
        sqlmesh_drivers=[warehouse(t).sqlmesh_driver_package for t in types if warehouse(t).sqlmesh_driver_package],
        sqlmesh_version=SQLMESH_VERSION,
        dbt_core_version=DBT_CORE_VERSION,
        # What `meshgen deploy` and `meshgen run` tell a user without the driver to install.
        dbt_adapters=[warehouse(t).driver("dbt").requirement for t in types],
    )
    return GeneratedFile(requirements_path(spec), text)


def _context(spec: Spec) -> dict:
    prod = next((e for e in spec.environments if e.is_prod), None)
    ci_env = ci_environment(spec)
    return {
        "main_branch": MAIN_BRANCH,
        "python_version": PYTHON_VERSION,
        "requirements_path": requirements_path(spec),
        "spec_path": posixpath.normpath(posixpath.join(spec.project.spec_folder, spec.project.spec_file)),
        "sqlmesh_dir": spec.output.sqlmesh,
        "has_sqlmesh": any(s.engine == "sqlmesh" for s in spec.analysis.stages),
        "ci_environment": ci_env.name,
        "pr_environment_expr": f"{ci_env.name}_pr_" + "${{ github.event.pull_request.number }}",
        "ci_env_vars": _env_vars(spec, ci_env),
        "prod_env_vars": _env_vars(spec, prod),
        "prod_environment": prod.name if prod else "",
        "stages": spec.analysis.stages,
        "gh": github_expression,
        "shell": shlex.join,
    }


def github_expression(expression: str) -> str:
    """`${{ ... }}` written from a Jinja template without clashing with Jinja's own braces."""
    return "${{ " + expression + " }}"


def emit(spec: Spec, memo: "Memo | None" = None) -> list[GeneratedFile]:
    """The files; nothing here costs enough to remember (`memo` is unused)."""
    provider = spec.output.ci_provider
    if provider == "none":
        return []
    context = _context(spec)
    if provider == "github":
        workflow = GeneratedFile(posixpath.join(spec.output.ci_dir, "meshgen.yml"), render("ci/github_workflow.yml.j2", **context))
    else:
        workflow = GeneratedFile(posixpath.normpath(posixpath.join(spec.output.ci_dir, ".gitlab-ci.yml")), render("ci/gitlab_ci.yml.j2", **context))
    return [_requirements(spec), workflow]
