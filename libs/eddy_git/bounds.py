"""The bounds of one Git operation: a deadline that cuts its connections, and byte caps.

A thread blocked on a socket cannot be stopped, and a server that trickles a byte
every few seconds never trips a read timeout; so when an operation's time is up,
a watchdog shuts its sockets down and kills its ssh process, and every read
checks the clock. What the server sends is counted, and the pack it streams is
followed object by object so that no object inflates past a cap in memory.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from eddy_api.common import Reason

from .errors import GitError

# What one operation may receive from a server (refs, negotiation and pack).
MAX_RECEIVED = 1 << 30
# One object once inflated: a blob is read into memory whole, by dulwich and by
# the checkout; a bigger file has no place in a deployable artifact.
MAX_OBJECT = 128 << 20


def _human(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


class Expired(Exception):
    """The operation's deadline passed; whoever catches it words the message."""


class Operation:
    """One Git operation's deadline and byte budget, shared by its connections."""

    def __init__(
        self, seconds: float, max_received: int = MAX_RECEIVED, max_object: int = MAX_OBJECT
    ) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.max_received = max_received
        self.max_object = max_object
        self.received = 0
        self.expired = False
        self.finished = False
        self._lock = threading.Lock()
        self._cutters: list[Callable[[], None]] = []
        _WATCHDOG.watch(self)

    def on_expiry(self, cut: Callable[[], None]) -> None:
        """Call cut() when the deadline passes (at once, if it has)."""
        with self._lock:
            if not self.expired:
                self._cutters.append(cut)
                return
        _quietly(cut)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            cutters, self._cutters = self._cutters, []
        for cut in cutters:
            _quietly(cut)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self._cutters = []

    def check(self) -> None:
        if self.expired or time.monotonic() >= self.at:
            self.expired = True
            raise Expired()

    def count(self, size: int) -> None:
        self.received += size
        if self.received > self.max_received:
            raise GitError(
                Reason.GIT_OPERATION_FAILED,
                f"the server sent more than {_human(self.max_received)}; refusing to read on",
            )

    def reading(self, read: Callable[..., bytes]) -> Callable[..., bytes]:
        """read, checking the deadline before and counting the bytes after each call."""

        def bounded(*args: Any) -> bytes:
            self.check()
            data = read(*args)
            self.count(len(data))
            return data

        return bounded

    def guard_pack(self, pack_data: Callable[[bytes], int]) -> Callable[[bytes], int]:
        """pack_data, with each chunk checked by a PackScanner before it is kept."""
        scanner = PackScanner(self.max_object)

        def guarded(data: bytes) -> int:
            self.check()
            scanner.feed(data)
            return pack_data(data)

        return guarded


def _quietly(cut: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        cut()


class _Watchdog:
    """One thread that expires operations at their deadlines, earliest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Operation]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, operation: Operation) -> None:
        with self._cond:
            heapq.heappush(self._heap, (operation.at, next(self._order), operation))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="eddy-git-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].finished:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, due = heapq.heappop(self._heap)
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            due.expire()


_WATCHDOG = _Watchdog()

# Pack object types (git's pack format): commit, tree, blob, tag, and the deltas.
_OFS_DELTA = 6
_REF_DELTA = 7
_BASE_TYPES = (1, 2, 3, 4)
_INFLATE = 1 << 16


class PackScanner:
    """Follows a pack stream object by object, refusing any that inflates past a cap.

    dulwich inflates each object of a fetched pack into memory to index it; a few
    KiB of zlib can claim gigabytes. The object headers state the inflated size
    (for a delta, its first inflated bytes state the result's size), so each is
    checked before dulwich sees the pack, and the inflation here is counted, never
    kept.
    """

    def __init__(self, max_object: int) -> None:
        self.max_object = max_object
        self._head = bytearray()
        self._objects = -1  # unknown until the pack header is read
        self._inflater: zlib._Decompress | None = None
        self._declared = 0
        self._inflated = 0
        self._delta: bytearray | None = None

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._inflater is not None:
                view = self._inflate(view)
            elif self._objects == 0:
                return  # the trailing checksum
            else:
                self._head.append(view[0])
                view = view[1:]
                if self._objects < 0:
                    self._pack_header()
                else:
                    self._object_header()

    def _pack_header(self) -> None:
        if len(self._head) < 12:
            return
        head = bytes(self._head)
        if head[:4] != b"PACK" or int.from_bytes(head[4:8], "big") not in (2, 3):
            raise _bad_pack("it does not start with a pack header")
        self._objects = int.from_bytes(head[8:12], "big")
        self._head.clear()

    def _object_header(self) -> None:
        head = self._head
        if len(head) > 64:
            raise _bad_pack("an object header is too long")
        kind = (head[0] >> 4) & 7
        size, shift, pos = head[0] & 15, 4, 0
        while head[pos] & 0x80:
            pos += 1
            if pos >= len(head):
                return
            size |= (head[pos] & 0x7F) << shift
            shift += 7
        pos += 1
        if kind == _OFS_DELTA:
            while True:
                if pos >= len(head):
                    return
                pos += 1
                if not head[pos - 1] & 0x80:
                    break
        elif kind == _REF_DELTA:
            if len(head) < pos + 20:
                return
            pos += 20
        elif kind not in _BASE_TYPES:
            raise _bad_pack(f"an object has the unknown type {kind}")
        if len(head) != pos:
            return
        if kind in _BASE_TYPES:
            self._check_size(size)
            self._delta = None
        else:
            self._delta = bytearray()
        self._declared = size
        self._inflated = 0
        self._inflater = zlib.decompressobj()
        head.clear()

    def _inflate(self, view: memoryview) -> memoryview:
        inflater = self._inflater
        assert inflater is not None
        try:
            out = inflater.decompress(view, _INFLATE)
            self._inflated_some(out)
            while inflater.unconsumed_tail and not inflater.eof:
                out = inflater.decompress(inflater.unconsumed_tail, _INFLATE)
                self._inflated_some(out)
        except zlib.error as err:
            raise _bad_pack(f"an object is not valid zlib data ({err})") from None
        if not inflater.eof:
            return view[len(view) :]
        if self._inflated != self._declared:
            raise _bad_pack("an object inflates to another size than its header says")
        self._inflater = None
        self._objects -= 1
        rest = inflater.unused_data
        return memoryview(rest) if rest else view[len(view) :]

    def _inflated_some(self, out: bytes) -> None:
        self._inflated += len(out)
        if self._inflated > self._declared:
            raise _bad_pack("an object inflates to more than its header says")
        delta = self._delta
        if delta is not None and len(delta) < 20:
            delta += out[: 20 - len(delta)]
            target = _delta_target_size(delta)
            if target is not None:
                self._check_size(target)
                self._delta = None

    def _check_size(self, size: int) -> None:
        if size > self.max_object:
            raise GitError(
                Reason.GIT_OPERATION_FAILED,
                f"the repository holds an object of {_human(size)}, more than the "
                f"{_human(self.max_object)} a checkout may hold in memory",
            )


def _delta_target_size(head: bytearray) -> int | None:
    """The result size a delta states after its base size, or None if not all here yet."""
    pos = 0
    for _ in range(2):
        size, shift = 0, 0
        while True:
            if pos >= len(head):
                return None
            byte = head[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 63:
                raise _bad_pack("a delta states an impossible size")
    return size


def _bad_pack(why: str) -> GitError:
    return GitError(Reason.GIT_OPERATION_FAILED, f"the server sent a malformed pack: {why}")
