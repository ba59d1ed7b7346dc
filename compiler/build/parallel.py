"""A second core for large cold builds: a forked helper that shares the build's work.

The helper is a fork of the build taken before any SQL is parsed. Both
processes then run the same analysis, each parsing and analysing its own share
of the models and sending the other the (small) results it needs: reads are
swapped at a fixed point, inferred columns as soon as each is known. Each
process holds only its own ASTs. Whatever the helper does not deliver (it
crashed, was killed, or the platform cannot fork) the build computes itself:
a helper can make a build faster, never different. `MESHGEN_JOBS=1` turns it
off.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import sys
import time
from collections import deque
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

    Messages are named. Sending never blocks: what the pipe cannot take yet is
    queued and written whenever this side waits for a message, so two sides
    that send a lot to each other cannot deadlock.
    """

    def __init__(self, sending: int, receiving: int, helper_pid: int | None):
        self._sending, self._receiving = sending, receiving
        os.set_blocking(sending, False)
        os.set_blocking(receiving, False)
        self._helper_pid = helper_pid  # None in the helper itself
        self._outgoing: deque[memoryview] = deque()  # messages not yet written, the first maybe in part
        self._incoming = bytearray()
        self._inbox: dict[str, Any] = {}
        self.alive = True
        self._closed = False

    @property
    def is_helper(self) -> bool:
        return self._helper_pid is None

    def post(self, topic: str, payload: Any) -> None:
        """Send a message to the other side (queued if the pipe is full)."""
        if self.alive:
            data = pickle.dumps((topic, payload), protocol=pickle.HIGHEST_PROTOCOL)
            self._outgoing.append(memoryview(_HEADER.pack(len(data)) + data))
            self._pump(wait=False)

    def wait_for(self, topic: str, patience: float | None = None) -> Any | None:
        """The other side's message on `topic`; None once the other side is gone.

        With `patience`, the build also gives up on a helper that has sent nothing
        for that many seconds: a safety net, as the two are built never to wait
        for each other at once. The build then does the work itself.
        """
        heard = time.monotonic()
        while topic not in self._inbox:
            if not self.alive:
                return None
            if patience is not None and not self.is_helper and time.monotonic() - heard > patience:
                self.alive = False
                return None
            if self._pump(wait=True, timeout=patience):
                heard = time.monotonic()
        return self._inbox.pop(topic)

    def exchange(self, topic: str, mine: Any, patience: float | None = None) -> Any | None:
        """Send this side's results on `topic`, receive the other side's; None once it is gone."""
        self.post(topic, mine)
        return self.wait_for(topic, patience)

    def flush(self) -> None:
        """Wait until everything posted has been taken by the other side."""
        while self._outgoing and self.alive:
            self._pump(wait=True)

    def result(self) -> Any | None:
        """In the build: what the helper's work returned (None if it failed); ends the helper."""
        try:
            return self.exchange(_RESULT, None)
        finally:
            self.close()

    def _pump(self, wait: bool, timeout: float | None = None) -> bool:
        """Write what is queued and read what has come; with `wait`, until one of them moves.

        True when something was read.
        """
        writing = [self._sending] if self._outgoing else []
        readable, writable = [self._receiving], writing
        if wait:
            readable, writable, _ = select.select([self._receiving], writing, [], timeout)
        if writable:
            try:
                written = os.write(self._sending, self._outgoing[0])
            except BlockingIOError:
                written = 0
            except OSError:  # the other side has closed its end
                self.alive = False
                return False
            rest = self._outgoing[0][written:]
            if rest:
                self._outgoing[0] = rest
            else:
                self._outgoing.popleft()
        if not readable:
            return False
        try:
            chunk = os.read(self._receiving, 1 << 20)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.alive = False
            return False
        self._incoming += chunk
        self._unpack()
        return True

    def _unpack(self) -> None:
        while len(self._incoming) >= _HEADER.size:
            size = _HEADER.unpack_from(self._incoming)[0]
            if len(self._incoming) < _HEADER.size + size:
                return
            topic, payload = pickle.loads(self._incoming[_HEADER.size : _HEADER.size + size])
            del self._incoming[: _HEADER.size + size]
            self._inbox[topic] = payload

    def close(self) -> None:
        """Idempotent: the descriptors' numbers may belong to other files once closed."""
        if self._closed:
            return
        self._closed = True
        self.alive = False
        os.close(self._sending)
        os.close(self._receiving)
        if self._helper_pid is not None:
            try:  # whatever it is doing is no longer wanted, and reaping it must not wait for it
                os.kill(self._helper_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._helper_pid, 0)


def fork_helper(work: Callable[[Partner], Any]) -> Partner | None:
    """Start `work(partner)` in a forked helper and return the build's side, or None without a helper."""
    if not available():
        return None
    import fcntl  # POSIX only, as is fork

    to_helper_read, to_helper_write = os.pipe()
    to_build_read, to_build_write = os.pipe()
    for fd in (to_helper_write, to_build_write):
        try:  # larger pipes: fewer wake-ups for the results going back and forth
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (AttributeError, OSError):
            pass
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
        partner.flush()
    except BaseException:  # the build sees the closed pipe and does the work itself
        pass
    finally:
        os._exit(0)
