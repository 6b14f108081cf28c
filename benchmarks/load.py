"""Bounded load test: N concurrent clients for M seconds against `reranker serve` on loopback.

Starts the server in a child process (127.0.0.1 only, a free port), runs one phase per client
count, and stops by itself: every phase ends after --seconds, every request has a timeout, and
the server is terminated at the end. For each phase it prints throughput, p50/p99 latency of
the answered requests, the count of every status (and of transport errors), and the latency of
/health probed from a separate thread while the scoring runs: the limiter keeps CPU work off the
event loop and answers 429 + Retry-After past `max_concurrency + max_queue`, so /health stays fast.

    python benchmarks/load.py --model models/all-minilm-l6-v2 --clients 1,4,32 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

API_KEY = "load-test-key"
HOST = "127.0.0.1"
MAX_SECONDS = 600  # no phase runs longer, whatever is asked
_WORDS = (
    "cell protein gene expression immune response patient study clinical trial effect dose receptor "
    "pathway signal tissue tumour model level increase decrease association risk factor cohort analysis "
    "the of and in to a with for by on was were is are that this from at as be"
).split()


@dataclass
class Phase:
    clients: int
    seconds: float
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # answered with 200
    refusals: list[float] = field(default_factory=list)  # answered with 429: how fast a refusal is
    health: list[float] = field(default_factory=list)
    health_failures: int = 0
    retry_after: set[str] = field(default_factory=set)
    client_cpu_s: float = 0.0  # this process: the load generator shares the machine's cores
    server_cpu_s: float | None = None

    def summary(self) -> dict[str, Any]:
        ok = self.statuses.get("200", 0)
        total = sum(self.statuses.values())
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 2),
            "requests": total,
            "ok": ok,
            "throughput_rps": round(ok / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": percentile(self.latencies, 50),
            "p99_ms": percentile(self.latencies, 99),
            "statuses": dict(sorted(self.statuses.items())),
            "rejected_429_share": round(self.statuses.get("429", 0) / total, 3) if total else 0.0,
            "p50_429_ms": percentile(self.refusals, 50),
            "p99_429_ms": percentile(self.refusals, 99),
            "server_errors": sum(n for status, n in self.statuses.items() if status.startswith("5")),
            "retry_after": sorted(self.retry_after),
            "health_probes": len(self.health),
            "health_failures": self.health_failures,
            "health_p50_ms": percentile(self.health, 50),
            "health_p99_ms": percentile(self.health, 99),
            "health_max_ms": round(max(self.health) * 1000, 1) if self.health else None,
            "client_cpu_s": round(self.client_cpu_s, 2),
            "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 2),
        }


def percentile(values: Sequence[float], q: int) -> float | None:
    """Return the q-th percentile of `values` (seconds) in milliseconds, or None when empty."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def payload(model: str, documents: int, words: int, seed: int = 0) -> dict[str, Any]:
    """Return the same request on every run: `documents` texts of `words` words each."""
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(_WORDS) for _ in range(words)) for _ in range(documents)]
    return {
        "model": model,
        "query": "which pathways does vitamin d change in the immune response",
        "documents": texts,
    }


class Server:
    """`reranker serve --model DIR` on a free loopback port, with the given limiter settings."""

    def __init__(
        self, model_dir: Path, max_concurrency: int, max_queue: int, threads: int, log_level: str = "WARNING"
    ) -> None:
        self.url = f"http://{HOST}:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RERANK_")}
        env.update(
            RERANK_API_KEYS=API_KEY,
            RERANK_MAX_CONCURRENCY=str(max_concurrency),
            RERANK_MAX_QUEUE=str(max_queue),
            RERANK_THREADS=str(threads),
            RERANK_LOG_LEVEL=log_level,
            # Every client sends the same body: with the bi-encoder's embedding cache on, only the
            # first request would be scored. Off, each request costs what a new one would.
            RERANK_EMBEDDING_CACHE_SIZE="0",
        )
        self._log = tempfile.TemporaryFile("w+")
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reranker.cli",
                "serve",
                "--model",
                str(model_dir),
                "--host",
                HOST,
                "--port",
                port,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not answer /health in time")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> int:
        """Send SIGTERM (graceful: in-flight requests finish) and return the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def process_cpu_seconds(pid: int) -> float | None:
    """Return user + system CPU seconds of process `pid` (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def probe_health(url: str, phase: Phase, stop: threading.Event, interval: float) -> None:
    """Time GET /health every `interval` seconds from its own thread until `stop` is set."""
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                ok = client.get(f"{url}/health").status_code == 200
            except httpx.TransportError:
                ok = False
            if ok:
                phase.health.append(time.perf_counter() - started)
            else:
                phase.health_failures += 1
            stop.wait(interval)


async def client_loop(
    client: httpx.AsyncClient, url: str, body: bytes, phase: Phase, deadline: float, backoff: float
) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    async with client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await client.post(f"{url}/v1/rerank", content=body, headers=headers)
            except httpx.TransportError as exc:
                phase.statuses[type(exc).__name__] += 1
                await asyncio.sleep(backoff)
                continue
            phase.statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                phase.latencies.append(time.perf_counter() - started)
            elif response.status_code == 429:
                phase.refusals.append(time.perf_counter() - started)
                phase.retry_after.add(response.headers.get("retry-after", ""))
                await asyncio.sleep(backoff)


async def run_phase(url: str, body: bytes, args: argparse.Namespace, clients: int, server_pid: int) -> Phase:
    seconds = min(args.seconds, MAX_SECONDS)
    phase = Phase(clients=clients, seconds=seconds)
    stop = threading.Event()
    prober = threading.Thread(target=probe_health, args=(url, phase, stop, args.health_interval), daemon=True)
    prober.start()
    # Made before the clock starts: each AsyncClient loads the CA bundle (~20 ms of this loop's
    # time), which, made inside the phase, held the first answers of 128 clients ~2.5 s unread and
    # counted that as the server's latency (the 429 p99 of seconds).
    pool = [httpx.AsyncClient(timeout=args.timeout) for _ in range(clients)]
    client_cpu, server_cpu = time.process_time(), process_cpu_seconds(server_pid)
    started = time.monotonic()
    deadline = started + seconds
    try:
        await asyncio.gather(
            *(client_loop(client, url, body, phase, deadline, args.backoff) for client in pool)
        )
    finally:
        stop.set()
        prober.join()
    phase.seconds = time.monotonic() - started  # includes the last requests still in flight at the deadline
    phase.client_cpu_s = time.process_time() - client_cpu
    server_after = process_cpu_seconds(server_pid)
    if server_cpu is not None and server_after is not None:
        phase.server_cpu_s = server_after - server_cpu
    return phase


def model_name(model_dir: Path) -> str:
    name: str = json.loads((model_dir / "model.json").read_text())["name"]
    return name


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| clients | requests | 200/s | p50 ms | p99 ms | statuses | 429 share | 429 p50 / p99 ms "
        "| /health p50 / p99 / max ms | CPU s server / load client |"
    )
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items())
        health = f"{row['health_p50_ms']} / {row['health_p99_ms']} / {row['health_max_ms']}"
        if row["health_failures"]:
            health += f" ({row['health_failures']} failed)"
        lines.append(
            f"| {row['clients']} | {row['requests']} | {row['throughput_rps']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {statuses} | {row['rejected_429_share']} | "
            f"{row['p50_429_ms']} / {row['p99_429_ms']} | {health} "
            f"| {row['server_cpu_s']} / {row['client_cpu_s']} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="exported model folder to serve")
    parser.add_argument(
        "--clients", default="1,8,32,128", help="comma-separated client counts, one phase each"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help=f"per phase (at most {MAX_SECONDS})")
    parser.add_argument("--documents", type=int, default=20, help="documents per request")
    parser.add_argument("--words", type=int, default=60, help="words per document")
    parser.add_argument("--max-concurrency", type=int, default=1, help="RERANK_MAX_CONCURRENCY of the server")
    parser.add_argument("--max-queue", type=int, default=8, help="RERANK_MAX_QUEUE of the server")
    parser.add_argument("--threads", type=int, default=0, help="RERANK_THREADS (0: onnxruntime decides)")
    parser.add_argument("--backoff", type=float, default=0.1, help="a client's pause after a 429, seconds")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    parser.add_argument("--health-interval", type=float, default=0.05, help="seconds between /health probes")
    parser.add_argument(
        "--log-level", default="WARNING", help="RERANK_LOG_LEVEL of the server (INFO: a line per request)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    body = json.dumps(payload(model_name(args.model), args.documents, args.words)).encode()
    server = Server(args.model, args.max_concurrency, args.max_queue, args.threads, args.log_level)
    try:
        server.wait_ready()
        httpx.post(  # one request first, so no phase pays for the first run's allocations
            f"{server.url}/v1/rerank",
            content=body,
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
            timeout=args.timeout,
        ).raise_for_status()
        phases = [
            asyncio.run(run_phase(server.url, body, args, clients, server.process.pid)).summary()
            for clients in counts
        ]
    finally:
        exit_status = server.stop()
    report = {
        "model": model_name(args.model),
        "documents": args.documents,
        "words": args.words,
        "max_concurrency": args.max_concurrency,
        "max_queue": args.max_queue,
        "cpus": os.cpu_count(),
        "server_exit_status": exit_status,
        "phases": phases,
    }
    if args.json:
        print(json.dumps(report))
    else:
        settings = {k: v for k, v in report.items() if k != "phases"}
        print(" ".join(f"{k}={v}" for k, v in settings.items()))
        print(table(phases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
