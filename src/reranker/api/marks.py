"""Marks on routes, and the lists derived from them: never a list of paths kept beside the routes.

- `@scores({RequestModel: "documents"})` marks an endpoint that scores. Its path gets the early
  429 (api/middleware.py) and each request model it reads, with the name of its documents list,
  gets the limits that are settings written into the OpenAPI document (api/openapi.py).
- A route is public when nothing in its dependencies asks for the API key (`require_api_key`):
  /health, the OpenAPI document and the docs pages, and /metrics under RERANK_METRICS=open.

The lists are read from the app's routes when first needed, and kept on the app's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from starlette.routing import BaseRoute

from reranker.api.auth import require_api_key

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__scores__"


def scores(requests: Mapping[type[BaseModel], str]) -> Callable[[F], F]:
    """Mark an endpoint as one that scores; `requests` maps each body model to its documents' field."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _MARK, dict(requests))
        return endpoint

    return mark


def _flat(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Yield every route of the app with its full path, included routers opened.

    FastAPI 0.16x keeps an included router as one entry and offers `iter_route_contexts`; older
    versions copy the routes into the app, so its list is already flat.
    """
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        yield from routes
        return
    yield from iter_route_contexts(routes)


def _scored_requests(route: Any) -> dict[type[BaseModel], str] | None:
    marked: dict[type[BaseModel], str] | None = getattr(getattr(route, "endpoint", None), _MARK, None)
    return marked


def scoring_paths(routes: Sequence[BaseRoute]) -> frozenset[str]:
    """Return the paths whose POST scores (marked with `@scores`)."""
    return frozenset(
        route.path
        for route in _flat(routes)
        if "POST" in (route.methods or ()) and _scored_requests(route) is not None
    )


def scored_requests(routes: Sequence[BaseRoute]) -> list[tuple[str, type[BaseModel], str]]:
    """Return (path, request model, its documents' field) for each model a scoring POST reads."""
    return [
        (route.path, model, field)
        for route in _flat(routes)
        if "POST" in (route.methods or ())
        for model, field in (_scored_requests(route) or {}).items()
    ]


def documented_requests(routes: Sequence[BaseRoute]) -> dict[str, str]:
    """Return {request schema name: its documents' field} for every model a scoring route reads."""
    found: dict[str, str] = {}
    for route in _flat(routes):
        for model, field in (_scored_requests(route) or {}).items():
            found[model.__name__] = field
    return found


def documents_fields(routes: Sequence[BaseRoute]) -> frozenset[str]:
    """Return the names of the documents' fields the scoring routes read (documents, texts, input, ...)."""
    return frozenset(documented_requests(routes).values())


def _asks_for_key(dependant: Dependant) -> bool:
    return any(sub.call is require_api_key or _asks_for_key(sub) for sub in dependant.dependencies)


def public_paths(routes: Sequence[BaseRoute]) -> frozenset[str]:
    """Return the paths answered without an API key: routes none of whose dependencies check one.

    Mounts (the docs' static files) are not routes with one path, and are left out.
    """
    public: set[str] = set()
    for route in _flat(routes):
        dependant = getattr(route, "dependant", None)
        if isinstance(dependant, Dependant):
            if not _asks_for_key(dependant):
                public.add(route.path)
        elif route.methods is not None and route.path:  # a plain Starlette route: /openapi.json
            public.add(route.path)
    return frozenset(public)


def cached(
    state: Any, name: str, routes: Sequence[BaseRoute], derive: Callable[[Sequence[BaseRoute]], Any]
) -> Any:
    """Return `derive(routes)`, computed once and kept on `state` under `name`."""
    lists: dict[str, Any] | None = getattr(state, "route_lists", None)
    if lists is None:
        lists = state.route_lists = {}
    if name not in lists:
        lists[name] = derive(routes)
    return lists[name]


def forget_route_lists(state: Any) -> None:
    """Drop every list derived so far: routes were added (api/compat/loading.py)."""
    state.route_lists = {}
