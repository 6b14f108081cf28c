"""Feeds the metrics recorder: every request (route template, status, time) and every scoring job;
and the GET /metrics route, which renders it (metrics/prometheus.py).

`install_metrics` is the one call create_app makes: it adds the recorder to the app state, an
outermost middleware (so 413s and 500s are counted too), a limiter wrapper that counts pairs,
tokens and the queue, and GET /metrics unless RERANK_METRICS=off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reranker.api.auth import require_api_key
from reranker.api.limiter import Rerank, RerankAll, ScoringLimiter
from reranker.api.schemas import ERRORS
from reranker.config import Settings
from reranker.metrics.prometheus import render
from reranker.metrics.recorder import UNMATCHED_ROUTE, MetricsRecorder
from reranker.types import RerankRequest, RerankResponse

T = TypeVar("T")


class MetricsMiddleware:
    """Counts each HTTP request under its route template; unknown paths share one label."""

    def __init__(self, app: ASGIApp, recorder: MetricsRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes is answered 500 by Starlette's outermost layer

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.recorder.record_request(
                scope["method"], route_label(scope), status, time.perf_counter() - started
            )


def route_label(scope: Scope) -> str:
    """Return the matched route's template, a mount's prefix (the docs' files), or "unmatched"."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    # A Mount that matched (the docs' files) extended root_path by its prefix.
    prefix: str = scope.get("root_path", "")[len(scope.get("app_root_path", scope.get("root_path", ""))) :]
    if prefix:
        return prefix
    # Answered before routing (413 from the body cap): every API path here is a fixed string, so
    # the path itself is the template when the OpenAPI schema lists it.
    app = scope.get("app")
    path = scope.get("path", "")
    if isinstance(app, FastAPI) and path in app.openapi().get("paths", {}):
        return str(path)
    return UNMATCHED_ROUTE


class MeteredLimiter:
    """The scoring limiter, counting each answered job's pairs and tokens, and the queue depth."""

    def __init__(self, limiter: ScoringLimiter, recorder: MetricsRecorder, max_concurrency: int) -> None:
        self._limiter = limiter
        self._recorder = recorder
        self._max_concurrency = max_concurrency

    @property
    def admitted(self) -> int:
        return self._limiter.admitted

    @property
    def admitted_tokens(self) -> int:
        return self._limiter.admitted_tokens

    @property
    def queue_depth(self) -> int:
        """Jobs admitted but waiting for one of the `max_concurrency` workers."""
        return max(0, self._limiter.admitted - self._max_concurrency)

    def check_room(self) -> None:
        self._limiter.check_room()

    async def run(self, rerank: Rerank, body: RerankRequest, request_id: str) -> RerankResponse:
        """Return the limiter's answer, counting its pairs, tokens and the queue it waited in."""
        queue_depth = self.queue_depth
        result = await self._limiter.run(rerank, body, request_id)
        self._recorder.record_scoring(
            result.model, len(body.documents), result.usage.prompt_tokens, queue_depth
        )
        return result

    async def run_all(
        self, rerank_all: RerankAll, bodies: Sequence[RerankRequest], request_id: str
    ) -> list[RerankResponse]:
        """Return the limiter's answers to several queries run as one job, counted as one job."""
        queue_depth = self.queue_depth
        results = await self._limiter.run_all(rerank_all, bodies, request_id)
        pairs = sum(len(body.documents) for body in bodies)
        tokens = sum(result.usage.prompt_tokens for result in results)
        self._recorder.record_scoring(results[0].model, pairs, tokens, queue_depth)
        return results


def metrics_router(require_key: bool) -> APIRouter:
    """Return the router of GET /metrics, behind the API key unless `require_key` is false."""
    router = APIRouter()
    dependencies = [Depends(require_api_key)] if require_key else []
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **{status: ERRORS[status] for status in ((401, 500) if require_key else (500,))},
    }

    @router.get(
        "/metrics", tags=["ops"], dependencies=dependencies, response_class=Response, responses=responses
    )
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: requests, latency, pairs and tokens scored, queue, model load times."""
        body, content_type = render(request.app.state.metrics, request.app.state)
        return Response(body, media_type=content_type)

    return router


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Attach the recorder, the middleware, the metered limiter and (unless off) GET /metrics."""
    recorder = MetricsRecorder()
    app.state.metrics = recorder
    app.state.limiter = MeteredLimiter(app.state.limiter, recorder, settings.max_concurrency)
    if settings.metrics != "off":
        app.include_router(metrics_router(require_key=settings.metrics == "key"))
    app.add_middleware(MetricsMiddleware, recorder=recorder)
