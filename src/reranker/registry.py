"""Model name, alias or deployment id -> a loaded scorer, loaded once and cached.

Loads run in their own thread, never in a scoring slot: one load per model at a time
(single flight: every caller waits on the same future), and after a failure the model is
answered 503 at once, with Retry-After, until its retry window opens (doubling per failure up
to a cap). So a model whose store hangs costs its own callers one load's time and then
milliseconds, and never delays the other models or the server's start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from reranker.coldstart import ColdStart, since
from reranker.config import Settings, load_settings
from reranker.errors import ConfigurationError, ModelNotFound, ModelUnavailable, RerankError
from reranker.manifest import FileEntry, Manifest
from reranker.model_store.base import FileSelector, ModelStore, Resolved
from reranker.model_store.local import LocalModelStore
from reranker.model_store.s3 import S3ModelStore
from reranker.scoring.graph_choice import choose_graph, serving_files
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import RuntimeOptions, Scorer

logger = logging.getLogger(__name__)

ScorerLoader = Callable[[Path, Manifest, RuntimeOptions], Scorer]


@dataclass(frozen=True)
class _Failure:
    error: ModelUnavailable
    failures: int
    retry_at: float


@dataclass(frozen=True)
class ServedModel:
    name: str
    aliases: tuple[str, ...]
    scorer: Scorer | None
    cold_start: ColdStart | None = None
    # The store alias the model's URI named (`name@prod`) and what it resolved to at load.
    resolved: Resolved | None = None


def runtime_options(settings: Settings) -> RuntimeOptions:
    """Return the settings the scoring engine reads, as its own small frozen object."""
    return RuntimeOptions(
        precision=settings.precision,
        runtime=settings.runtime,
        device=settings.device,
        threads=settings.threads,
        spin_threads=settings.spin_threads,
        rows_alone=settings.rows_alone,
        batch_token_budget=settings.batch_token_budget,
        max_batch_size=settings.max_batch_size,
        max_query_tokens=settings.max_query_tokens,
        embedding_cache_size=settings.embedding_cache_size,
    )


def graph_files(options: RuntimeOptions) -> FileSelector:
    """Return the selection a store fetches for serving: the files of the graph `choose_graph` picks.

    So an unservable setting (bf16 on onnxruntime, no static int8 IR) fails before a download,
    and the loader later opens the same graph.
    """

    def select(manifest: Manifest) -> dict[str, FileEntry]:
        try:
            choice = choose_graph(manifest, options)
        except ConfigurationError as exc:
            raise ModelUnavailable(f"model {manifest.name!r} cannot be served: {exc.message}") from exc
        return serving_files(manifest, choice)

    return select


def folder_settings(folders: Sequence[Path]) -> Settings:
    """Return the settings that serve model folders: each under its manifest's name and aliases,
    the first as the default model; every other setting from the environment as usual.

    What `reranker serve --model` and an in-process eval of a model folder both serve.
    """
    models: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for folder in folders:
        manifest = LocalModelStore().fetch(str(folder), label=folder.name).manifest
        models[manifest.name] = str(folder.resolve())
        aliases.update(dict.fromkeys(manifest.aliases, manifest.name))
    return load_settings(models=models, aliases=aliases, default_model=next(iter(models)))


def uri_scheme(uri: str) -> str:
    return uri.split("://", 1)[0] if "://" in uri else "file"


class ModelRegistry:
    """Resolves what a request names to a served model and loads it on first use."""

    def __init__(
        self,
        settings: Settings,
        stores: Mapping[str, ModelStore] | None = None,
        loader: ScorerLoader = load_scorer,
    ) -> None:
        self._settings = settings
        self._options = runtime_options(settings)
        self._files = graph_files(self._options)
        # Stores by URI scheme; the S3 store builds its boto3 client only on its first fetch.
        self._stores: Mapping[str, ModelStore] = {
            "file": LocalModelStore(),
            "s3": S3ModelStore(settings),
            **(stores or {}),
        }
        self._loader = loader
        self._scorers: dict[str, Scorer] = {}
        self._cold: dict[str, ColdStart] = {}
        self._resolved: dict[str, Resolved] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, concurrent.futures.Future[Scorer]] = {}
        self._failed: dict[str, _Failure] = {}
        self._warmed: set[str] = set()

    def resolve(self, requested: str) -> str:
        """Return the served model name that `requested` (name, alias, deployment id) means."""
        name = self._settings.aliases.get(requested, requested)
        if name not in self._settings.models:
            raise ModelNotFound(
                f"model {requested!r} is not served here; GET /v1/models lists the models",
                param="model",
            )
        return name

    def get(self, requested: str, timeout: float | None = None) -> Scorer:
        """Return the loaded scorer for `requested`, waiting at most `timeout` s for its load."""
        future = self._load_future(self.resolve(requested))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise self._still_loading(requested) from None

    async def aget(self, requested: str, timeout: float | None = None) -> Scorer:
        """Return the loaded scorer for `requested`; waits on the event loop, holding no thread."""
        future = self._load_future(self.resolve(requested))
        if future.done():
            return future.result()
        waited = asyncio.wrap_future(future)
        try:
            # shield: a caller that gives up must not cancel the load the others wait for.
            return await asyncio.wait_for(asyncio.shield(waited), timeout)
        except TimeoutError:
            # Its outcome is no longer awaited here; read it, so asyncio does not log it as lost.
            waited.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise self._still_loading(requested) from None

    def loaded(self, requested: str) -> Scorer | None:
        """Return the scorer for `requested` if it is loaded, without loading it."""
        return self._scorers.get(self.resolve(requested))

    def warmed(self, requested: str) -> bool:
        """Return True once `requested` is loaded and has scored its warm-up pair."""
        name = self.resolve(requested)
        return name in self._warmed and name in self._scorers

    def last_failure(self, requested: str) -> str | None:
        """Return the message of `requested`'s last failed load, if its last load failed."""
        failed = self._failed.get(self.resolve(requested))
        return failed.error.message if failed else None

    def _still_loading(self, requested: str) -> ModelUnavailable:
        return ModelUnavailable(f"model {requested!r} is still loading; retry shortly", retry_after=1)

    def _load_future(self, name: str) -> concurrent.futures.Future[Scorer]:
        """Return the future of `name`'s scorer: done when loaded, shared while a load runs.

        Raises ModelUnavailable at once while a failed load's retry window is open.
        """
        with self._lock:
            future: concurrent.futures.Future[Scorer] = concurrent.futures.Future()
            scorer = self._scorers.get(name)
            if scorer is not None:
                future.set_result(scorer)
                return future
            pending = self._loading.get(name)
            if pending is not None:
                return pending
            failed = self._failed.get(name)
            wait = failed.retry_at - time.monotonic() if failed else 0.0
            if failed is not None and wait > 0:
                raise ModelUnavailable(failed.error.message, retry_after=max(1, math.ceil(wait)))
            # Marked running before any waiter exists, so no waiter can cancel it.
            future.set_running_or_notify_cancel()
            self._loading[name] = future
        threading.Thread(
            target=self._load_into, args=(name, future), name=f"load-{name}", daemon=True
        ).start()
        return future

    def _load_into(self, name: str, future: concurrent.futures.Future[Scorer]) -> None:
        try:
            scorer = self._load(name)
        except BaseException as exc:
            error = (
                exc
                if isinstance(exc, ModelUnavailable)
                else ModelUnavailable(f"model {name!r} could not be loaded; try again shortly")
            )
            if not isinstance(exc, ModelUnavailable):
                logger.error("model load failed unexpectedly", exc_info=exc, extra={"model": name})
            with self._lock:
                failures = self._failed[name].failures + 1 if name in self._failed else 1
                window = min(
                    self._settings.model_retry_max_seconds,
                    self._settings.model_retry_seconds * 2 ** (failures - 1),
                )
                self._failed[name] = _Failure(error, failures, time.monotonic() + window)
                del self._loading[name]
            logger.error(
                "model load failed",
                extra={"model": name, "error": error.message, "failures": failures, "retry_seconds": window},
            )
            error.retry_after = max(1, math.ceil(window))
            future.set_exception(error)
            return
        with self._lock:
            self._scorers[name] = scorer
            self._failed.pop(name, None)
            del self._loading[name]
        future.set_result(scorer)

    def served(self) -> list[ServedModel]:
        """Return every configured model with its aliases, and its scorer once loaded."""
        return [
            ServedModel(
                name=name,
                aliases=tuple(a for a, target in self._settings.aliases.items() if target == name),
                scorer=self._scorers.get(name),
                cold_start=self._cold.get(name),
                resolved=self._resolved.get(name),
            )
            for name in self._settings.models
        ]

    def _load(self, name: str) -> Scorer:
        uri = self._settings.models[name]
        store = self._stores.get(uri_scheme(uri))
        if store is None:
            raise ModelUnavailable(f"model {name!r} has a URI scheme this deployment cannot read")
        started = time.perf_counter()
        try:
            local = store.fetch(uri, label=name, files=self._files)
            fetched = time.perf_counter()
            scorer = self._loader(local.folder, local.manifest, self._options)
        except ModelUnavailable:
            raise
        except RerankError as exc:
            raise ModelUnavailable(f"model {name!r} could not be loaded: {exc.message}") from exc
        cold = ColdStart(fetch_seconds=round(fetched - started, 4), session_seconds=since(fetched))
        served = local.manifest.fingerprint(scorer.variant)
        if local.resolved is not None:
            _check_gated_variant(name, local.resolved, served, scorer.variant)
            self._resolved[name] = local.resolved
        self._cold[name] = cold
        logger.info(
            "model loaded",
            extra={
                "model": name,
                "version": local.manifest.version,
                "fingerprint": served,
                "store_alias": local.resolved.alias if local.resolved else None,
                "variant": scorer.variant,
                "provider": scorer.provider,
                "seconds": round(time.perf_counter() - started, 3),
                "fetch_seconds": cold.fetch_seconds,
                "session_seconds": cold.session_seconds,
            },
        )
        return scorer

    def fingerprint(self, requested: str) -> tuple[str, str | None] | None:
        """Return the loaded model's (version, fingerprint) for response headers, None before it loads."""
        scorer = self.loaded(requested)
        if scorer is None:
            return None
        return scorer.manifest.version, scorer.manifest.fingerprint(scorer.variant)

    def record_warm(self, requested: str, seconds: float) -> None:
        """Note how long warming `requested` took, for the cold-start figures of /v1/models."""
        name = self.resolve(requested)
        if name in self._cold:
            self._cold[name] = replace(self._cold[name], warm_seconds=round(seconds, 4))
        self._warmed.add(name)
        logger.info("model warmed", extra={"model": name, "warm_seconds": round(seconds, 4)})


def _check_gated_variant(name: str, resolved: Resolved, served: str | None, variant: str) -> None:
    """Refuse to serve an alias under another variant than the one its promotion gated."""
    if served != resolved.fingerprint:
        raise ModelUnavailable(
            f"model {name!r}: alias {resolved.alias!r} names version {resolved.version} as gated with "
            f"variant {resolved.variant}, but this deployment's settings serve {variant}; set "
            "RERANK_PRECISION to match, or promote that variant"
        )
