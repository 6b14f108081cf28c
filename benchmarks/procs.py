"""Child processes the benchmarks drive: a contender worker (contenders.py) or `reranker serve`.

Both answer `score(set_name) -> (seconds, scores)` so the benchmark loop interleaves them
without caring which is which, and both report their own peak RSS (VmHWM of the child).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx
from common import peak_rss_mb

HERE = Path(__file__).resolve().parent
API_KEY = "benchmark-key"


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a child: offline hub, the repo's src importable, no RERANK_* leaks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RERANK_")}
    env["HF_HUB_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "true"
    return {**env, **(extra or {})}


class Worker:
    """A contenders.py child, ready once it has loaded its model and answered one call.

    `python` may be another venv's interpreter (the benchmark venv's, for FlashRank and Infinity).
    """

    def __init__(
        self,
        label: str,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.label = label
        self._log: IO[str] = tempfile.TemporaryFile("w+")
        self.started = time.perf_counter()
        self._process = subprocess.Popen(
            [python, str(HERE / "contenders.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=child_env(env),
        )
        self.ready: dict[str, Any] = {}

    def wait_ready(self) -> None:
        """Wait for the child's ready line (model loaded, one call made); note the seconds since spawn."""
        self.ready = {**self._read(), "spawn_to_ready_seconds": time.perf_counter() - self.started}

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._log.seek(0)
            raise RuntimeError(f"{self.label} exited:\n{self._log.read()[-3000:]}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        return self._read()

    def load(self, query: str, sets: dict[str, list[str]]) -> None:
        self.call({"op": "docs", "query": query, "sets": sets})

    def score(self, name: str) -> tuple[float, list[float]]:
        reply = self.call({"op": "score", "set": name})
        return float(reply["seconds"]), list(reply["scores"])

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self._process.pid)

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


class ApiServer:
    """`reranker serve --model FOLDER` on a loopback port, scored over HTTP as a client would."""

    def __init__(self, label: str, folder: Path, variant: str, env: dict[str, str] | None = None) -> None:
        self.label = label
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log: IO[str] = tempfile.TemporaryFile("w+")
        settings = {"RERANK_PRECISION": variant, "RERANK_API_KEYS": API_KEY, "RERANK_LOG_LEVEL": "WARNING"}
        self.started = time.perf_counter()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "reranker.cli", "serve", "--model", str(folder), "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env({**settings, **(env or {})}),
        )
        self._client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=600
        )
        self.model = json.loads((folder / "model.json").read_text())["name"]
        self._query = ""
        self._sets: dict[str, list[str]] = {}
        self.ready: dict[str, Any] = {}

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until a first /v1/rerank answers; record the seconds since the spawn."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"{self.label} exited:\n{self._log.read()[-3000:]}")
            try:
                self._rerank("warm up", ["a first call warms the session up"])
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.label} did not answer in {timeout} s") from None
                time.sleep(0.02)
        self.ready = {"first_answer_seconds": time.perf_counter() - self.started}

    def _rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        response = self._client.post(
            "/v1/rerank", json={"model": self.model, "query": query, "documents": documents}
        )
        response.raise_for_status()
        scores = [0.0] * len(documents)
        for result in response.json()["results"]:
            scores[result["index"]] = result["relevance_score"]
        return scores

    def load(self, query: str, sets: dict[str, list[str]]) -> None:
        self._query, self._sets = query, sets

    def score(self, name: str) -> tuple[float, list[float]]:
        started = time.perf_counter()
        scores = self._rerank(self._query, self._sets[name])
        return time.perf_counter() - started, scores

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self._process.pid)

    def close(self) -> None:
        self._client.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()
