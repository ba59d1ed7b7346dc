"""CI pipelines: GitHub Actions (default) or GitLab CI, plus the pinned tool requirements."""

from __future__ import annotations

from typing import TYPE_CHECKING

import posixpath
import shlex

from .. import DISTRIBUTION, __version__
from ..errors import Diagnostic, Location
from ..execution import ENVIRONMENT_OVERRIDE, UNIT_TEST_GATEWAY
from .files import GeneratedFile
from ..ir import EnvRef, Environment, Spec
from .render import render
from ..warehouses import DBT_CORE_VERSION, SQLMESH_VERSION, database_file, warehouse

if TYPE_CHECKING:
    from ..build.memo import Memo

PYTHON_VERSION = "3.11"
MAIN_BRANCH = "main"
# The actions the workflow uses, pinned by commit (a tag can be moved; a commit cannot),
# with the release each commit is, for the reader and for update tools.
ACTIONS = {
    "checkout": ("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "setup_python": ("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
}


def check(spec: Spec) -> list[Diagnostic]:
    """Layouts the provider would never read: the CI file must land in the repository's top folder.

    Only a build inside a git work tree is a repository's layout; one outside any (a
    preview build) is not refused."""
    if spec.output.ci_provider == "none" or not spec.project.repository_offset:
        return []
    here = spec.section_locations.get("output") or Location(spec.project.spec_file)
    hint = "build from the repository's top folder (`meshgen build path/to/spec.yaml --out .`), or set `output.ci.provider: none`"
    if spec.project.repository_offset != ".":
        return [Diagnostic(here, f"the output root is the folder {spec.project.repository_offset!r} of a git repository, but {_provider_name(spec)} reads its CI file only from the repository's top folder", hint)]
    if spec.project.spec_folder.split("/")[0] == "..":
        return [Diagnostic(here, "the spec is outside the output root, which the CI job checks out as the repository", hint)]
    return []


def _provider_name(spec: Spec) -> str:
    return {"github": "GitHub", "gitlab": "GitLab"}[spec.output.ci_provider]


def meshgen_requirement(spec: Spec) -> str:
    """The requirements.txt line that installs meshgen from where the spec says it lives."""
    source = spec.output.ci_meshgen
    if source.kind == "git":
        return f"{DISTRIBUTION} @ git+{source.location}" + (f"@{source.ref}" if source.ref else "")
    if source.kind == "path":
        # pip reads a relative path from the directory it runs in: CI runs from the repository root.
        return "./" + posixpath.normpath(posixpath.join(spec.project.spec_folder, source.location))
    return f"{DISTRIBUTION}=={source.location or __version__}"


def sample_data_needed(spec: Spec, env: Environment) -> bool:
    """A local DuckDB file starts empty on a fresh runner; a shared warehouse already holds the sources."""
    return spec.output.sample_data is not None and bool(database_file(spec.gateway(env.gateway)))


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


def slim_base(spec: Spec, prod: Environment | None, ci_env: Environment) -> str:
    """What a slim pull request builds on: prod when the CI environment shares its warehouse server
    ("" otherwise: the job deploys the target branch to the CI environment first). A local DuckDB
    file is never shared: the runner's copy starts empty."""
    shared = prod is not None and prod.gateway == ci_env.gateway and not database_file(spec.gateway(ci_env.gateway))
    return prod.name if shared else ""


def _requirements(spec: Spec) -> GeneratedFile:
    types = sorted({g.type for g in spec.gateways})
    text = render(
        "ci/requirements.txt.j2",
        requirements_path=requirements_path(spec),
        meshgen_requirement=meshgen_requirement(spec),
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
    spec_path = posixpath.normpath(posixpath.join(spec.project.spec_folder, spec.project.spec_file))
    # The commands run from the repository's top folder, which is the output root.
    spec_args = [spec_path] if spec.project.spec_folder == "." else [spec_path, "--out", "."]
    return {
        "main_branch": MAIN_BRANCH,
        "python_version": PYTHON_VERSION,
        "requirements_path": requirements_path(spec),
        "spec_path": spec_path,
        "spec_args": shlex.join(spec_args),
        "sqlmesh_dir": spec.output.sqlmesh,
        "unit_test_gateway": UNIT_TEST_GATEWAY,
        "load_sample_data": sample_data_needed(spec, ci_env),
        "defer_to": slim_base(spec, prod, ci_env),
        "environment_override": ENVIRONMENT_OVERRIDE,
        # A pull request's environment outlives the job only on a warehouse server (a runner's
        # DuckDB file goes with the runner): drop it when the pull request is closed.
        "drop_on_close": not database_file(spec.gateway(ci_env.gateway)),
        "actions": {key: f"{repo}@{sha} # {tag}" for key, (repo, sha, tag) in ACTIONS.items()},
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
