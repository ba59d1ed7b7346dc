"""How the analysis is shared out: all in this process, or split with a helper process.

The analyzer asks its `Work` three things: compute a step for many models
(`each`), the order to infer output columns in (`output_order`), and an output
the other side infers (`their_output`) or this side must tell it (`publish`).
`LocalWork` does everything here; `SharedWork` splits it with a forked helper
(see `build/parallel.py`), each side taking the models of one engine.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

from ..build import parallel
from ..errors import Diagnostic

T = TypeVar("T")
# Seconds the build waits for a helper that sends nothing before doing the work itself.
HELPER_PATIENCE = 300.0


class LocalWork:
    """The whole analysis in this process."""

    def each(self, topic: str, names: list[str], compute: Callable[[str], T], errors: list[Diagnostic]) -> dict[str, T]:
        return {name: compute(name) for name in names}

    def output_order(self, order: list[str], upstreams: Mapping[str, set[str]], has_sql: Callable[[str], bool]) -> list[str]:
        return order

    def their_output(self, name: str, has_sql: bool) -> Any | None:
        """The other side's inferred output of a model, when the other side infers it."""
        return None

    def publish(self, name: str, has_sql: bool, found: Any) -> None:
        """Tell the other side an output it may wait for."""

    def stop_if_orphaned(self) -> None:
        """In a helper whose build has gone: stop, as no one wants the rest."""


class SharedWork(LocalWork):
    """Half the analysis in each of two processes: the helper takes `helper_models`, the build the rest."""

    def __init__(self, partner: parallel.Partner, helper_models: frozenset[str]):
        self.partner = partner
        self.helper_models = helper_models

    def _mine(self, name: str) -> bool:
        return (name in self.helper_models) == self.partner.is_helper

    def each(self, topic: str, names: list[str], compute: Callable[[str], T], errors: list[Diagnostic]) -> dict[str, T]:
        """Each process computes its share, and they swap results with the diagnostics found.

        Both call this at the same point with the same names, so both end in the same state.
        """
        self.stop_if_orphaned()
        if not self.partner.alive:
            return super().each(topic, names, compute, errors)
        errors_before = len(errors)
        found = {name: compute(name) for name in names if self._mine(name)}
        theirs = self.partner.exchange(topic, (found, errors[errors_before:]), HELPER_PATIENCE)
        if theirs is None:
            self.stop_if_orphaned()
            found.update((name, compute(name)) for name in names if name not in found)
        else:
            results, their_errors = theirs
            found.update(results)
            errors.extend(their_errors)
        return {name: found[name] for name in names}

    def output_order(self, order: list[str], upstreams: Mapping[str, set[str]], has_sql: Callable[[str], bool]) -> list[str]:
        """This side's models, those the other side waits for first.

        Both sides follow the same order, which is still topological: a model's
        urgency is the position of the first model of the other side that needs
        it, directly or through models of its own side, and comes after the
        model itself. That one shared order is what keeps the two from ever
        waiting on each other at once.
        """
        side = {n: (n in self.helper_models) if has_sql(n) else None for n in order}
        position = {name: i for i, name in enumerate(order)}
        readers: dict[str, list[str]] = {}
        for name in order:
            for upstream in upstreams[name]:
                readers.setdefault(upstream, []).append(name)

        def crosses(upstream: str, reader: str) -> bool:
            # Models without SQL (None) are inferred on both sides: no one waits for them.
            return None not in (side[upstream], side[reader]) and side[upstream] != side[reader]

        urgency: dict[str, float] = {}
        for name in reversed(order):
            needs = (position[r] if crosses(name, r) else urgency[r] for r in readers.get(name, ()))
            urgency[name] = min(needs, default=float("inf"))
        shared_order = sorted(order, key=lambda n: (urgency[n], position[n]))
        return [n for n in shared_order if not (has_sql(n) and not self._mine(n))]

    def their_output(self, name: str, has_sql: bool) -> Any | None:
        if has_sql and not self._mine(name) and self.partner.alive:
            return self.partner.wait_for(f"output {name}", HELPER_PATIENCE)
        return None

    def publish(self, name: str, has_sql: bool, found: Any) -> None:
        if not has_sql or self._mine(name):
            self.partner.post(f"output {name}", found)

    def stop_if_orphaned(self) -> None:
        if self.partner.is_helper and not self.partner.alive:
            raise parallel.HelperGone
