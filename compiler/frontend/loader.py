"""YAML -> plain data, keeping the file:line:col of every node.

PyYAML's own constructors drop positions and silently keep the last of two
duplicate keys, so the composed node graph is walked here instead. The data
stays plain dicts/lists/scalars (what jsonschema and the resolver want); the
positions live beside it, keyed by the node's path (a tuple of keys and list
indices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ..errors import Diagnostic, Location, MeshgenError, escaped, fail

# libyaml's parser is about 6x faster than the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR_TAG = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

JsonPath = tuple  # of str keys and int indices


@dataclass
class LoadedSpec:
    path: Path  # the spec file on disk
    display: str  # the spec file as the user named it, used in messages
    data: Any
    text: str = ""
    positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    # Block scalars (`sql: |`) start their text on the line after the indicator.
    block_scalars: set[JsonPath] = field(default_factory=set)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def location(self, path: JsonPath, *, at_key: bool = False) -> Location:
        """The position of a node, or of its nearest ancestor that exists."""
        table = self.key_positions if at_key else self.positions
        probe = tuple(path)
        while probe:
            if probe in table:
                return Location(self.display, *table[probe])
            if at_key and probe in self.positions:
                return Location(self.display, *self.positions[probe])
            probe = probe[:-1]
        return Location(self.display, *self.positions.get((), (1, 1)))


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# Aliases share a node, so a few lines can stand for billions of nodes (a "billion laughs"
# bomb); nesting that deep would exhaust the stack. Both limits are far above real specs.
MAX_ALIAS_NODES = 50_000
MAX_DEPTH = 50


class _TooLarge(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


class _Builder:
    def __init__(self, spec: LoadedSpec, loader: yaml.BaseLoader):
        self.spec = spec
        self.loader = loader
        self.errors: list[Diagnostic] = []
        self._active: set[int] = set()
        self._built: set[int] = set()  # collection nodes seen: seeing one again is an alias
        self._in_alias = 0
        self._alias_nodes = 0

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self._count(node, path)
        if not isinstance(node, yaml.ScalarNode) and id(node) in self._built and id(node) not in self._active:
            self._in_alias += 1
            try:
                return self._build(node, path)
            finally:
                self._in_alias -= 1
        self._built.add(id(node))
        return self._build(node, path)

    def _count(self, node: yaml.Node, path: JsonPath) -> None:
        if len(path) > MAX_DEPTH:
            raise _TooLarge(Diagnostic(Location(self.spec.display, *_mark(node)), f"the spec nests more than {MAX_DEPTH} levels deep", "flatten the structure; no key of a spec is that deep"))
        if self._in_alias:
            self._alias_nodes += 1
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise _TooLarge(
                    Diagnostic(
                        Location(self.spec.display, *_mark(node)),
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values",
                        "an anchor reused inside other reused anchors multiplies; write the values out, or reuse smaller anchors",
                    )
                )

    def _build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.spec.positions[path] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):
                self.spec.block_scalars.add(path)
            if node.tag == _STR_TAG or node.tag == _TIMESTAMP_TAG:
                return node.value  # a string is its text (PyYAML's constructor, without its bookkeeping); dates stay text
            return self.loader.construct_object(node, deep=True)
        if id(node) in self._active:
            self.errors.append(
                Diagnostic(self.spec.location(path), "recursive YAML alias", "an anchor may not contain itself")
            )
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict:
        self._refuse_duplicates(node)
        self.loader.flatten_mapping(node)  # merged `<<: *anchor` entries come first, explicit keys win
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(
                    Diagnostic(
                        Location(self.spec.display, *_mark(key_node)),
                        "mapping keys must be plain names",
                        "write each key as a word (`name: value`); YAML's complex keys (`? [a, b]`) are not part of a spec",
                    )
                )
                continue
            self.spec.key_positions[path + (key_node.value,)] = _mark(key_node)
            result[key_node.value] = self.build(value_node, path + (key_node.value,))
        return result

    def _refuse_duplicates(self, node: yaml.MappingNode) -> None:
        first_seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value
            if key in first_seen:
                self.errors.append(
                    Diagnostic(
                        Location(self.spec.display, *_mark(key_node)),
                        f"duplicate key '{key}'",
                        f"'{key}' is already defined on line {first_seen[key]}; YAML would silently keep only the last one",
                    )
                )
            else:
                first_seen[key] = _mark(key_node)[0]


def load_spec_text(text: str, path: Path, display: str) -> LoadedSpec:
    spec = LoadedSpec(path=path, display=display, data=None, text=text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise fail(Location(display, 1, 1), "the spec is empty", "start from `meshgen init`")
        builder = _Builder(spec, loader)
        spec.data = builder.build(root, ())
    except _TooLarge as exc:
        raise MeshgenError([exc.diagnostic]) from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, display, text) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        raise _reader_error(exc, text, display) from None
    except yaml.YAMLError as exc:  # errors without a position
        raise fail(Location(display), f"invalid YAML: {exc}", "check the file is a YAML mapping") from None
    finally:
        loader.dispose()
    if builder.errors:
        raise MeshgenError(builder.errors)
    return spec


def load_spec(path: Path, display: str | None = None) -> LoadedSpec:
    display = display or path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail(Location(display), "spec file not found", "create one with `meshgen init`") from None
    except IsADirectoryError:
        raise fail(Location(display), "is a directory, not a spec file", f"pass {display}/meshgen.yaml") from None
    except OSError as exc:
        raise fail(Location(display), f"cannot read the spec: {exc.strerror}", "check the file's permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise fail(Location(display, line, 1), "the spec is not valid UTF-8", "save the file as UTF-8") from None
    return load_spec_text(text, path, display)


def _reader_error(exc: yaml.reader.ReaderError, text: str, display: str) -> MeshgenError:
    position = exc.position if isinstance(exc.position, int) and 0 <= exc.position <= len(text) else 0
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    character = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return fail(
        Location(display, line, col),
        f"the spec holds the character {escaped(character)!s}, which YAML does not allow",
        "remove it; write control characters in a double-quoted string as escapes (\"\\t\", \"\\u001b\")",
    )


def _char_at(text: str, mark) -> str:
    lines = text.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    return line[mark.column] if mark.column < len(line) else ""


def _yaml_error(exc: yaml.MarkedYAMLError, display: str, text: str = "") -> MeshgenError:
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark and (exc.context or "").startswith("while scanning a simple key"):
        mark = exc.context_mark  # the key missing its colon, not the end of the block
    location = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
    problem = exc.problem or "invalid YAML"
    message = f"invalid YAML: {problem}"
    if exc.context:
        message += f" ({exc.context})"
    hint = "check the indentation and that every `key: value` has a space after the colon"
    if "tab" in problem or (mark and _char_at(text, mark) == "\t"):
        hint = "YAML indentation must use spaces, not tabs"
    elif "could not determine a constructor" in problem:
        hint = "custom YAML tags (`!something`) are not allowed in a spec"
    return fail(location, message, hint)
