"""A heartbeat: a daemon thread that calls `beat` every few seconds while its process lives, so
that a claim it renews (an outbox entry being sent, the mailbox watcher's lease) outlives neither
the process nor its host. A beat that fails (the register unreachable for a moment) is tried again
at the next one; `beat` returning False ends the heartbeat."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, beat: Callable[[], bool], every: float, name: str) -> None:
        self._beat, self._every = beat, every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self._every + 5)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                if not self._beat():
                    return
            except Exception:  # noqa: BLE001 - e.g. the register unreachable now: the next beat tries again
                log.warning("a heartbeat (%s) could not be recorded; trying again", self._thread.name)
