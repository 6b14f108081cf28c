"""A loopback Lambda Runtime API: drives a real runtime client (awslambdaric) without AWS.

AWS's Runtime Interface Emulator cannot be had here, so this serves the documented protocol
(`/2018-06-01/runtime/...`) itself: the runtime long-polls `invocation/next`, which answers
with the next queued event and the request-id, deadline and ARN headers; it posts the result
to `invocation/<id>/response` or `/error`, or a failed init to `init/error`. With
`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` the runtime also calls `restore/next` once its
before-snapshot hooks ran: answering it stands for "the snapshot was taken and restored", after
which the runtime runs its after-restore hooks (or posts `restore/error`).

Used by tests/infra (awslambdaric in a subprocess) and infra/image_smoke.py (the real image).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:reranker:live"


@dataclass
class Result:
    """What the runtime posted for one invocation: a response or an error, and when."""

    request_id: str
    kind: str  # "response" or "error"
    body: Any
    error_type: str | None
    seconds: float  # from queuing the event to the runtime's post


@dataclass
class _Pending:
    request_id: str
    event: bytes
    deadline_ms: int
    queued: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None


def trace_id() -> str:
    """Return an X-Ray trace header value of the documented shape."""
    return f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"


class RuntimeApi:
    """The Runtime API on a free loopback port; `invoke` queues an event and waits for its result."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self.first_next_at: float | None = None  # time.time() of the first invocation/next: init done
        self.restore_next_at: float | None = None  # time.time() of restore/next: before-snapshot done
        self.init_error: Any = None
        self.restore_error: Any = None
        self.init_error_type: str | None = None
        self._init_done = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """Return `host:port`, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_init(self, timeout: float) -> bool:
        """Return True once init finished (the first `next`) or failed (`init/error`); False on timeout."""
        return self._init_done.wait(timeout)

    def invoke(self, event: dict[str, Any], timeout: float = 60.0) -> Result:
        """Return the runtime's result for `event`; raise TimeoutError if none comes in `timeout` s."""
        pending = _Pending(
            request_id=str(uuid.uuid4()),
            event=json.dumps(event).encode(),
            deadline_ms=int((time.time() + timeout) * 1000),
        )
        with self._lock:
            self._pending[pending.request_id] = pending
        self._queue.put(pending)
        if not pending.done.wait(timeout) or pending.result is None:
            raise TimeoutError(f"no result for invocation {pending.request_id} within {timeout} s")
        return pending.result

    # --- the server side ------------------------------------------------------------------

    def _next(self) -> _Pending:
        if self.first_next_at is None:
            self.first_next_at = time.time()
            self._init_done.set()
        return self._queue.get()

    def _post(self, request_id: str, kind: str, body: Any, error_type: str | None) -> bool:
        with self._lock:
            pending = self._pending.pop(request_id, None)
        if pending is None:
            return False
        pending.result = Result(request_id, kind, body, error_type, time.perf_counter() - pending.queued)
        pending.done.set()
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK wait

            def log_message(self, format: str, *args: Any) -> None:  # quiet: results are returned
                return

            def _reply(
                self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw) if raw else None
                except ValueError:
                    return raw.decode(errors="replace")

            def do_GET(self) -> None:
                if self.path == f"{PREFIX}/invocation/next":
                    pending = api._next()
                    self._reply(
                        HTTPStatus.OK,
                        pending.event,
                        {
                            "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                            "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
                            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                            "Lambda-Runtime-Trace-Id": trace_id(),
                        },
                    )
                elif self.path == f"{PREFIX}/restore/next":
                    api.restore_next_at = time.time()
                    self._reply(HTTPStatus.OK)
                else:
                    self._reply(HTTPStatus.NOT_FOUND, b'{"errorType": "NotFound"}')

            def do_POST(self) -> None:
                body = self._body()
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                parts = self.path.removeprefix(PREFIX + "/").split("/")
                if parts == ["init", "error"]:
                    api.init_error, api.init_error_type = body, error_type
                    api._init_done.set()
                    self._reply(HTTPStatus.ACCEPTED, b'{"status": "OK"}')
                elif parts == ["restore", "error"]:
                    api.restore_error = body
                    self._reply(HTTPStatus.ACCEPTED, b'{"status": "OK"}')
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    known = api._post(parts[1], parts[2], body, error_type)
                    if known:
                        self._reply(HTTPStatus.ACCEPTED, b'{"status": "OK"}')
                    else:
                        self._reply(HTTPStatus.BAD_REQUEST, b'{"errorType": "InvalidRequestID"}')
                else:
                    self._reply(HTTPStatus.NOT_FOUND, b'{"errorType": "NotFound"}')

        return Handler
