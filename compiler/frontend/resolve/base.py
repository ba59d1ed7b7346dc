"""What every part of the resolver shares: the loaded spec and the diagnostics found so far."""

from __future__ import annotations

from datetime import date

from ...errors import Diagnostic, Location
from ..loader import JsonPath, LoadedSpec


class ResolverBase:
    def __init__(self, spec: LoadedSpec, spec_folder: str = ".", repository_offset: str = ""):
        self.spec = spec
        self.spec_folder = spec_folder  # the spec's folder as seen from the output root
        self.repository_offset = repository_offset  # the output root as seen from the git work tree's top
        self.data = spec.data
        self.errors: list[Diagnostic] = []

    def error(self, path: JsonPath, message: str, hint: str = "", at_key: bool = False) -> None:
        from ..schema import format_path

        self.errors.append(Diagnostic(self.spec.location(path, at_key=at_key), message, hint, format_path(path)))

    def loc(self, path: JsonPath) -> Location:
        return self.spec.location(path)

    def _check_date(self, value: str | None, path: JsonPath) -> None:
        if not value:
            return
        try:
            date.fromisoformat(value)
        except ValueError:
            self.error(path, f"'{value}' is not a calendar date", "write an existing date as YYYY-MM-DD, e.g. 2024-01-31")

    def _unique(self, name: str, first: dict[str, int], path: JsonPath, what: str) -> None:
        if name in first:
            self.error(
                path + ("name",),
                f"{what} '{name}' is defined twice",
                f"the first definition is on line {first[name]}; names must be unique",
            )
        else:
            first[name] = self.loc(path + ("name",)).line
