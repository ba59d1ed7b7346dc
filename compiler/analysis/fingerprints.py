"""What each model computes, as numbers the execution model compares: lookbacks and fingerprints."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Mapping

from .. import schedule
from ..ir import Spec


def lookbacks(spec: Spec, order: list[str], upstreams: Mapping[str, set[str]]) -> dict[str, int]:
    """Each model's effective lookback in its own intervals (0 for kinds without intervals).

    A late row an upstream loads again within its lookback changes that upstream's
    old intervals; a time-range model reading it must look back as far, or the row
    never reaches it. Models of other kinds pass the reach on to what reads them.
    """
    reach: dict[str, timedelta] = {}
    result: dict[str, int] = {}
    for name in order:
        model = spec.model(name)
        inherited = max((reach[u] for u in upstreams[name] if u in reach), default=timedelta(0))
        if model.kind == "incremental_by_time_range":
            unit = model.interval_unit
            result[name] = max(model.lookback, schedule.intervals_in(inherited, unit))
            reach[name] = max(inherited, result[name] * schedule.UNITS[unit])
        else:
            result[name] = 0
            reach[name] = inherited
    return result


def fingerprints(
    spec: Spec, order: list[str], upstreams: Mapping[str, set[str]], engine_of: Mapping[str, str], lookback: Mapping[str, int]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each model's fingerprint, and the digest of the other engine's fingerprints it depends on."""
    found = {s.name: _digest(["source", [(c.name, c.type) for c in s.columns]]) for s in spec.sources}
    foreign: dict[str, str] = {}
    for name in order:
        ups = sorted(upstreams[name])
        found[name] = _digest([_definition(spec, name, lookback[name]), [found[u] for u in ups]])
        crossing = [
            found[u] if engine_of[u] != engine_of[name] else foreign[u]
            for u in ups
            if u in engine_of and (engine_of[u] != engine_of[name] or foreign[u])
        ]
        foreign[name] = _digest(crossing) if crossing else ""
    return {name: found[name] for name in order}, foreign


def _definition(spec: Spec, name: str, lookback: int) -> list:
    model = spec.model(name)
    return [
        model.language,
        model.kind,
        model.sql.text if model.sql else "",
        model.entrypoint,
        model.python_digest,
        [list(row) for row in model.seed.rows] if model.seed else [],
        model.time_column,
        list(model.unique_key),
        model.updated_at,
        model.start,
        lookback,
        [(c.name, c.type) for c in model.contract.columns] if model.contract else [],
    ]


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()[:16]
