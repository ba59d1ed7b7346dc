"""Per-model progress of `meshgen deploy` and `meshgen run`.

On a terminal, a live table of the stage's models (model, engine, status, elapsed
time) is redrawn while the engine runs; a model is marked finished as soon as the
engine's own output says so. Elsewhere (CI logs, orchestrators, pipes) each model
gets one plain line when its stage ends. The final status always comes from the
engine's report (`model_results`), never from the live guess.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import Callable, Iterable, Mapping

from ..model_results import Outcome

Echo = Callable[[str], None]
_REDRAW_SECONDS = 0.25
# Lines in which an engine says it finished a model: dbt's "1 of 4 OK created ...", SQLMesh's "[1/1] schema.table".
_FINISHED = re.compile(r"\b(OK|ERROR|SKIP|PASS|FAIL|WARN)\b|^\s*\[\d+/\d+\]")
_MARKS = {"success": "ok", "failed": "FAILED", "skipped": "skipped", "blocked": "blocked", "not_due": "not due", "not_run": "not run"}


def _status_word(outcome: Outcome) -> str:
    return _MARKS.get(outcome.status, outcome.status)


def model_line(model: str, engine: str, outcome: Outcome) -> str:
    """One model's plain line: status, model, engine, time and rows where known."""
    details = [engine]
    if outcome.seconds is not None:
        details.append(f"{outcome.seconds:.2f}s")
    if outcome.rows is not None:
        details.append(f"{outcome.rows} rows")
    line = f"      {_status_word(outcome):<8} {model} ({', '.join(details)})"
    if outcome.status in ("failed", "blocked", "skipped") and outcome.message:
        lines = [l.strip() for l in outcome.message.strip().splitlines() if l.strip()]
        line += ": " + next((l for l in lines if not l.endswith(":")), lines[0])
    return line


class Progress:
    """The models of the stage that is running, as a live table on a terminal."""

    def __init__(self, echo: Echo, live: bool | None = None):
        self.echo = echo
        self.live = sys.stdout.isatty() if live is None else live
        self._models: list[str] = []
        self._engine = ""
        self._started = 0.0
        self._finished: dict[str, float] = {}
        self._patterns: dict[str, re.Pattern] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drawn = 0
        self._thread: threading.Thread | None = None

    def start(self, engine: str, models: Iterable[str]) -> None:
        self._models, self._engine = list(models), engine
        self._started, self._finished = time.monotonic(), {}
        self._patterns = {m: re.compile(rf"\b{re.escape(m.split('.', 1)[0])}(__\w+)?\W+{re.escape(m.split('.', 1)[1])}\b") for m in self._models}
        if self.live:
            self._stop.clear()
            self._drawn = 0
            self._thread = threading.Thread(target=self._redraw, daemon=True)
            self._thread.start()

    def output_line(self, line: str) -> None:
        """A line the engine printed: a model it names as finished stops its clock."""
        if not _FINISHED.search(line):
            return
        with self._lock:
            for model, pattern in self._patterns.items():
                if model not in self._finished and pattern.search(line):
                    self._finished[model] = time.monotonic() - self._started

    def finish(self, outcomes: Mapping[str, Outcome]) -> None:
        if self._thread:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._erase()
        for model in self._models:
            if model in outcomes:
                self.echo(model_line(model, self._engine, outcomes[model]))

    def _redraw(self) -> None:
        while not self._stop.wait(_REDRAW_SECONDS):
            with self._lock:
                now = time.monotonic() - self._started
                rows = [
                    f"      {'finished' if m in self._finished else 'running':<8} {m} ({self._engine}, {self._finished.get(m, now):.1f}s)"
                    for m in self._models
                ]
            self._erase()
            sys.stdout.write("\n".join(rows) + "\n")
            sys.stdout.flush()
            self._drawn = len(rows)

    def _erase(self) -> None:
        if self._drawn:
            sys.stdout.write(f"\x1b[{self._drawn}F\x1b[J")
            sys.stdout.flush()
            self._drawn = 0
