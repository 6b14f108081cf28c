"""create_app(): the FastAPI application, built from settings; loads no model at import."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from reranker import __version__
from reranker.api.compat.loading import route_compat_on_first_use
from reranker.api.error_renderer import install_error_handlers
from reranker.api.limiter import ScoringLimiter
from reranker.api.metering import install_metrics
from reranker.api.middleware import RequestContextMiddleware
from reranker.api.openapi import install_openapi
from reranker.api.routes import router
from reranker.config import Settings, get_settings
from reranker.errors import ConfigurationError
from reranker.logs import configure_logging
from reranker.registry import ModelRegistry
from reranker.service import RerankService

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    """Return the app; fails fast when the settings leave it unusable (no keys, not open)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    keys = [key.get_secret_value().encode() for key in settings.api_keys]
    if settings.api_keys_secret_id:
        from reranker.keystore import load_api_keys

        loaded = load_api_keys(settings.api_keys_secret_id)
        keys += [key.get_secret_value().encode() for key in loaded]
        logger.info("API keys loaded from Secrets Manager", extra={"key_count": len(loaded)})
    if not keys and not settings.allow_anonymous:
        raise ConfigurationError(
            "no API keys: set RERANK_API_KEYS (or RERANK_API_KEYS_SECRET_ID), "
            "or RERANK_ALLOW_ANONYMOUS=true to serve without auth"
        )
    if settings.allow_anonymous:
        logger.warning("serving WITHOUT authentication (RERANK_ALLOW_ANONYMOUS=true)")

    # /docs and /redoc load Swagger UI and ReDoc from the installed fastapi-offline package, not a CDN.
    app = FastAPIOffline(
        title="Reranker",
        version=__version__,
        description="Rerank candidate documents by relevance to a query with ONNX cross-encoders.",
    )
    registry = registry or ModelRegistry(settings)
    app.state.settings = settings
    app.state.api_keys = keys
    app.state.user_salt = (
        settings.user_hash_salt.get_secret_value().encode() if settings.user_hash_salt else None
    )
    app.state.service = RerankService(registry, settings)
    app.state.limiter = ScoringLimiter(settings, registry)
    app.include_router(router)
    route_compat_on_first_use(app)
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestContextMiddleware, settings=settings, limiter=app.state.limiter)
    install_metrics(app, settings)  # last: its middleware is outermost, so it counts 413s too
    install_openapi(app, settings)
    return app
