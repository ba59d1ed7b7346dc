"""The sqlmesh project emitter (in progress)."""

from __future__ import annotations

from ..generated import GeneratedFile
from ..ir import Spec


def emit(spec: Spec) -> list[GeneratedFile]:
    return []
