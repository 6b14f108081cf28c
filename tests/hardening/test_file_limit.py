"""An idle-socket flood against `reranker serve` running under a low open-files limit.

Lambda and containers often run with `ulimit -n` far below the connection cap. The server
must then accept only as many sockets as its descriptors allow (never failing accept() with
EMFILE), keep `/health` answering, and keep its log small: the flood once per interval, not a
traceback per socket.
"""

from __future__ import annotations

import resource
import socket
from pathlib import Path

import httpx
import pytest

from tests.fixtures.uvicorn_server import serve_process
from tests.hardening.conftest import API_KEY, AUTH
from tests.hardening.servers import SMALL

FILE_LIMIT = 512
IDLE_SOCKETS = 1500


def _low_file_limit() -> None:
    """Run in the child before it starts: a hard limit, so the server cannot raise it."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def _enough_descriptors_here() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE_SOCKETS + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the test process may open only {hard} files; the flood needs {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.mark.slow
def test_an_idle_flood_under_a_low_file_limit_leaves_health_answering(tiny_cross_encoder_dir: Path) -> None:
    _enough_descriptors_here()
    # The idle sockets are not closed by the header deadline while the test runs (120 s): health
    # must answer beside them, not once they are gone.
    env = {"RERANK_API_KEYS": API_KEY, "RERANK_HEADER_TIMEOUT_SECONDS": "120"}
    with serve_process(["--model", str(tiny_cross_encoder_dir)], env, preexec_fn=_low_file_limit) as served:
        host, port = served.url.removeprefix("http://").split(":")
        idle: list[socket.socket] = []
        try:
            for _ in range(IDLE_SOCKETS):
                sock = socket.socket()
                sock.settimeout(2.0)
                try:
                    sock.connect((host, int(port)))
                except OSError:
                    sock.close()
                    continue
                idle.append(sock)
            assert len(idle) > FILE_LIMIT, "the flood did not get past the file limit"
            # "Answers", not a speed: five took 0.35 s here, so 30 s each is generous, and well
            # within the header deadline that would otherwise free the flood's descriptors.
            for _ in range(5):
                response = httpx.get(f"{served.url}/health", timeout=30.0)
                assert response.status_code == 200
            scored = httpx.post(f"{served.url}/v1/rerank", json=SMALL, headers=AUTH, timeout=30.0)
            assert scored.status_code == 200, scored.text
            assert [r["index"] for r in scored.json()["results"]] == [0, 1]
        finally:
            for sock in idle:
                sock.close()
            served.process.kill()
        log = served.read_all(10.0)  # serve_process reads the child's output all along
    assert '"cap": 448' in log  # 512 files less the reserve of 64
    assert "out of system resource" not in log
    assert "Traceback" not in log
    assert len(log) < 64_000, f"the log grew to {len(log)} bytes"
