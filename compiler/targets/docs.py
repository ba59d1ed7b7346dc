"""The lineage page: a Markdown file with a Mermaid diagram GitHub renders in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posixpath import join

from .files import GeneratedFile
from ..ir import Spec
from .lineage import render_graph
from .render import render, visible

if TYPE_CHECKING:
    from ..build.memo import Memo


def _markdown_cell(text: str) -> str:
    return " ".join(visible(text).replace("|", "\\|").split())


def emit(spec: Spec, memo: "Memo | None" = None) -> list[GeneratedFile]:
    """The files; nothing here costs enough to remember (`memo` is unused)."""
    analysis = spec.analysis
    rows = []
    for name in analysis.order:
        model, info = spec.model(name), analysis.models[name]
        rows.append(
            {
                "name": name,
                "engine": info.engine,
                "decided_by": _markdown_cell(info.decision.summary),
                "layer": model.layer,
                "kind": model.kind,
                "reads": ", ".join(f"`{u}`" for u in info.upstreams),
            }
        )
    engines = [info.engine for info in analysis.models.values()]
    text = render(
        "docs/lineage.md.j2",
        project=spec.project,
        models=rows,
        counts={"sqlmesh": engines.count("sqlmesh"), "dbt": engines.count("dbt")},
        cross_edges=len(analysis.cross_engine_edges()),
        mermaid=render_graph(spec, "mermaid"),
    )
    return [GeneratedFile(join(spec.output.docs, "lineage.md"), text)]
