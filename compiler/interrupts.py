"""Ctrl-C held back while a warehouse query or an engine's API runs, and honoured between them.

DuckDB's Python client turns a SIGINT that arrives during a query into one of two
outcomes, neither of them an interrupt: the query finishes and the signal is lost
(a deploy interrupted in its prerequisite check then runs on and exits 0), or it
raises a RuntimeError that is not a `duckdb.Error`. The engines' Python APIs, which
`meshgen check` calls in-process, lose it too (in a `__del__`) or report it as the
warehouse being unreachable. So the signal is only recorded, and raised as
KeyboardInterrupt where meshgen's own code is: the end of the block, or a `checkpoint()`.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Interruption:
    """Whether Ctrl-C came during the guarded block."""

    def __init__(self) -> None:
        self.received = False

    def record(self, number, frame) -> None:
        self.received = True

    def checkpoint(self) -> None:
        """Honour a Ctrl-C that came since the block began."""
        if self.received:
            raise KeyboardInterrupt


@contextmanager
def deferred_interrupt() -> Iterator[Interruption]:
    """Run the block with Ctrl-C recorded, not delivered; raise KeyboardInterrupt after it if one came."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield interruption  # only the main thread may install handlers, and only it receives SIGINT
        return
    previous = signal.signal(signal.SIGINT, interruption.record)
    try:
        yield interruption
    finally:
        signal.signal(signal.SIGINT, previous)
    interruption.checkpoint()
