"""`meshgen explain MODEL`: why a model runs where it runs, and what it touches."""

from __future__ import annotations

from ..analysis import sql as sqlmod
from ..ir import Spec
from ..semantics import portability


def explain(spec: Spec, name: str) -> str:
    model = spec.require_model(name)
    analysis = spec.analysis
    info = analysis.models[name]
    lines = [f"model {name}  ({model.location})"]
    facts = [f"language {model.language}", f"kind {model.kind}"]
    facts += [f"{key} {value}" for key, value in (("layer", model.layer), ("domain", model.domain), ("owner", model.owner)) if value]
    lines.append("  " + " · ".join(facts))
    if model.description:
        lines.append(f"  {model.description.strip()}")
    stage, batch = analysis.stage_of(name)
    lines += ["", f"engine: {info.engine}  (decided by {info.decision.summary})"]
    for step in info.decision.trail:
        mark = "match   " if step.matched else "no match"
        label = f"{step.kind} {step.name}".strip()
        lines.append(f"  {mark}  {label} -> {step.engine}: {step.reason}")
    lines += [
        "",
        f"stage: {stage.index} of {len(analysis.stages)} ({stage.engine}), batch {batch} of {len(stage.batches)}"
        + f" with {', '.join(m for m in stage.batches[batch - 1] if m != name) or 'no other model'}",
        f"schedule: {model.cron} (intervals of one {model.interval_unit.replace('_', ' ')})" + _time_range(model, info),
    ]
    lines += ["", "upstream:"] + _neighbours(spec, info.upstreams, info.engine)
    lines += ["", "downstream:"] + _neighbours(spec, analysis.downstreams.get(name, ()), info.engine)
    lines += ["", "contract:"] + _contract_lines(model)
    lines += ["", "output columns:"] + _output_lines(info.output)
    lines += _rewrite_lines(spec, model, info)
    return "\n".join(lines) + "\n"


def _rewrite_lines(spec: Spec, model, info) -> list[str]:
    """The calls meshgen rewrites for some warehouse (semantics/portability.py)."""
    found = portability.rewrites(spec, info.calls)
    if not found:
        return []
    lines = ["", "rewritten for a warehouse:"]
    for finding in found:
        where = sqlmod.location_of(model, finding.call.offset)
        lines.append(
            f"  {where}: {finding.describe()}: on {', '.join(finding.environments)} its float arguments are cast to "
            f"{finding.missing.cast}, and the result back to {finding.call.type or 'its type'}"
        )
    return lines


def _time_range(model, info) -> str:
    if model.kind != "incremental_by_time_range":
        return ""
    text = f"; loads {model.time_column} from {model.start}"
    if info.lookback:
        widened = " (widened to reach what its upstreams load again)" if info.lookback > model.lookback else ""
        text += f", looking back {info.lookback} interval(s){widened}"
    return text


def _neighbours(spec: Spec, names, engine: str) -> list[str]:
    analysis = spec.analysis
    if not names:
        return ["  (none)"]
    lines = []
    for other in names:
        if other not in analysis.models:
            lines.append(f"  {other}  (source)")
            continue
        their = analysis.engine(other)
        crossing = "  <- crosses engines" if their != engine else ""
        lines.append(f"  {other}  ({their}){crossing}")
    return lines


def _contract_lines(model) -> list[str]:
    contract = model.contract
    if contract is None:
        return ["  (none)"]
    title = "inline" if contract.inline else contract.name
    lines = [f"  {title}" + (f" v{contract.version}" if contract.version else "")]
    for column in contract.columns:
        constraints = ", ".join(_constraint_text(c) for c in column.constraints)
        lines.append(f"    {column.name}: {column.type}" + (f"  [{constraints}]" if constraints else ""))
    if contract.freshness or contract.availability:
        lines.append(f"    sla: freshness {contract.freshness or '-'}, availability {contract.availability or '-'}")
    if contract.consumers:
        lines.append(f"    consumers: {', '.join(contract.consumers)}")
    return lines


def _constraint_text(constraint) -> str:
    if constraint.kind == "accepted_values":
        return "accepted_values " + "/".join(map(str, constraint.values))
    if constraint.kind == "range":
        return f"range {constraint.low}..{constraint.high}"
    if constraint.kind == "check":
        return f"check {constraint.expression}"
    if constraint.kind == "references":
        return f"references {constraint.references}"
    return constraint.kind


def _output_lines(output) -> list[str]:
    if output is None:
        return ["  (unknown: the SQL selects * from a table whose columns are not declared)"]
    width = max((len(c.name) for c in output), default=0)
    return [f"  {c.name.ljust(width)}  {c.type or '?'}" for c in output]
