"""What an import made: the spec's data, its files, and a report of what it could not carry over."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    where: str  # `path:line` in the imported project
    what: str  # what the project has
    instead: str  # what the spec does instead

    def sort_key(self) -> tuple:
        path, _, line = self.where.rpartition(":")
        return (path, int(line) if line.isdigit() else 0, self.what)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, where: str, what: str, instead: str) -> None:
        self.findings.append(Finding(where, what, instead))

    def render(self, title: str) -> str:
        if not self.findings:
            return f"{title}: everything was carried over\n"
        lines = [f"{title}: {len(self.findings)} item(s) not carried over as they were"]
        for finding in sorted(set(self.findings), key=Finding.sort_key):
            lines.append(f"{finding.where}: {finding.what}")
            lines.append(f"  instead: {finding.instead}")
        return "\n".join(lines) + "\n"


@dataclass
class Imported:
    spec: dict  # the spec's data, keys in the order they are written
    files: dict[str, str] = field(default_factory=dict)  # path relative to the spec -> text
    copies: dict[str, Path] = field(default_factory=dict)  # path relative to the spec -> file to copy
    report: Report = field(default_factory=Report)
