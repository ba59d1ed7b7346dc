"""What a change to a model reaches: its downstream closure across both engines, stages and consumers."""

from __future__ import annotations

from ..ir import Spec


def downstream_closure(spec: Spec, roots: list[str]) -> list[str]:
    """Every model reading the roots, directly or not, in topological order."""
    analysis = spec.analysis
    seen: set[str] = set()
    frontier = list(roots)
    while frontier:
        name = frontier.pop()
        for child in analysis.downstreams.get(name, ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return [m for m in analysis.order if m in seen and m not in roots]



def impact(spec: Spec, name: str) -> dict:
    """A model's downstream closure across both engines, with stages and contract consumers."""
    spec.require_model(name)
    analysis = spec.analysis
    rows = []
    for model_name in [name] + downstream_closure(spec, [name]):
        model = spec.model(model_name)
        stage, batch = analysis.stage_of(model_name)
        rows.append(
            {
                "model": model_name,
                "engine": analysis.engine(model_name),
                "stage": stage.index,
                "batch": batch,
                "contract": model.contract.name if model.contract else "",
                "consumers": list(model.contract.consumers) if model.contract else [],
            }
        )
    return {"model": name, "downstream": rows[1:], "self": rows[0]}
