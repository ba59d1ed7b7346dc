"""Orchestration: the manifest of stages, and Airflow and Dagster files that run it."""

from __future__ import annotations

import json
import posixpath

from ..generated import GeneratedFile
from ..ir import Spec
from ..orchestration import manifest


def emit(spec: Spec) -> list[GeneratedFile]:
    if not spec.analysis.stages:
        return []
    plan = manifest(spec)
    folder = spec.output.orchestration_dir
    return [GeneratedFile(posixpath.join(folder, "manifest.json"), json.dumps(plan, indent=2, sort_keys=False) + "\n")]
