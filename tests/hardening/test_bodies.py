"""Refusals decided from the head, and the bodies held at once bounded (issue 23, points 4 and 5).

Against `reranker serve` on loopback, with raw sockets so a body can be left half sent:
- a 429 under overload does not wait for, read or hold the body (before: the whole body was
  read first, so a refusal cost its upload, and a slow one held a socket for the body deadline);
- large bodies count toward `RERANK_MAX_BUFFERED_BODY_BYTES` from their Content-Length (or as they
  stream): past it 429 before more is read, so many large uploads at once cannot grow the
  server without bound (before: 32 x 5 MB grew it from 195 to 523 MB) and a small request
  beside them is answered.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from tests.fixtures.uvicorn_server import serve_process
from tests.hardening.conftest import API_KEY, AUTH
from tests.hardening.servers import ONE_SLOT, SLOW_BATCH, SMALL, batch_in_flight


def open_upload(url: str, length: int, sent: bytes = b"", key: str = API_KEY) -> socket.socket:
    """Return a socket that has sent a POST /v1/rerank head declaring `length` bytes, then `sent`."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    head = (
        f"POST /v1/rerank HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def read_answer(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """Return (status, head and body so far) of the first answer on `sock` within `timeout` s."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1]), head + b"\r\n\r\n" + rest


def answered_within(sock: socket.socket, timeout: float) -> bool:
    try:
        read_answer(sock, timeout)
    except TimeoutError:
        return False
    return True


def test_a_refusal_under_overload_does_not_wait_for_the_body(
    tiny_cross_encoder_dir: Path, default_model_dir: Path
) -> None:
    env = {"RERANK_API_KEYS": API_KEY, **ONE_SLOT, "RERANK_HEADER_TIMEOUT_SECONDS": "1"}
    models = ["--model", str(tiny_cross_encoder_dir), "--model", str(default_model_dir)]
    with serve_process(models, env) as served:
        # Seconds of MiniLM work hold the one slot through every step below (the tiny model's
        # batch can end in between); the small probes go to the tiny model.
        batch = batch_in_flight(served.url, body={**SLOW_BATCH, "model": "all-minilm-l6-v2"})
        body = json.dumps(SMALL).encode() + b" " * 1_000_000
        sock, idle = open_upload(served.url, len(body)), open_upload(served.url, len(body))  # heads only
        # No byte of either body is sent before its 429 is read: the refusal cannot have waited
        # for the body. A server that did would answer 408 at the 30 s body deadline, after this
        # 20 s read gives up (was: both within 1 s of wall time).
        for upload in (sock, idle):
            status, answer = read_answer(upload, timeout=20)
            assert status == 429 and b"retry-after: 1" in answer.lower(), answer
        # Without a valid key the answer is 401, as before the body was read.
        with open_upload(served.url, len(body), key="wrong") as stranger:
            assert read_answer(stranger, timeout=2)[0] == 401
        # The body then sent is read past; the connection serves its next request.
        sock.sendall(body + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(sock, timeout=10)[0] == 200
        sock.close()
        # One that sends the rest and then nothing is closed plainly at the header deadline
        # (no unasked-for 408 on an idle socket, and not held open for ever).
        # The 1 s header deadline closes it; the next thing that would is the 75 s keep-alive
        # timeout, so a 30 s read tells them apart without timing it (was: closed within 3 s).
        idle.sendall(body)
        idle.settimeout(30)
        assert idle.recv(65536) == b""
        idle.close()
        assert batch.wait(60).status_code == 200


def test_large_bodies_held_at_once_are_bounded(tiny_cross_encoder_dir: Path) -> None:
    env = {"RERANK_API_KEYS": API_KEY, "RERANK_MAX_BUFFERED_BODY_BYTES": str(4 * 1024 * 1024)}
    with serve_process(["--model", str(tiny_cross_encoder_dir)], env) as served:
        two_mb = 2 * 1024 * 1024
        held = [open_upload(served.url, two_mb, b"{" + b" " * 100_000) for _ in range(2)]
        time.sleep(0.3)  # both heads are in: 4 MiB counted
        refused = [open_upload(served.url, two_mb, b"{") for _ in range(2)]
        for sock in refused:
            status, answer = read_answer(sock, timeout=2)
            assert status == 429 and b"MiB of request bodies" in answer, answer
        # A small body is not counted: it is answered beside them.
        small = httpx.post(f"{served.url}/v1/rerank", json=SMALL, headers=AUTH, timeout=10)
        assert small.status_code == 200, small.text
        assert not any(answered_within(sock, 0.2) for sock in held)  # still waiting for their bodies
        for sock in [*held, *refused]:
            sock.close()
        time.sleep(0.3)  # the disconnects give their bytes back
        documents = ["immune cells " * 150] * 1000  # ~2 MB
        big = httpx.post(
            f"{served.url}/v1/rerank",
            json={"model": "tiny-ce", "query": "immune", "documents": documents, "top_n": 1},
            headers=AUTH,
            timeout=60,
        )
        assert big.status_code == 200, big.text
