"""The model graph: topological order and cycles, deterministic by spec order."""

from __future__ import annotations

import heapq
from typing import Mapping, Sequence


def topological_order(nodes: Sequence[str], upstreams: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm; ties broken by position in `nodes` so the order is stable.

    Only edges between members of `nodes` count (sources are not nodes). Nodes on
    a cycle are left out: call `find_cycles` for those.
    """
    position = {name: i for i, name in enumerate(nodes)}
    waiting = {name: sum(1 for u in set(upstreams.get(name, ())) if u in position) for name in nodes}
    downstream: dict[str, list[str]] = {name: [] for name in nodes}
    for name in nodes:
        for upstream in set(upstreams.get(name, ())):
            if upstream in position:
                downstream[upstream].append(name)
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for child in downstream[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (position[child], child))
    return order


def find_cycles(nodes: Sequence[str], upstreams: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, as a path `a -> b -> ... -> a` in read order.

    A path lists models in the order data flows: each reads the one before it.
    """
    members = set(nodes)
    downstream: dict[str, list[str]] = {name: [] for name in nodes}
    for name in nodes:
        for upstream in sorted(set(upstreams.get(name, ()))):
            if upstream in members:
                downstream[upstream].append(name)
    cycles = []
    for component in _strongly_connected(nodes, downstream):
        start = min(component, key=nodes.index)
        if len(component) == 1 and start not in downstream[start]:
            continue
        cycles.append(_cycle_from(start, set(component), downstream))
    return sorted(cycles, key=lambda c: nodes.index(c[0]))


def _cycle_from(start: str, component: set[str], downstream: Mapping[str, list[str]]) -> list[str]:
    """A shortest path from start back to itself inside its component (breadth first)."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in downstream[node]:
                if child not in component:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return list(reversed(path)) + [start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    return [start, start]


def _strongly_connected(nodes: Sequence[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (specs can be deep chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components
