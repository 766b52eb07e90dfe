"""Reading office attachments (and re-encoding photos) in a separate process, under a memory and
time limit.

A workbook or a photo can be built to make any reader slow or greedy. So an intake process never
reads one itself: it hands the bytes to its own reader process (started at first use, then reused
for every attachment, so intake pays a pipe's round trip rather than a process start per message)
and waits at most `limits.reader_seconds`. The reader process has an address-space limit
(`limits.reader_memory_mb`) and a CPU limit per attachment. If it runs over or stops, it is
killed, the attachment is reported as overran (a form's message is quarantined and the admin team
told; a photo is a problem listed back to the sender) and the next attachment gets a new reader
process.

Protocol (the reader's stdin and stdout): a JSON line {kind, size, max_rows, limits, seconds}
(for a photo {kind: "photo", size, max_pixels, seconds}) and `size` bytes of document; the answer is
an 8-byte length and Document.to_json (Photo.to_json) as JSON.
Nothing is written to logs or stderr (stderr is discarded): attachments hold personal data.
"""

from __future__ import annotations

import json
import math
import os
import resource
import selectors
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import IO, Any

from safeguard.adapters.workbooks.images import reencode
from safeguard.adapters.workbooks.ooxml import Limits, read_document
from safeguard.domain.forms.document import OVERRAN, Document
from safeguard.domain.forms.photos import UNREADABLE, Photo

MB = 1024 * 1024
PHOTO = "photo"  # the request kind for a photo; otherwise "xlsx" or "docx"


STARTUP_SECONDS = 30  # starting is not the attachment's time: it waits for READY first
READY = b"R"


class Overran(Exception):
    """The reader process took too long, or stopped."""


@dataclass(frozen=True)
class ReaderLimits:
    seconds: float
    memory_mb: int


class Reader:
    """One reader process, for the process that made this (a forked copy starts its own)."""

    def __init__(self, limits: ReaderLimits) -> None:
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def read(self, kind: str, data: bytes, zip_limits: Limits, max_rows: int) -> Document:
        answer = self._asked({"kind": kind, "max_rows": max_rows, "limits": asdict(zip_limits)}, data)
        return OVERRAN if answer is None else Document.from_json(answer)

    def read_photo(self, data: bytes, max_pixels: int) -> Photo:
        """The photo re-encoded without metadata (images.py), or why it cannot be used."""
        answer = self._asked({"kind": PHOTO, "max_pixels": max_pixels}, data)
        return UNREADABLE if answer is None else Photo.from_json(answer)

    def _asked(self, request: dict[str, object], data: bytes) -> dict[str, object] | None:
        """The reader's answer, or None when it overran or stopped (it is then stopped for good)."""
        with self._lock:
            try:
                return self._ask(request, data)
            except (Overran, OSError, ValueError):
                self.stop()
                return None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._pid == os.getpid():
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()

    def _ask(self, request: dict[str, object], data: bytes) -> dict[str, object]:
        proc = self._child()
        assert proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + self.limits.seconds
        header = {**request, "size": len(data), "seconds": self.limits.seconds}
        proc.stdin.write(json.dumps(header).encode() + b"\n" + data)
        proc.stdin.flush()
        size = int.from_bytes(_read_exactly(proc.stdout, 8, deadline), "big")
        answer = json.loads(_read_exactly(proc.stdout, size, deadline))
        if not isinstance(answer, dict):
            raise ValueError("the reader answered something other than an object")
        return answer

    def _child(self) -> subprocess.Popen[bytes]:
        if self._pid != os.getpid():  # forked: the pipes are the parent's, never to be used here
            self._proc, self._pid = None, os.getpid()
        if self._proc is None or self._proc.poll() is not None:
            self.stop()
            self._proc = subprocess.Popen(  # our own module, no shell
                [sys.executable, "-m", "safeguard.adapters.workbooks.reader", str(self.limits.memory_mb)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert self._proc.stdout is not None
            if _read_exactly(self._proc.stdout, 1, time.monotonic() + STARTUP_SECONDS) != READY:
                raise Overran
        return self._proc


def _read_exactly(pipe: IO[bytes], size: int, deadline: float) -> bytes:
    """`size` bytes from the pipe, or Overran at the deadline or if the reader stops."""
    chunks: list[bytes] = []
    fd = pipe.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise Overran
            chunk = os.read(fd, min(size, 4 * MB))
            if not chunk:
                raise Overran
            chunks.append(chunk)
            size -= len(chunk)
    return b"".join(chunks)


_readers: dict[ReaderLimits, Reader] = {}


def reader_for(limits: ReaderLimits) -> Reader:
    """This process's reader for these limits (made at first use, never at import)."""
    reader = _readers.get(limits)
    if reader is None:
        reader = _readers[limits] = Reader(limits)
    return reader


def stop_readers() -> None:
    """Stop this process's reader processes (the next attachment starts one again)."""
    for reader in _readers.values():
        reader.stop()


# ---- the reader process ---------------------------------------------------------------------


def serve(memory_mb: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MB, memory_mb * MB))
    stdout.write(READY)
    stdout.flush()
    while header := stdin.readline():
        request = json.loads(header)
        data = _read_all(stdin, int(request["size"]))
        _limit_cpu(float(request["seconds"]))
        try:
            answer = json.dumps(_answer(request, data)).encode()
        except MemoryError:
            return  # the parent sees the pipe close: overran
        del data
        stdout.write(len(answer).to_bytes(8, "big") + answer)
        stdout.flush()


def _answer(request: dict[str, Any], data: bytes) -> dict[str, object]:
    if request["kind"] == PHOTO:
        return reencode(data, int(request["max_pixels"])).to_json()
    limits = Limits(**request["limits"])
    return read_document(str(request["kind"]), data, limits, int(request["max_rows"])).to_json()


def _read_all(stdin: IO[bytes], size: int) -> bytes:
    data = stdin.read(size)
    if len(data) != size:
        raise SystemExit(0)
    return data


def _limit_cpu(seconds: float) -> None:
    """CPU for this attachment: what is used so far plus `seconds` (SIGXCPU ends the process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU,
                       (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer)
