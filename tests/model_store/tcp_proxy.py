"""A loopback TCP proxy in front of the moto server that can cut a response mid-body.

This is how a test makes "the server goes away mid-download" happen for real: boto3 talks to
the proxy, the proxy forwards bytes both ways, and after `cut_after` response bytes on one
connection it closes both sides (and, with `stop_on_cut`, stops accepting connections).
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class CuttableProxy:
    def __init__(self, target_port: int, *, cut_after: int, cuts: int = 1, stop_on_cut: bool = False) -> None:
        self._target_port = target_port
        self._cut_after = cut_after
        self._cuts_left = cuts
        self._stop_on_cut = stop_on_cut
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cuts_made = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting connections and close every open one: the server is gone."""
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], []
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                self._sockets += [downstream, upstream]
            threading.Thread(target=self._pump, args=(downstream, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, is_response: bool) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if is_response and self._take_cut(sent, len(data)):
                    sink.sendall(data[: max(0, self._cut_after - sent)])
                    if self._stop_on_cut:
                        self.stop()
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        _close(source)
        _close(sink)

    def _take_cut(self, sent: int, incoming: int) -> bool:
        with self._lock:
            if self._cuts_left > 0 and sent + incoming > self._cut_after:
                self._cuts_left -= 1
                self.cuts_made += 1
                return True
        return False


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
