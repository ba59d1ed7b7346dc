"""Diagnostics: user-facing errors that point at a place in a spec file."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable


EXIT_INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C

# Control characters (C0, DEL, C1) and Unicode line breaks: a terminal would act on them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_MESSAGE = 1000  # characters of one message or hint; a longer one (a pasted value) is cut
MAX_SHOWN = 60  # characters of one value quoted in a message


def escaped(text: str) -> str:
    """The text with every control character spelled as an escape (`\\n`, `\\x7f`), so it stays on one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def shown(value: object) -> str:
    """A user's value as a message quotes it: escaped, and cut when long."""
    return shortened(escaped(str(value)), MAX_SHOWN)


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based line and column in a file, as editors show them."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    location: Location
    message: str
    hint: str = ""
    json_path: str = ""
    # Schema errors sort before semantic ones at the same position.
    phase: int = field(default=1, compare=False)

    def sort_key(self) -> tuple:
        loc = self.location
        return (self.phase, loc.file, loc.line, loc.col, self.message)

    def render(self) -> str:
        """One line for the error, one for the hint: values inside them are escaped and cut, whoever built the message."""
        where = f" (at {shortened(escaped(self.json_path), MAX_SHOWN)})" if self.json_path else ""
        text = f"{escaped(str(self.location))}: error: {shortened(escaped(self.message), MAX_MESSAGE)}{where}"
        if self.hint:
            text += f"\n  hint: {shortened(escaped(self.hint), MAX_MESSAGE)}"
        return text


class MeshgenError(Exception):
    """A user error: bad input, never a bug. Carries every diagnostic found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [d.render() for d in self.diagnostics]
        count = len(self.diagnostics)
        if count > 1:
            lines.append(f"{count} errors")
        return "\n".join(lines)


def fail(location: Location, message: str, hint: str = "") -> MeshgenError:
    return MeshgenError([Diagnostic(location, message, hint)])


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], what: str = "") -> str:
    """A hint naming the closest candidate, or listing a few known ones."""
    candidates = sorted(set(candidates))
    match = closest(word, candidates)
    if match:
        return f"did you mean '{match}'?"
    if not candidates:
        return ""
    shown = ", ".join(candidates[:8]) + (", ..." if len(candidates) > 8 else "")
    return f"known {what or 'names'}: {shown}"
