"""A TCP proxy on loopback that a test can cut, as if the server behind it stopped: open connections
are dropped and new ones refused until it is restored. `cut_after(pattern, n, *targets)` cuts the
targets (itself by default) when the client has sent `pattern` n times through it, so the outage
lands mid-batch at a chosen step rather than at a chosen moment. Tests' equipment."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class CutProxy:
    target: tuple[str, int]
    port: int = 0
    cut_at: tuple[bytes, int] | None = None
    targets: list[CutProxy] = field(default_factory=list)
    seen: int = 0
    down: bool = False
    _connections: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> CutProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut_after(self, pattern: bytes, times: int, *targets: CutProxy) -> None:
        self.cut_at, self.seen, self.targets = (pattern, times), 0, list(targets) or [self]

    def cut(self) -> None:
        with self._lock:
            self.down = True
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._connections.clear()

    def restore(self) -> None:
        with self._lock:
            self.down, self.cut_at = False, None

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self.down:
                    client.close()  # refused, as a stopped server's port would be
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=10)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.cut_at and self._count(data):
                    self.cut_at = None
                    for proxy in self.targets:
                        proxy.cut()
                    if self.down:
                        return  # what triggered the cut never reaches the server
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _count(self, data: bytes) -> bool:
        assert self.cut_at is not None
        pattern, times = self.cut_at
        self.seen += data.count(pattern)
        return self.seen >= times
