"""Model name, alias or deployment id -> a loaded scorer, loaded once and cached."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from reranker.config import Settings
from reranker.errors import ModelNotFound, ModelUnavailable, RerankError
from reranker.model_store.base import ModelStore
from reranker.model_store.local import LocalModelStore
from reranker.model_store.manifest import Manifest
from reranker.model_store.s3 import S3ModelStore
from reranker.model_store.timing import ColdStart, since
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import Scorer

logger = logging.getLogger(__name__)

ScorerLoader = Callable[[Path, Manifest, Settings], Scorer]


@dataclass(frozen=True)
class ServedModel:
    name: str
    aliases: tuple[str, ...]
    scorer: Scorer | None
    cold_start: ColdStart | None = None


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
        # Stores by URI scheme; the S3 store builds its boto3 client only on its first fetch.
        self._stores: Mapping[str, ModelStore] = {
            "file": LocalModelStore(),
            "s3": S3ModelStore(settings),
            **(stores or {}),
        }
        self._loader = loader
        self._scorers: dict[str, Scorer] = {}
        self._cold: dict[str, ColdStart] = {}
        self._locks = {name: threading.Lock() for name in settings.models}

    def resolve(self, requested: str) -> str:
        """Return the served model name that `requested` (name, alias, deployment id) means."""
        name = self._settings.aliases.get(requested, requested)
        if name not in self._settings.models:
            raise ModelNotFound(
                f"model {requested!r} is not served here; GET /v1/models lists the models",
                param="model",
            )
        return name

    def get(self, requested: str) -> Scorer:
        """Return the loaded scorer for `requested`, loading it once across threads."""
        name = self.resolve(requested)
        scorer = self._scorers.get(name)
        if scorer is not None:
            return scorer
        with self._locks[name]:
            scorer = self._scorers.get(name)
            if scorer is None:
                scorer = self._load(name)
                self._scorers[name] = scorer
        return scorer

    def served(self) -> list[ServedModel]:
        """Return every configured model with its aliases, and its scorer once loaded."""
        return [
            ServedModel(
                name=name,
                aliases=tuple(a for a, target in self._settings.aliases.items() if target == name),
                scorer=self._scorers.get(name),
                cold_start=self._cold.get(name),
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
            local = store.fetch(uri, label=name)
            fetched = time.perf_counter()
            scorer = self._loader(local.folder, local.manifest, self._settings)
        except ModelUnavailable:
            raise
        except RerankError as exc:
            raise ModelUnavailable(f"model {name!r} could not be loaded: {exc.message}") from exc
        cold = ColdStart(fetch_seconds=round(fetched - started, 4), session_seconds=since(fetched))
        self._cold[name] = cold
        logger.info(
            "model loaded",
            extra={
                "model": name,
                "variant": scorer.variant,
                "provider": scorer.provider,
                "seconds": round(time.perf_counter() - started, 3),
                "fetch_seconds": cold.fetch_seconds,
                "session_seconds": cold.session_seconds,
            },
        )
        return scorer

    def record_warm(self, requested: str, seconds: float) -> None:
        """Note how long warming `requested` took, for the cold-start figures of /v1/models."""
        name = self.resolve(requested)
        if name in self._cold:
            self._cold[name] = replace(self._cold[name], warm_seconds=round(seconds, 4))
        logger.info("model warmed", extra={"model": name, "warm_seconds": round(seconds, 4)})
