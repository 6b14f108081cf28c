"""Real servers on loopback for the fault tests: uvicorn in a thread (to read the app's state),
`reranker serve` in a child process (to signal it), and a batch slow enough to interrupt.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.fixtures.uvicorn_server import free_port
from tests.hardening.conftest import AUTH

_WORDS = "cell protein gene expression immune response patient study trial dose receptor pathway".split()
# ~1.5 s of scoring for the tiny cross-encoder on 2 idle cores: 1000 documents cut to 128 tokens.
SLOW_BATCH: dict[str, Any] = {
    "model": "tiny-ce",
    "query": "vitamin d and the immune response",
    "documents": [" ".join(random.Random(i).choice(_WORDS) for _ in range(200)) for i in range(1000)],
}
SMALL: dict[str, Any] = {"model": "tiny-ce", "query": "immune", "documents": ["immune cells", "billing"]}
# Settings for a server whose SLOW_BATCH must be caught in flight: one row at a time, so the batch
# takes its full ~1.5 s even where rows would otherwise run one per core.
ONE_SLOT = {"RERANK_MAX_CONCURRENCY": "1", "RERANK_MAX_QUEUE": "0", "RERANK_THREADS": "1"}


@contextmanager
def uvicorn_thread(app: FastAPI, timeout: float = 30.0) -> Iterator[str]:
    """Yield the base URL of `app` served by uvicorn in a thread of this process."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


class Batch:
    """A slow batch (SLOW_BATCH unless given) sent from a thread; `response` is set when answered."""

    def __init__(self, url: str, body: dict[str, Any] | None = None) -> None:
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self._body = body or SLOW_BATCH
        self._thread = threading.Thread(target=self._send, args=(url,), daemon=True)
        self._thread.start()

    def _send(self, url: str) -> None:
        try:
            self.response = httpx.post(f"{url}/v1/rerank", json=self._body, headers=AUTH, timeout=300)
        except Exception as exc:  # reported by the test that waits on it
            self.error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float) -> httpx.Response:
        self._thread.join(timeout)
        assert self.error is None, f"the batch failed: {self.error!r}"
        assert self.response is not None, "the batch got no answer in time"
        return self.response


def batch_in_flight(url: str, attempts: int = 10, body: dict[str, Any] | None = None) -> Batch:
    """Return a slow batch that the server is scoring now, on a server with one slot and no queue.

    A small probe answered 429 proves the batch holds the only slot. If the probe got in first
    (then the batch itself is refused), or the batch ended before a probe saw it, try again.
    """
    for _ in range(attempts):
        batch = Batch(url, body)
        time.sleep(0.2)  # the batch's 1.2 MB upload goes first, or a probe may keep winning the slot
        while not batch.done():
            probe = httpx.post(f"{url}/v1/rerank", json=SMALL, headers=AUTH, timeout=60)
            if probe.status_code == 429:
                return batch
            time.sleep(0.02)
        batch.wait(1)
    raise AssertionError("never caught the slow batch in flight")
