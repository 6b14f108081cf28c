"""Connection abuse against `reranker serve` over loopback: idle and slow sockets, bad HTTP.

Each flood is sent for real to a child process with short deadlines; `/health` must keep
answering (within a 1 s client timeout) and every refusal must be a clean close or an answer
in the spec's JSON shape with the security headers, never uvicorn's plain text or a traceback.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.uvicorn_server import ServeProcess, serve_process
from tests.hardening.conftest import API_KEY

SECURITY = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
LIMITS = {
    "RERANK_API_KEYS": API_KEY,
    "RERANK_MAX_CONNECTIONS": "64",
    "RERANK_HEADER_TIMEOUT_SECONDS": "2",
    "RERANK_BODY_TIMEOUT_SECONDS": "2",
    "RERANK_MAX_HEADER_BYTES": "4096",
}


@pytest.fixture(scope="module")
def server(tiny_cross_encoder_dir: Path) -> Iterator[ServeProcess]:
    with serve_process(["--model", str(tiny_cross_encoder_dir)], LIMITS) as served:
        yield served
    log = "".join(served.output)
    assert "Traceback" not in log


def address(served: ServeProcess) -> tuple[str, int]:
    host, port = served.url.removeprefix("http://").split(":")
    return host, int(port)


def health_answers_within_a_second(url: str, probes: int = 5) -> None:
    for _ in range(probes):
        response = httpx.get(f"{url}/health", timeout=1.0)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


def read_answer(sock: socket.socket, timeout: float) -> bytes:
    """Return all the server sends until it closes the socket (or the timeout passes)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def parse(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    """Return (status, headers, JSON body) of a raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def assert_spec_error(raw: bytes, status: int, type_: str) -> dict[str, str]:
    code, headers, body = parse(raw)
    assert code == status, raw[:300]
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"].startswith("rerank_")
    for name, value in SECURITY.items():
        assert headers[name].lower() == value.lower(), name
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict) and error["type"] == type_ and error["message"]
    return headers


def is_closed(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.slow
def test_an_idle_socket_flood_leaves_health_answering_and_is_closed(server: ServeProcess) -> None:
    idle = [socket.create_connection(address(server)) for _ in range(300)]  # 64 allowed
    try:
        health_answers_within_a_second(server.url)
        # The oldest idle sockets were closed to make room for the newcomers.
        assert sum(is_closed(sock) for sock in idle) >= 300 - 64
        time.sleep(2.5)  # the header deadline closes every socket that sent nothing, plainly
        assert all(read_answer(sock, 1.0) == b"" for sock in idle)
        health_answers_within_a_second(server.url)
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_a_slow_body_flood_is_answered_408_and_health_keeps_answering(server: ServeProcess) -> None:
    body = json.dumps({"model": "tiny-ce", "query": "q", "documents": ["a" * 100]}).encode()
    head = (
        f"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    answers: list[bytes] = []
    lock = threading.Lock()

    def trickle() -> None:
        sock = socket.create_connection(address(server))
        sock.sendall(head)
        sock.settimeout(0.33)
        received = b""
        for byte in body:  # one byte per 330 ms, as the attack did; 2 s of body deadline
            try:
                sock.sendall(bytes([byte]))
                received += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if received:
                break
        received += read_answer(sock, 2.0)
        sock.close()
        with lock:
            answers.append(received)

    clients = [threading.Thread(target=trickle) for _ in range(50)]
    for client in clients:
        client.start()
    time.sleep(0.5)
    health_answers_within_a_second(server.url)
    for client in clients:
        client.join(30)
    assert len(answers) == 50
    for raw in answers:
        headers = assert_spec_error(raw, 408, "request_timeout")
        assert headers["connection"] == "close"
        assert "did not arrive within 2 s" in raw.decode()
    health_answers_within_a_second(server.url)


def test_a_partial_head_gets_408_and_silence_a_plain_close(server: ServeProcess) -> None:
    partial = socket.create_connection(address(server))
    silent = socket.create_connection(address(server))
    partial.sendall(b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\n")
    assert_spec_error(read_answer(partial, 5.0), 408, "request_timeout")
    assert read_answer(silent, 5.0) == b""
    partial.close()
    silent.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n", 431),
    ],
    ids=["bad-request-line", "bad-header", "oversized-head"],
)
def test_http_level_errors_are_json_with_security_headers(
    server: ServeProcess, request_bytes: bytes, status: int
) -> None:
    sock = socket.create_connection(address(server))
    sock.sendall(request_bytes)
    assert_spec_error(read_answer(sock, 5.0), status, "invalid_request")
    sock.close()


def test_an_oversized_head_sent_in_pieces_is_431(server: ServeProcess) -> None:
    sock = socket.create_connection(address(server))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(8):
            sock.sendall(b"a" * 1000)
            time.sleep(0.01)
    except OSError:
        pass  # the server answered and closed once the head passed its cap
    assert_spec_error(read_answer(sock, 5.0), 431, "invalid_request")
    sock.close()


@pytest.mark.slow
def test_when_every_socket_is_busy_a_new_one_gets_503(tiny_cross_encoder_dir: Path) -> None:
    env = {**LIMITS, "RERANK_MAX_CONNECTIONS": "8", "RERANK_BODY_TIMEOUT_SECONDS": "5"}
    with serve_process(["--model", str(tiny_cross_encoder_dir)], env) as served:
        head = b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: 50\r\n\r\n"
        busy = []
        for _ in range(8):  # a request each, its body still to come: none of them is idle
            sock = socket.create_connection(address(served))
            sock.sendall(head + b"{")
            busy.append(sock)
        time.sleep(0.3)
        extra = socket.create_connection(address(served))
        headers = assert_spec_error(read_answer(extra, 5.0), 503, "overloaded")
        assert headers["retry-after"] == "1"
        for sock in busy:
            assert_spec_error(read_answer(sock, 10.0), 408, "request_timeout")
            sock.close()
        health_answers_within_a_second(served.url)
