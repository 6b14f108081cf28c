"""The other APIs' wire formats, included on first use: a cold start serves /v1/rerank without them.

Importing the compat modules and building their routes and schemas cost about 27 ms of a
Lambda init measured here (docs/benchmarks.md); most deployments never receive those formats.
The app's router falls back to `CompatOnFirstUse` when no route matches: it includes the
compat routes once and routes the request again, so the first request of another format pays
that once, and a path that no format serves still gets the 404 (or 405) it got before.
Anything that must see every route (the OpenAPI document) calls `include_compat_routes` first.
"""

from __future__ import annotations

import threading

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from reranker.api.marks import forget_route_lists

_lock = threading.Lock()


def include_compat_routes(app: FastAPI) -> bool:
    """Include the compat routes into `app` unless they are in; return whether this call did."""
    with _lock:
        if getattr(app.state, "compat_routes", False):
            return False
        from reranker.api.compat.router import router

        app.include_router(router)
        forget_route_lists(app.state)
        app.state.compat_routes = True
        return True


class CompatOnFirstUse:
    """The router's fallback: a path no loaded route matched loads the compat routes, then routes again."""

    def __init__(self, app: FastAPI, fallback: ASGIApp) -> None:
        self._app = app
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if include_compat_routes(self._app):
            await self._app.router(scope, receive, send)
        else:
            await self._fallback(scope, receive, send)


def route_compat_on_first_use(app: FastAPI) -> None:
    """Make the compat routes load when the first request that needs them arrives."""
    app.router.default = CompatOnFirstUse(app, app.router.default)
