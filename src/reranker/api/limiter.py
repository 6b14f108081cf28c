"""Admission of scoring work: by requests and by estimated tokens, with a deadline each.

Scoring runs in worker threads so the event loop stays free (`/health` answers during a
batch). Before a request waits for one of the `max_concurrency` slots, its model is loaded
(outside any slot, see `ModelRegistry`; a request waits at most `model_load_wait_seconds` for
that, then gets 503 "still loading" while the load goes on) and its cost estimated (`reranker.cost`): it is
refused with 429 at once when `max_concurrency + max_queue` requests are already admitted or
when its tokens would take the admitted work past `max_admitted_tokens` (a request larger than
that runs only when nothing else is admitted). Each admitted request has a deadline: past it,
waiting ends with 503 and scoring stops before its next batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from reranker.config import Settings
from reranker.cost import estimate_tokens
from reranker.deadline import Deadline, run_within
from reranker.errors import Overloaded
from reranker.registry import ModelRegistry
from reranker.types import RerankRequest, RerankResponse

Rerank = Callable[[RerankRequest, str], RerankResponse]
RerankAll = Callable[[Sequence[RerankRequest], str], list[RerankResponse]]
T = TypeVar("T")


# Bodies up to this size are not counted toward `max_buffered_body_bytes`: a small request is
# never refused for the large ones (their total is bounded by the connection cap).
SMALL_BODY_BYTES = 64 * 1024


class ScoringLimiter:
    def __init__(self, settings: Settings, registry: ModelRegistry) -> None:
        self._settings = settings
        self._registry = registry
        self._max_admitted = settings.max_concurrency + settings.max_queue
        self._max_tokens = settings.max_admitted_tokens
        self._admitted = 0
        self._tokens = 0
        self._running = asyncio.Semaphore(settings.max_concurrency)
        self._threads = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="score")
        self._max_body_bytes = settings.max_buffered_body_bytes
        self._body_bytes = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def admitted_tokens(self) -> int:
        return self._tokens

    @property
    def buffered_body_bytes(self) -> int:
        return self._body_bytes

    def check_room(self) -> None:
        """Raise Overloaded when no request at all would be admitted now (checked before the body is read)."""
        self._admit(1)

    def hold_body(self, counted: int, size: int) -> int:
        """Return the bytes now counted for a request whose body holds `size` (`counted` so far).

        Raises Overloaded when the bodies held at once would pass `max_buffered_body_bytes` (one
        larger than that is read only while no other large body is held). A body up to
        SMALL_BODY_BYTES is not counted. The caller gives the count back with `release_body`.
        """
        if size <= SMALL_BODY_BYTES or size <= counted:
            return counted
        others = self._body_bytes - counted
        if others and others + size > self._max_body_bytes:
            raise Overloaded(
                f"the server holds {self._body_bytes // 1_048_576} MiB of request bodies (at most "
                f"{self._max_body_bytes // 1_048_576} MiB at once); retry shortly, or send a smaller body",
                retry_after=1,
            )
        self._body_bytes += size - counted
        return size

    def release_body(self, held: int) -> None:
        """Give back the body bytes `hold_body` counted for a request that has finished."""
        self._body_bytes -= held

    async def run(self, rerank: Rerank, body: RerankRequest, request_id: str) -> RerankResponse:
        """Return rerank(body, request_id) computed in a worker thread within the deadline.

        Raises Overloaded (429) when it cannot be admitted, InvalidRequest (400) when its cost
        cannot be bounded (chunking past `max_chunked_chars`), DeadlineExceeded (503) past the
        deadline, ModelUnavailable (503) when the model cannot be loaded in time.
        """
        return await self._run([body], functools.partial(rerank, body, request_id))

    async def run_all(
        self, rerank_all: RerankAll, bodies: Sequence[RerankRequest], request_id: str
    ) -> list[RerankResponse]:
        """Return rerank_all(bodies, request_id): several queries of one model as one request.

        One admission for their summed cost, one slot, one deadline (vLLM's N:N score), so a
        request of many queries is refused or run whole, never admitted query by query.
        """
        return await self._run(bodies, functools.partial(rerank_all, bodies, request_id))

    async def _run(self, bodies: Sequence[RerankRequest], work: Callable[[], T]) -> T:
        deadline = Deadline(self._settings.request_timeout_seconds)
        wait = min(deadline.remaining(), self._settings.model_load_wait_seconds)
        scorer = await self._registry.aget(bodies[0].model, timeout=wait)
        cost = sum(estimate_tokens(body, scorer.manifest.max_length, self._settings) for body in bodies)
        self._admit(cost)
        self._admitted += 1
        self._tokens += cost
        try:
            try:
                await asyncio.wait_for(self._running.acquire(), deadline.remaining())
            except TimeoutError:
                raise deadline.exceeded() from None
            try:
                # The scoring threads are our own: anyio's would import its asyncio backend at
                # the first request (~10 ms of a cold start). A cancelled wait abandons the
                # thread, which stops before its next batch once the deadline is cancelled below.
                job = functools.partial(run_within, deadline, work)
                context = contextvars.copy_context()
                return await asyncio.get_running_loop().run_in_executor(self._threads, context.run, job)
            except asyncio.CancelledError:
                deadline.cancel()  # shutdown: the abandoned thread stops before its next batch
                raise
            finally:
                self._running.release()
        finally:
            self._admitted -= 1
            self._tokens -= cost

    def _admit(self, cost: int) -> None:
        if self._admitted >= self._max_admitted:
            raise Overloaded("too many requests in flight; retry shortly", retry_after=1)
        if self._tokens and self._tokens + cost > self._max_tokens:
            raise Overloaded(
                f"the server holds about {self._tokens} tokens of work (at most {self._max_tokens} at "
                "once); retry shortly, or send fewer or shorter documents",
                retry_after=1,
            )
