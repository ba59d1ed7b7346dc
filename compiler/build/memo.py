"""Results of earlier builds, by content hash: what a rebuild need not compute again.

Keys hash everything a result depends on (the model's SQL, the dialect, the
upstream schemas, the engines around it, meshgen's code and the sqlglot version),
so a hit is exactly what a cold build would compute. Values are plain JSON.
A model whose SQL and inputs did not change is then neither parsed nor
rendered again; one that did is, and so are the models whose inputs it changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlglot

from .. import __version__
from .resources import build_digest

MEMO_FILE = ".meshgen/cache/analysis.json"
_SALT = f"{__version__}\0{build_digest()}\0{sqlglot.__version__}"

Given = TypeVar("Given")


class Memo:
    def __init__(self, entries: dict[str, Any] | None = None):
        self._earlier = entries or {}
        self._used: dict[str, Any] = {}
        self._keys: dict[tuple, str] = {}  # keys already hashed in this build, for inputs that can be dict keys

    @staticmethod
    def key(*parts: Any) -> str:
        text = json.dumps([_SALT, *parts], sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def cached(self, step: Callable[[Given], Any], given: Given) -> Any:
        """`step(given)`, remembered under a key made of the step's name and every field of `given`.

        `given` is a frozen dataclass holding everything the step reads, and the
        step a module-level function of it alone: so no input can be left out of
        the key. A field with `compare=False` is derived from the others (a parse
        of a text that is itself a field) and stays out of the key.
        """
        return self.get(self._key_of(step, given), lambda: step(given))

    def knows(self, step: Callable[[Given], Any], given: Given) -> bool:
        return self.knows_key(self._key_of(step, given))

    def knows_key(self, key: str) -> bool:
        return key in self._used or key in self._earlier

    def _key_of(self, step: Callable[[Given], Any], given: Given) -> str:
        """The step's key, hashed once per build for an input asked about twice (the helper decision, then the step)."""
        try:
            return self._keys[step, given]
        except KeyError:
            key = self._keys[step, given] = self.step_key(step, given)
            return key
        except TypeError:  # an input holding a dict or a list: not a dict key, and not asked about twice
            return self.step_key(step, given)

    @staticmethod
    def step_key(step: Callable[[Given], Any], given: Given) -> str:
        name, fields = _step_shape(step, type(given))
        return Memo.key(name, [(field, getattr(given, field)) for field in fields])

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        """The remembered value, or compute it; a None result (a failure) is not remembered."""
        if key in self._used:
            return self._used[key]
        value = self._earlier[key] if key in self._earlier else compute()
        if value is not None:
            self._used[key] = value
        return value

    def used_keys(self) -> set[str]:
        return set(self._used)

    def used_since(self, earlier: set[str]) -> dict[str, Any]:
        """What this build used beyond `earlier` (a helper process sends it back)."""
        return {k: v for k, v in self._used.items() if k not in earlier}

    def adopt(self, entries: dict[str, Any]) -> None:
        self._used.update(entries)

    @classmethod
    def load(cls, root: Path) -> "Memo":
        try:
            return cls(json.loads((root / MEMO_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return cls()

    def save(self, root: Path) -> None:
        """Keep what this build used, so the file never outgrows the spec."""
        target = root / MEMO_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(target.name + ".tmp")
        temp.write_text(json.dumps(self._used, sort_keys=True, separators=(",", ":")), encoding="utf-8")
        os.replace(temp, target)


@lru_cache(maxsize=None)
def _step_shape(step: Callable, given_type: type) -> tuple[str, tuple[str, ...]]:
    """A remembered step's name and the fields of its input that make the key, once each step is checked."""
    if not inspect.isfunction(step) or step.__closure__ or "." in step.__qualname__:
        raise TypeError(f"a remembered step is a module-level function of its input alone, not {step!r}")
    if not (dataclasses.is_dataclass(given_type) and given_type.__dataclass_params__.frozen):
        raise TypeError(f"a remembered step's input is a frozen dataclass, not {given_type.__name__}")
    fields = tuple(f.name for f in dataclasses.fields(given_type) if f.compare)
    return f"{step.__module__}.{step.__qualname__}:{given_type.__qualname__}", fields
