"""Connection floods and a hung model store against `reranker serve`, with figures.

Starts `reranker serve` on a loopback port (the given model as `local`, and an `s3://` model
`remote` whose endpoint is a socket that accepts and never answers), then measures:

- idle flood: N sockets that send nothing; /health latency while they are open; how many are
  still open after 1 s and after the header deadline;
- slow-body flood: M clients sending a body at 1 byte per 330 ms; what each is answered and
  when; /health latency meanwhile;
- hung store: the first `remote` request (answered when boto3 gives up), a `local` request sent
  meanwhile, and a second `remote` request (answered from the remembered failure).

Prints one JSON object. Bounded: every wait has a timeout; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

API_KEY = "abuse-bench-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SMALL = {"query": "immune response", "documents": ["immune cells respond", "billing"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def silent_endpoint() -> tuple[socket.socket, list[socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, held


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def health_probes(url: str, count: int) -> dict[str, Any]:
    times: list[float] = []
    failures = 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            httpx.get(f"{url}/health", timeout=5).raise_for_status()
            times.append(time.perf_counter() - started)
        except httpx.HTTPError:
            failures += 1
        time.sleep(0.05)
    times.sort()
    return {
        "probes": count,
        "failures": failures,
        "p50_ms": ms(times[len(times) // 2]) if times else None,
        "max_ms": ms(times[-1]) if times else None,
    }


def still_open(sockets: Sequence[socket.socket]) -> int:
    count = 0
    for sock in sockets:
        sock.settimeout(0.001)
        try:
            if sock.recv(1) != b"":
                count += 1
        except TimeoutError:
            count += 1
        except OSError:
            pass
    return count


def idle_flood(url: str, address: tuple[str, int], count: int, header_timeout: float) -> dict[str, Any]:
    sockets = []
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(address, timeout=5))
        except OSError:
            break
    opened = time.perf_counter()
    result: dict[str, Any] = {"sockets": len(sockets), "open_at_once": still_open(sockets)}
    result["health"] = health_probes(url, 20)
    result["open_after_probes"] = still_open(sockets)
    result["probes_took_s"] = round(time.perf_counter() - opened, 2)
    time.sleep(max(0.0, header_timeout + 1 - (time.perf_counter() - opened)))
    result["open_after_header_deadline"] = still_open(sockets)
    for sock in sockets:
        sock.close()
    return result


def slow_body_flood(url: str, address: tuple[str, int], clients: int) -> dict[str, Any]:
    body = json.dumps({**SMALL, "model": "local"}).encode()
    head = (
        f"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    statuses: Counter[str] = Counter()
    held: list[float] = []
    lock = threading.Lock()

    def trickle() -> None:
        sock = socket.create_connection(address, timeout=5)
        started = time.perf_counter()
        sock.sendall(head)
        sock.settimeout(0.33)
        answer = b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        sock.close()
        status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
        with lock:
            statuses[status] += 1
            held.append(time.perf_counter() - started)

    threads = [threading.Thread(target=trickle) for _ in range(clients)]
    for thread in threads:
        thread.start()
    health = health_probes(url, 20)
    for thread in threads:
        thread.join(120)
    return {
        "clients": clients,
        "statuses": dict(statuses),
        "held_max_s": round(max(held), 2),
        "health": health,
    }


def hung_store(url: str, held: list[socket.socket]) -> dict[str, Any]:
    first: dict[str, Any] = {}

    def remote() -> None:
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/v1/rerank", json={**SMALL, "model": "remote"}, headers=AUTH, timeout=120
        )
        first.update(status=response.status_code, seconds=round(time.perf_counter() - started, 2))

    thread = threading.Thread(target=remote)
    thread.start()
    time.sleep(0.5)
    started = time.perf_counter()
    local = httpx.post(f"{url}/v1/rerank", json={**SMALL, "model": "local"}, headers=AUTH, timeout=120)
    local_ms = ms(time.perf_counter() - started)
    remote_pending = thread.is_alive()
    thread.join(120)
    started = time.perf_counter()
    again = httpx.post(f"{url}/v1/rerank", json={**SMALL, "model": "remote"}, headers=AUTH, timeout=120)
    again_ms = ms(time.perf_counter() - started)
    connections = len(held)
    started = time.perf_counter()
    third = httpx.post(f"{url}/v1/rerank", json={**SMALL, "model": "remote"}, headers=AUTH, timeout=120)
    return {
        "first_remote": first,
        "local_while_remote_loads": {
            "status": local.status_code,
            "ms": local_ms,
            "remote_pending": remote_pending,
        },
        "second_remote": {"status": again.status_code, "ms": again_ms},
        "third_remote": {
            "status": third.status_code,
            "ms": ms(time.perf_counter() - started),
            "retry_after": third.headers.get("retry-after"),
            "new_store_connections": len(held) - connections,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="exported model folder, served as `local`")
    parser.add_argument("--idle", type=int, default=2000, help="idle sockets to open")
    parser.add_argument("--slow", type=int, default=50, help="slow-body clients")
    parser.add_argument("--header-timeout", type=float, default=10.0, help="RERANK_HEADER_TIMEOUT_SECONDS")
    parser.add_argument("--body-timeout", type=float, default=30.0, help="RERANK_BODY_TIMEOUT_SECONDS")
    args = parser.parse_args(argv)
    listener, held = silent_endpoint()
    port = free_port()
    env = {
        **os.environ,
        "RERANK_API_KEYS": API_KEY,
        "RERANK_MODELS": json.dumps({"local": str(args.model), "remote": "s3://hung/models/remote/1"}),
        "RERANK_DEFAULT_MODEL": "remote",
        "RERANK_S3_ENDPOINT_URL": f"http://127.0.0.1:{listener.getsockname()[1]}",
        "RERANK_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "RERANK_HEADER_TIMEOUT_SECONDS": str(args.header_timeout),
        "RERANK_BODY_TIMEOUT_SECONDS": str(args.body_timeout),
    }
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "reranker.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 120 or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.05)
        report["listening_after_s"] = round(time.perf_counter() - started, 2)
        report["hung_store"] = hung_store(url, held)
        report["idle_flood"] = idle_flood(url, ("127.0.0.1", port), args.idle, args.header_timeout)
        report["slow_body_flood"] = slow_body_flood(url, ("127.0.0.1", port), args.slow)
    finally:
        server.terminate()
        try:
            _, errors = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _, errors = server.communicate()
        listener.close()
    if os.environ.get("ABUSE_LOG"):
        Path(os.environ["ABUSE_LOG"]).write_text(errors)
    report["server_log_bytes"] = len(errors)
    report["log_lines_not_json"] = sum(1 for line in errors.splitlines() if not line.startswith("{"))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
