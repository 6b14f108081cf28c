"""Bounded concurrency for CPU-bound scoring.

Scoring runs in worker threads so the event loop stays free (`/health` answers during a
batch). At most `max_concurrency` jobs run and `max_queue` wait; past that the request is
refused with 429 at once, instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

from reranker.errors import Overloaded

P = ParamSpec("P")
T = TypeVar("T")


class ScoringLimiter:
    def __init__(self, max_concurrency: int, max_queue: int) -> None:
        self._max_admitted = max_concurrency + max_queue
        self._admitted = 0
        self._running = asyncio.Semaphore(max_concurrency)

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Return func(*args) computed in a worker thread, or raise Overloaded when full."""
        if self._admitted >= self._max_admitted:
            raise Overloaded("too many requests in flight; retry shortly", retry_after=1)
        self._admitted += 1
        try:
            async with self._running:
                return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))
        finally:
            self._admitted -= 1
