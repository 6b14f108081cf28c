"""Model name, alias or deployment id -> a loaded scorer, loaded once and cached."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reranker.config import Settings
from reranker.errors import ModelNotFound, ModelUnavailable, RerankError
from reranker.model_store.base import ModelStore
from reranker.model_store.local import LocalModelStore
from reranker.model_store.manifest import Manifest
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import Scorer

logger = logging.getLogger(__name__)

ScorerLoader = Callable[[Path, Manifest, Settings], Scorer]


@dataclass(frozen=True)
class ServedModel:
    name: str
    aliases: tuple[str, ...]
    scorer: Scorer | None


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
        self._stores: Mapping[str, ModelStore] = stores or {"file": LocalModelStore()}
        self._loader = loader
        self._scorers: dict[str, Scorer] = {}
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
            scorer = self._loader(local.folder, local.manifest, self._settings)
        except ModelUnavailable:
            raise
        except RerankError as exc:
            raise ModelUnavailable(f"model {name!r} could not be loaded: {exc.message}") from exc
        logger.info(
            "model loaded",
            extra={
                "model": name,
                "variant": scorer.variant,
                "provider": scorer.provider,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return scorer
