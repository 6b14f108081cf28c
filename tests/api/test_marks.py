"""The route lists derived from the routes: scoring (early 429), public (no key), documented requests."""

from __future__ import annotations

from pydantic import SecretStr
from starlette.routing import BaseRoute

from reranker.api.app import create_app
from reranker.api.compat.loading import include_compat_routes
from reranker.api.marks import documented_requests, public_paths, scoring_paths
from reranker.config import Settings
from tests.api.test_error_renderer import SCORING_PATHS

DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def app_routes(**overrides: object) -> list[BaseRoute]:
    """Return every route of the app, the compat routes included (they load on first use)."""
    settings = Settings(api_keys=[SecretStr("k")], **overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    include_compat_routes(app)
    return list(app.routes)


def test_every_route_that_scores_is_marked() -> None:
    assert scoring_paths(app_routes()) == frozenset(SCORING_PATHS)


def test_public_routes_are_those_asking_for_no_key() -> None:
    assert public_paths(app_routes()) == {"/health", "/ready", *DOCS}
    assert public_paths(app_routes(metrics="open")) == {"/health", "/ready", "/metrics", *DOCS}


def test_each_scoring_request_schema_names_its_documents() -> None:
    assert documented_requests(app_routes()) == {
        "RerankRequest": "documents",
        "CohereV2Request": "documents",
        "TeiRequest": "texts",
        "InfinityRequest": "documents",
        "VoyageRequest": "documents",
        "MixedbreadRequest": "input",
        "VllmRerankRequest": "documents",
        "VllmScoreRequest": "text_2",
    }
