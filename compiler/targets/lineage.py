"""The cross-engine lineage graph as data for the Mermaid and DOT templates."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Spec

ENGINE_COLOURS = {
    "sqlmesh": {"fill": "#e8f0fe", "stroke": "#1a73e8", "text": "#0b3d91"},
    "dbt": {"fill": "#fde8e1", "stroke": "#ff694a", "text": "#7a2a17"},
    "source": {"fill": "#f1f3f4", "stroke": "#9aa0a6", "text": "#3c4043"},
}


@dataclass(frozen=True)
class Node:
    name: str
    id: str
    group: str  # engine name, or "source"
    label: str


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str
    cross_engine: bool
    label: str


@dataclass(frozen=True)
class Cluster:
    title: str
    id: str
    nodes: tuple[Node, ...]


def node_id(name: str) -> str:
    return name.replace(".", "__")


def lineage(spec: Spec) -> tuple[list[Cluster], list[Edge]]:
    """Nodes grouped by layer (sources first), and every edge with cross-engine ones marked."""
    analysis = spec.analysis
    read_sources = [s.name for s in spec.sources if s.name in analysis.downstreams]
    clusters = []
    if read_sources:
        nodes = tuple(Node(n, node_id(n), "source", n) for n in read_sources)
        clusters.append(Cluster("sources", "sources", nodes))
    layers = list(spec.project.layers) + [""]
    for layer in layers:
        members = [spec.model(n) for n in analysis.order if spec.model(n).layer == layer]
        if not members:
            continue
        nodes = tuple(Node(m.name, node_id(m.name), analysis.engine(m.name), f"{m.name} · {m.kind}") for m in members)
        title = layer or ("models" if not spec.project.layers else "no layer")
        clusters.append(Cluster(title, f"layer_{layer or 'none'}", nodes))
    edges = []
    for name in analysis.order:
        engine = analysis.engine(name)
        for upstream in analysis.models[name].upstreams:
            if upstream in analysis.models and analysis.engine(upstream) != engine:
                edges.append(Edge(node_id(upstream), node_id(name), True, f"{analysis.engine(upstream)} → {engine}"))
            else:
                edges.append(Edge(node_id(upstream), node_id(name), False, ""))
    return clusters, edges


def render_graph(spec: Spec, fmt: str) -> str:
    from .render import render

    clusters, edges = lineage(spec)
    template = {"mermaid": "docs/lineage.mmd.j2", "dot": "docs/lineage.dot.j2"}[fmt]
    return render(template, project=spec.project, clusters=clusters, edges=edges, colours=ENGINE_COLOURS)
