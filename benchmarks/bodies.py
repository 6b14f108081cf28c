"""Many large bodies at once: what a small request beside them waits, and how far the server grows.

Starts `reranker serve` on loopback (as `load.py` does), sends --large concurrent requests of
about --megabytes MB each (valid: 1000 documents, within every limit), and --delay s later one
small request; prints each status count, the small request's latency, the large ones' p50/max,
and the server's resident memory before and at its peak (VmHWM, Linux) and its CPU seconds.
Bounded: every request has a timeout and the server is stopped at the end.

    python benchmarks/bodies.py --model models/all-minilm-l6-v2 --large 32 --megabytes 5
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
from load import API_KEY, Server, model_name, payload, process_cpu_seconds

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def memory_mb(pid: int, field: str) -> float | None:
    """Return the `field` (VmRSS, VmHWM) of process `pid` in MB, or None off Linux."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def large_body(model: str, megabytes: float) -> bytes:
    """Return a valid request of about `megabytes` MB: 1000 distinct documents of random words."""
    words = int(megabytes * 1_000_000 / 1000 / 5.8)  # ~5.8 characters per word with its space
    return json.dumps(payload(model, 1000, words)).encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="exported model folder to serve")
    parser.add_argument("--large", type=int, default=32, help="concurrent large requests (at most 64)")
    parser.add_argument("--megabytes", type=float, default=5.0, help="size of each (at most 6)")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds before the small request")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    args = parser.parse_args(argv)
    model = model_name(args.model)
    body = large_body(model, min(args.megabytes, 6.0))
    small = {"model": model, "query": "immune", "documents": ["immune cells", "billing"]}
    server = Server(args.model, max_concurrency=1, max_queue=8, threads=0)
    statuses: Counter[str] = Counter()
    seconds: list[float] = []

    def send() -> None:
        started = time.perf_counter()
        try:
            response = httpx.post(
                f"{server.url}/v1/rerank", content=body, headers=HEADERS, timeout=args.timeout
            )
            statuses[str(response.status_code)] += 1
        except httpx.TransportError as exc:
            statuses[type(exc).__name__] += 1
        seconds.append(time.perf_counter() - started)

    try:
        server.wait_ready()
        httpx.post(f"{server.url}/v1/rerank", json=small, headers=HEADERS, timeout=60).raise_for_status()
        pid = server.process.pid
        rss_before, cpu_before = memory_mb(pid, "VmRSS"), process_cpu_seconds(pid)
        threads = [threading.Thread(target=send) for _ in range(min(args.large, 64))]
        for thread in threads:
            thread.start()
        time.sleep(args.delay)
        started = time.perf_counter()
        answer = httpx.post(f"{server.url}/v1/rerank", json=small, headers=HEADERS, timeout=args.timeout)
        small_seconds = time.perf_counter() - started
        for thread in threads:
            thread.join(args.timeout + 10)
        peak, cpu_after = memory_mb(pid, "VmHWM"), process_cpu_seconds(pid)
    finally:
        exit_status = server.stop()
    seconds.sort()
    report = {
        "model": model,
        "large": len(threads),
        "megabytes": round(len(body) / 1e6, 2),
        "large_statuses": dict(statuses),
        "large_p50_s": round(seconds[len(seconds) // 2], 2) if seconds else None,
        "large_max_s": round(seconds[-1], 2) if seconds else None,
        "small_status": answer.status_code,
        "small_seconds": round(small_seconds, 3),
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak,
        "server_cpu_s": None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 2),
        "server_exit_status": exit_status,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
