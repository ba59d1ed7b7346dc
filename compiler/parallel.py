"""A second core for large cold builds: forked helpers that share the parsed SQL with the build.

Forking (not spawning) is the point: a helper starts with every AST already
parsed, and sends back only small results (column lists, generated text).
Whatever a helper does not deliver (it crashed, was killed, or the platform
cannot fork) the build computes itself, so a helper can make a build faster
but never different. `MESHGEN_JOBS=1` turns helpers off.
"""

from __future__ import annotations

import gc
import os
import pickle
import struct
import sys
from typing import Any, Callable, TypeVar

T = TypeVar("T")
_HEADER = struct.Struct("!Q")


def available() -> bool:
    """Whether a helper process can run on a core of its own."""
    setting = os.environ.get("MESHGEN_JOBS", "").strip()
    if setting.isdigit():
        return int(setting) > 1 and _can_fork()
    if not _can_fork():
        return False
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) > 1


def _can_fork() -> bool:
    # Fork is safe on Linux; on macOS system libraries may not survive it, so stay single-process there.
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def _send(fd: int, value: Any) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int) -> Any:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        raise EOFError
    payload = _read_exactly(fd, _HEADER.unpack(header)[0])
    if payload is None:
        raise EOFError
    return pickle.loads(payload)


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _fork() -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        # The helper never collects what it inherited: scanning it would copy every page it touches.
        gc.freeze()
    return pid


class Helper:
    """A forked copy of this process answering requests with `serve(request)`, one at a time.

    The parent sends a request, does its own share of the work, then collects
    the answer: both processes compute at once, and neither can block the other.
    """

    def __init__(self, serve: Callable[[Any], Any]):
        requests_read, self._requests = os.pipe()
        self._answers, answers_write = os.pipe()
        self._pid = _fork()
        if self._pid == 0:
            os.close(self._requests)
            os.close(self._answers)
            _serve_forever(serve, requests_read, answers_write)
        os.close(requests_read)
        os.close(answers_write)
        self._alive = True

    def submit(self, request: Any) -> bool:
        if self._alive:
            try:
                _send(self._requests, request)
            except OSError:
                self._alive = False
        return self._alive

    def collect(self) -> Any | None:
        """The answer to the last request, or None if the helper failed (the caller does the work)."""
        if not self._alive:
            return None
        try:
            answer = _receive(self._answers)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._alive = False
            return None
        return answer

    def close(self) -> None:
        for fd in (self._requests, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        os.waitpid(self._pid, 0)


def _serve_forever(serve: Callable[[Any], Any], requests: int, answers: int) -> None:
    status = 1
    try:
        while True:
            try:
                request = _receive(requests)
            except EOFError:
                status = 0
                break
            _send(answers, serve(request))
    except BaseException:  # the parent notices the closed pipe and does the work itself
        pass
    finally:
        os._exit(status)


def call_forked(work: Callable[[], T]) -> Callable[[], T | None]:
    """Start `work()` in a forked helper; the returned function waits for its result (None if it failed)."""
    if not available():
        return lambda: None
    helper = Helper(lambda _: work())
    helper.submit(None)

    def result() -> T | None:
        try:
            return helper.collect()
        finally:
            helper.close()

    return result
