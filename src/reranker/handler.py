"""AWS Lambda entry point: `reranker.handler.handler`.

Built at init, once per execution environment: the app, and the default model loaded and
warmed, so warm invocations only score. Mangum's lifespan is off because it would run on
every invocation.

Under SnapStart (zip packaging) that init runs once per published version and is snapshotted
with the model fetched and its session created; each environment is then restored from the
snapshot. The runtime hooks below keep restored copies apart: pooled S3 connections are
closed before the snapshot and again after a restore (the next fetch opens its own), and the
`random` generator, which would replay the same sequence in every copy, is re-seeded.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

_STARTED = time.perf_counter()  # the imports below are the "import" part of the cold start

from mangum import Mangum  # noqa: E402

from reranker.api.app import create_app  # noqa: E402
from reranker.api.compat.loading import include_compat_routes  # noqa: E402
from reranker.coldstart import import_seconds, record_import_seconds, since  # noqa: E402
from reranker.config import get_settings  # noqa: E402
from reranker.errors import ModelUnavailable  # noqa: E402
from reranker.metrics.emf import LambdaHandler, cold_start_lines, model_loads, with_emf  # noqa: E402
from reranker.model_store.s3 import S3ModelStore  # noqa: E402
from reranker.model_store.s3client import build_s3_client  # noqa: E402
from reranker.registry import ModelRegistry  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

record_import_seconds(since(_STARTED))
settings = get_settings()
_s3_clients: list[S3Client] = []  # every client the store built, so the hooks can close them


def _new_s3_client() -> S3Client:
    client = build_s3_client(settings)
    _s3_clients.append(client)
    return client


def close_s3_connections() -> None:
    """Close the S3 clients' pooled connections; the next request on a client opens a fresh one.

    A socket frozen in a snapshot is dead (or shared by every restored copy) after a restore.
    """
    for client in _s3_clients:
        client.close()


def before_snapshot() -> None:
    """Run once per published version, before SnapStart snapshots the initialised environment.

    What an ordinary cold start defers to first use (the other wire formats' routes) is built
    here instead, so every restored copy has it for free; then the pooled S3 sockets are closed.
    """
    include_compat_routes(app)
    close_s3_connections()


def after_restore() -> None:
    """Run in each environment restored from a SnapStart snapshot, before its first invocation."""
    random.seed()  # from os.urandom: retry jitter differs between restored copies
    close_s3_connections()
    logging.getLogger("reranker.handler").info("restored from snapshot")


app = create_app(
    settings, ModelRegistry(settings, stores={"s3": S3ModelStore(settings, client_factory=_new_s3_client)})
)
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

try:  # the Lambda Python runtime (3.12+) provides this module; elsewhere there is no snapshot
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:
    pass
else:
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
logging.getLogger("reranker.handler").info(
    "cold start", extra={"import_seconds": import_seconds(), "init_seconds": since(_STARTED)}
)
