"""Ctrl-C held back while a DuckDB query runs, and delivered once it has finished.

DuckDB's Python client turns a SIGINT that arrives during a query into one of two
outcomes, neither of them an interrupt: the query finishes and the signal is lost
(a deploy interrupted in its prerequisite check then runs on and exits 0), or it
raises a RuntimeError that is not a `duckdb.Error`. Queries here are short reads
and small loads, so waiting for one to end costs the user nothing.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block with Ctrl-C recorded, not delivered; raise KeyboardInterrupt after it if one came."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers, and only it receives SIGINT
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
