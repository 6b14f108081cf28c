"""`reranker serve`'s HTTP server: uvicorn (h11), with the connection guards uvicorn lacks.

uvicorn 0.55 brings a keep-alive timeout, a cap on the request head (h11's
max_incomplete_event_size), the listen backlog and a graceful-shutdown period; they are used
as they are. It has no deadline for a request's head (a socket that sends nothing, or a
header a byte at a time, is held for ever) and its `limit_concurrency` counts idle sockets,
answers plain text, and so lets idle sockets lock `/health` out. This protocol adds:

- a header deadline: a connection that has not sent a whole request head within
  `header_timeout_seconds` of opening (or of starting its next request) is closed, with a
  408 if it had sent part of one;
- a connection cap: past `max_connections` open sockets, a new one closes the oldest idle
  socket (no request in progress) to make room, or gets 503 when every socket is busy;
- an accept gate (`AcceptGate`): the listener accepts only while the sockets it has open stay
  within the cap plus a few spare descriptors (for the 503s), and stops reading the listener
  until one closes, so accept() never fails for want of a descriptor, whatever the file limit;
  asyncio's own accept loop takes a backlog's worth (2,048) per pass, and logged a traceback
  per failed accept;
- HTTP-level errors (a bad request line, an oversized head) answered in the spec's JSON
  shape with the security headers, not uvicorn's plain text.

The body deadline lives in the request middleware, which sees the body as it streams in.
"""

from __future__ import annotations

import array
import asyncio
import errno
import fcntl
import logging
import resource
import socket
import termios
import time
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from reranker.api.error_renderer import raw_error
from reranker.config import Settings

logger = logging.getLogger(__name__)

# File descriptors kept free beside the sockets: model files, S3 downloads, logs, the listener.
FD_RESERVE = 64
# Of that reserve, sockets the gate may accept past the cap, only to answer them 503 and close.
SPARE_SOCKETS = 16
# Sockets accepted per readiness of the listener, so a flood cannot hold the loop in one pass.
ACCEPT_BATCH = 64
# After accept() fails for want of a descriptor: how long the listener rests, and how often the
# failures are logged (one line per interval, with their count).
ACCEPT_RETRY_SECONDS = 0.5
FLOOD_LOG_SECONDS = 10.0
# A timer that fires this much after its time means the process did not run meanwhile (SIGSTOP,
# a frozen container, a starved CPU): that time is not counted as the client's.
STALL_SECONDS = 1.0


class _Connection(h11.Connection):
    """h11's connection, remembering its last protocol error (whose status hint is 400 or 431)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.last_error = exc
            raise


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a header deadline, a connection cap and JSON HTTP errors."""

    header_timeout = 10.0
    max_connections = 1000
    max_header_bytes = 16_384

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _Connection(h11.SERVER, self.max_header_bytes)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_due = 0.0
        self._partial = False
        self._evicted = False
        self.opened = time.monotonic()
        self.gate: AcceptGate | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._evict_idle():
            message = "the server has too many open connections; retry shortly"
            self._refuse(503, "Service Unavailable", "overloaded", message, [(b"retry-after", b"1")])
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)
        if self.gate is not None:
            self.gate.release()
            self.gate = None

    def data_received(self, data: bytes) -> None:
        if self._between_requests():
            self._partial = True
            self._arm_header_timer()
        super().data_received(data)
        if not self._between_requests():
            self._cancel_header_timer()  # the request's head is complete
        elif self.timeout_keep_alive_task is None and self._header_timer is None:
            # The rest of a body answered early (429 from the head) has arrived: the socket is
            # idle again, with uvicorn's keep-alive timer cancelled by that data.
            self._arm_header_timer()

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error if isinstance(self.conn, _Connection) else None
        if error is not None and error.error_status_hint == 431:
            message = f"the request line and headers are larger than {self.max_header_bytes} bytes"
            self._refuse(431, "Request Header Fields Too Large", "invalid_request", message)
        else:
            self._refuse(400, "Bad Request", "invalid_request", "the request is not valid HTTP/1.1")

    def _between_requests(self) -> bool:
        """Return True when no request is in progress: none begun, or answered and fully received."""
        answered = self.cycle is None or self.cycle.response_complete
        return answered and self.conn.their_state is not h11.SEND_BODY

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_due = self.loop.time() + self.header_timeout
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        self._partial = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def timeout_keep_alive_handler(self) -> None:
        """Close an idle keep-alive socket, unless the server stalled or a request is waiting.

        After a stall every keep-alive timer that fell due fires at once, before the requests
        sent meanwhile are read: closing then would drop them unanswered (a reset, since the
        socket holds unread bytes). The socket gets back the time the server did not run.
        """
        timer = self.timeout_keep_alive_task
        grace = self._grace(timer.when() if timer is not None else self.loop.time())
        if grace and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(grace, self.timeout_keep_alive_handler)
            return
        super().timeout_keep_alive_handler()

    def _grace(self, due: float) -> float:
        """Return how much longer a timer due at `due` should wait: 0 to act now.

        The time the process did not run (a timer late by more than STALL_SECONDS), or a short
        wait when bytes are already waiting in the socket, unread (the loop reads them next).
        """
        late = self.loop.time() - due
        if late > STALL_SECONDS:
            return late
        return STALL_SECONDS if self._unread_bytes() else 0.0

    def _unread_bytes(self) -> int:
        """Return how many bytes the kernel holds for this socket that have not been read."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return 0
        waiting = array.array("i", [0])
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, waiting)
        except OSError:
            return 0
        return waiting[0]

    def _header_deadline(self) -> None:
        due = self._header_due
        self._header_timer = None
        if self.transport.is_closing() or not self._between_requests():
            return
        late = self.loop.time() - due
        if late > STALL_SECONDS:  # the server stalled: the socket gets that time back, once per stall
            self._header_due = self.loop.time() + late
            self._header_timer = self.loop.call_later(late, self._header_deadline)
            return
        if self._partial:
            message = f"the request line and headers did not arrive within {self.header_timeout:g} s"
            self._refuse(408, "Request Timeout", "request_timeout", message)
        else:
            self.transport.close()  # sent nothing: a plain close, as for an idle keep-alive socket

    def _evict_idle(self) -> bool:
        """Close the oldest socket with no request in progress; return False if there is none."""
        idle = [
            connection
            for connection in self.connections
            if isinstance(connection, GuardedH11Protocol)
            and connection is not self
            and not connection._evicted
            and connection._between_requests()
        ]
        if not idle:
            return False
        victim = min(idle, key=lambda connection: connection.opened)
        victim._evicted = True
        victim._cancel_header_timer()
        victim.transport.close()
        return True

    def _refuse(
        self,
        status: int,
        reason: str,
        type_: str,
        message: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(raw_error(status, reason, type_, message, extra or []))
            self.transport.close()


def connection_cap(wanted: int) -> int:
    """Return how many sockets may be open: `wanted`, or fewer if the file limit is lower.

    Raises the soft open-files limit towards the hard one first, so the cap is the setting's
    where the system allows it; accept() then never fails for want of a descriptor.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft - FD_RESERVE))


def protocol_for(settings: Settings, max_connections: int) -> type[GuardedH11Protocol]:
    """Return the protocol class with this deployment's limits."""
    return type(
        "ConfiguredH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "max_connections": max_connections,
            "max_header_bytes": settings.max_header_bytes,
        },
    )


class RateLimitedLog:
    """Counts a recurring event and logs it at most once per `interval` s, with the count."""

    def __init__(self, message: str, interval: float = FLOOD_LOG_SECONDS) -> None:
        self.message = message
        self.interval = interval
        self._count = 0
        self._logged_at = -interval

    def note(self, **extra: object) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._logged_at >= self.interval:
            logger.warning(self.message, extra={"count": self._count, "seconds": self.interval, **extra})
            self._count = 0
            self._logged_at = now


class AcceptGate:
    """Accepts from one listening socket only while the sockets it opened fit `limit`.

    Replaces asyncio's accept loop for the socket (loop.remove_reader / add_reader on the
    listener, loop.connect_accepted_socket for each socket): at the limit it stops reading the
    listener, so new connections wait in the kernel's backlog, and reads it again when one of
    its sockets closes. The protocol's own cap (evict the oldest idle socket, or 503) acts on
    each socket accepted past `max_connections`, within the spare descriptors.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        make_protocol: Callable[[], GuardedH11Protocol],
        limit: int,
        failures: RateLimitedLog,
    ) -> None:
        self._loop = loop
        self._listener = listener
        self._make_protocol = make_protocol
        self.limit = limit
        self.open = 0
        self._reading = False
        self._failures = failures

    def start(self) -> None:
        self._loop.remove_reader(self._listener.fileno())  # asyncio's own accept loop
        self._resume()

    def release(self) -> None:
        """Note that one of the gate's sockets closed; read the listener again if it had paused."""
        self.open -= 1
        if not self._reading and self.open < self.limit:
            self._resume()

    def _resume(self) -> None:
        if self._listener.fileno() == -1:
            return  # the server closed it (shutdown)
        self._loop.add_reader(self._listener.fileno(), self._accept)
        self._reading = True

    def _pause(self) -> None:
        if self._reading and self._listener.fileno() != -1:
            self._loop.remove_reader(self._listener.fileno())
        self._reading = False

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.open >= self.limit:
                self._pause()  # resumed by release()
                return
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                # Descriptors used elsewhere in the process (model files, downloads): rest a while.
                self._failures.note(open_sockets=self.open, error=errno.errorcode.get(exc.errno, ""))
                self._pause()
                self._loop.call_later(ACCEPT_RETRY_SECONDS, self._retry)
                return
            conn.setblocking(False)
            self.open += 1
            protocol = self._make_protocol()
            protocol.gate = self
            self._loop.create_task(self._connect(conn, protocol))

    def _retry(self) -> None:
        if not self._reading and self.open < self.limit:
            self._resume()

    async def _connect(self, conn: socket.socket, protocol: GuardedH11Protocol) -> None:
        try:
            await self._loop.connect_accepted_socket(lambda: protocol, conn)
        except Exception:
            if protocol.gate is not None:  # connection_made never ran, so connection_lost will not
                protocol.gate = None
                self.release()
            conn.close()


def _log_accept_failures(
    failures: RateLimitedLog,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """Return a loop exception handler that logs asyncio's accept failures once per interval."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            failures.note()
        else:
            loop.default_exception_handler(context)

    return handle


class Server(uvicorn.Server):
    """uvicorn's server, accepting through an `AcceptGate` and logging where it listens."""

    cap = 1000

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # The listening socket is bound here, so the gate holds the socket itself (asyncio's
        # server hands out only wrappers that cannot accept); it is handed on to uvicorn.
        listeners = sockets if sockets is not None else [self.config.bind_socket()]
        await super().startup(listeners)
        if not self.started:
            return
        loop = asyncio.get_running_loop()
        failures = RateLimitedLog("accept failed: out of file descriptors; connections wait in the backlog")
        loop.set_exception_handler(_log_accept_failures(failures))
        config = self.config

        def make_protocol() -> GuardedH11Protocol:
            protocol: GuardedH11Protocol = config.http_protocol_class(  # type: ignore[call-arg,assignment]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return protocol

        self.gates = [
            AcceptGate(loop, sock, make_protocol, self.cap + SPARE_SOCKETS, failures) for sock in listeners
        ]
        for gate in self.gates:
            gate.start()
        logger.info("listening", extra={"addresses": [str(sock.getsockname()[:2]) for sock in listeners]})


def build_server(app: Any, settings: Settings, host: str, port: int, graceful_seconds: int) -> Server:
    """Return the uvicorn server for `app` with every connection limit of `settings` applied."""
    cap = connection_cap(settings.max_connections)
    if cap < settings.max_connections:
        logger.warning(
            "connection cap lowered to fit the open-files limit",
            extra={"max_connections": settings.max_connections, "cap": cap},
        )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(settings, cap),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=settings.keep_alive_seconds,
        backlog=settings.backlog,
        timeout_graceful_shutdown=graceful_seconds,
        log_config=None,
        access_log=False,
        log_level="warning",
    )
    server = Server(config)
    server.cap = cap
    return server
