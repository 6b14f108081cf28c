"""A stalled server (SIGSTOP, then SIGCONT) answers every request that was sent to it (issue 23, point 6).

Before: after SIGSTOP 5 s / SIGCONT, 4 of 6 keep-alive clients got "connection closed" with no
answer. The process's stall counted as the clients' idle time: every keep-alive timer (and a
header deadline) that fell due while it was stopped fired at once on resuming.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.fixtures.uvicorn_server import serve_process
from tests.hardening.conftest import API_KEY, AUTH
from tests.hardening.servers import SMALL

STALL_SECONDS = 5.0
KEEP_ALIVE = 2  # shorter than the stall, so every idle connection's timer falls due during it


def post(conn: http.client.HTTPConnection) -> None:
    conn.request(
        "POST", "/v1/rerank", body=json.dumps(SMALL), headers={**AUTH, "Content-Type": "application/json"}
    )


def answer(conn: http.client.HTTPConnection) -> int | str:
    """Return the status of the answer on `conn`, or how the connection failed."""
    try:
        response = conn.getresponse()
        response.read()
        return response.status
    except (http.client.HTTPException, OSError) as exc:
        return type(exc).__name__


def test_every_request_sent_during_or_after_a_stall_is_answered(tiny_cross_encoder_dir: Path) -> None:
    env = {"RERANK_API_KEYS": API_KEY, "RERANK_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE)}
    with serve_process(["--model", str(tiny_cross_encoder_dir)], env) as served:
        port = int(served.url.rsplit(":", 1)[1])
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=20) for _ in range(6)]
        for conn in conns:  # each connection has served one request and is idle in keep-alive
            post(conn)
            assert answer(conn) == 200
        os.kill(served.process.pid, signal.SIGSTOP)
        try:
            time.sleep(1.0)
            for conn in conns[:3]:  # sent while the server is stopped
                post(conn)
            time.sleep(STALL_SECONDS - 1.0)
        finally:
            os.kill(served.process.pid, signal.SIGCONT)
        for conn in conns[3:]:  # idle through the stall, sent as it ends
            post(conn)
        fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        post(fresh)
        statuses = [answer(conn) for conn in [*conns, fresh]]
        assert statuses == [200] * 7, statuses
        # The stall is not counted again: a connection idle past the keep-alive after it is closed.
        time.sleep(KEEP_ALIVE * 2 + 1)
        with pytest.raises(OSError):
            post(conns[0])
            conns[0].getresponse()
