"""AWS Lambda entry point: `reranker.handler.handler`.

Built at init, once per execution environment: the app, and the default model loaded and
warmed, so warm invocations only score. Mangum's lifespan is off because it would run on
every invocation.
"""

from __future__ import annotations

import logging
import time

_STARTED = time.perf_counter()  # the imports below are the "import" part of the cold start

from mangum import Mangum  # noqa: E402

from reranker.api.app import create_app  # noqa: E402
from reranker.config import get_settings  # noqa: E402
from reranker.errors import ModelUnavailable  # noqa: E402
from reranker.metrics.emf import LambdaHandler, cold_start_lines, model_loads, with_emf  # noqa: E402
from reranker.model_store.timing import import_seconds, record_import_seconds, since  # noqa: E402

record_import_seconds(since(_STARTED))
settings = get_settings()
app = create_app(settings)
if settings.default_model:
    try:
        app.state.service.warm(settings.default_model)  # fetch, session and warm-up, each timed
    except ModelUnavailable as exc:
        # A store that is down at init must not crash-loop the environment with a traceback:
        # requests get 503 with the reason, and each one retries the fetch until it works.
        logging.getLogger("reranker.handler").error(
            "default model not ready at init; requests will retry it",
            extra={"model": settings.default_model, "error": exc.message},
        )


def _with_metrics(mangum: LambdaHandler) -> LambdaHandler:
    """Return the handler that also writes CloudWatch EMF lines (docs/metrics.md), unless off."""
    if settings.metrics == "off":
        return mangum
    init_seconds = since(_STARTED)
    return with_emf(
        mangum,
        app.state.metrics,
        settings.metrics_namespace,
        cold_start=lambda: cold_start_lines(
            settings.metrics_namespace,
            init_seconds,
            import_seconds(),
            model_loads((m.name, m.cold_start) for m in app.state.service.registry.served()),
        ),
    )


handler = _with_metrics(Mangum(app, lifespan="off"))
logging.getLogger("reranker.handler").info(
    "cold start", extra={"import_seconds": import_seconds(), "init_seconds": since(_STARTED)}
)
