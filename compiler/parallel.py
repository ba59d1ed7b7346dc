"""A second core for large cold builds: a forked helper that shares the build's work.

The helper is a fork of the build taken before any SQL is parsed. Both
processes then run the same analysis in lockstep, each parsing and analysing
its own share of the models and exchanging the (small) results at fixed
points, so each holds only its own ASTs. Whatever the helper does not deliver
(it crashed, was killed, or the platform cannot fork) the build computes
itself: a helper can make a build faster, never different.
`MESHGEN_JOBS=1` turns it off.
"""

from __future__ import annotations

import gc
import os
import pickle
import struct
import sys
from typing import Any, Callable

_HEADER = struct.Struct("!Q")
_RESULT = "the helper's result"


def available() -> bool:
    """Whether a helper process can run on a core of its own."""
    if not _can_fork():
        return False
    setting = os.environ.get("MESHGEN_JOBS", "").strip()
    if setting.isdigit():
        return int(setting) > 1
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) > 1


def _can_fork() -> bool:
    # Fork is safe on Linux; on macOS system libraries may not survive it, so stay single-process there.
    return hasattr(os, "fork") and sys.platform.startswith("linux")


class HelperGone(Exception):
    """Raised in the helper when the build stopped talking to it: the helper just ends."""


class Partner:
    """The other process of a forked pair, as either side sees it.

    Both sides make the same sequence of exchange() calls. The build sends
    first and the helper receives first, so neither can block the other
    whatever the size of what they send.
    """

    def __init__(self, sending: int, receiving: int, helper_pid: int | None):
        self._sending, self._receiving = sending, receiving
        self._helper_pid = helper_pid  # None in the helper itself
        self.alive = True
        self._closed = False

    @property
    def is_helper(self) -> bool:
        return self._helper_pid is None

    def exchange(self, topic: str, mine: Any) -> Any | None:
        """Send this side's results, receive the other's; None once the other side is gone.

        Both sides name what they exchange: should they ever disagree, the
        helper is dropped rather than its answer to another question used.
        """
        if not self.alive:
            return None
        try:
            if self.is_helper:
                theirs = _receive(self._receiving)
                _send(self._sending, (topic, mine))
            else:
                _send(self._sending, (topic, mine))
                theirs = _receive(self._receiving)
        except (EOFError, OSError, pickle.UnpicklingError):
            theirs = None
        if not (isinstance(theirs, tuple) and len(theirs) == 2 and theirs[0] == topic):
            self.alive = False
            return None
        return theirs[1]

    def result(self) -> Any | None:
        """In the build: what the helper's work returned (None if it failed); ends the helper."""
        try:
            return self.exchange(_RESULT, None)
        finally:
            self.close()

    def close(self) -> None:
        """Idempotent: the descriptors' numbers may belong to other files once closed."""
        if self._closed:
            return
        self._closed = True
        self.alive = False
        os.close(self._sending)
        os.close(self._receiving)
        if self._helper_pid is not None:
            os.waitpid(self._helper_pid, 0)


def fork_helper(work: Callable[[Partner], Any]) -> Partner | None:
    """Start `work(partner)` in a forked helper and return the build's side, or None without a helper."""
    if not available():
        return None
    to_helper_read, to_helper_write = os.pipe()
    to_build_read, to_build_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(to_helper_write)
        os.close(to_build_read)
        _run_helper(work, Partner(to_build_write, to_helper_read, None))
    os.close(to_helper_read)
    os.close(to_build_write)
    return Partner(to_helper_write, to_build_read, pid)


def _run_helper(work: Callable[[Partner], Any], partner: Partner) -> None:
    # Never collect what the build had: the scan would copy every page the two processes share.
    gc.freeze()
    try:
        partner.exchange(_RESULT, work(partner))
    except BaseException:  # the build sees the closed pipe and does the work itself
        pass
    finally:
        os._exit(0)


def _send(fd: int, value: Any) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int) -> Any:
    header = _read_exactly(fd, _HEADER.size)
    return pickle.loads(_read_exactly(fd, _HEADER.unpack(header)[0]))


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
