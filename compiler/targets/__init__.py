"""The targets: one module (or package) per kind of output, behind one registry.

Each target has `check(spec)`, the problems it would meet, found before
anything is written (`meshgen validate` and `meshgen build` both run every
target's check), and `emit(spec, memo)`, its generated files; the memo holds
what an earlier build computed (see `build/memo.py`), for targets whose steps
are costly. `NAMES` lists the targets in the order their files are written.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from ..errors import Diagnostic
from ..ir import Spec
from .files import GeneratedFile

if TYPE_CHECKING:
    from ..build.memo import Memo

NAMES = ("sqlmesh", "dbt", "contracts", "orchestration", "ci", "docs")


class Target(Protocol):
    def check(self, spec: Spec) -> list[Diagnostic]: ...

    def emit(self, spec: Spec, memo: Memo | None = None) -> list[GeneratedFile]: ...


def target(name: str) -> Target:
    """A target's module, imported when first asked for."""
    return importlib.import_module(f"{__name__}.{name}")


def emit_models(spec: Spec, names: set[str], memo: Memo | None = None) -> list[GeneratedFile]:
    """The files that the SQL and fingerprints of these models feed, from the targets that have such files.

    A target's other files must not depend on a model's SQL text or fingerprint,
    only on what `analysis.reanalyze` keeps unchanged (tests/test_incremental.py
    holds every target to this).
    """
    return [f for name in NAMES for f in getattr(target(name), "emit_models", lambda *_: [])(spec, names, memo)]


def check(spec: Spec) -> list[Diagnostic]:
    return [d for name in NAMES for d in getattr(target(name), "check", lambda _: [])(spec)]
