"""Where reranking happens: RerankService in this process, or a running API over HTTP.

Both take the same RerankRequest, so an offline figure and a deployment's figure come from
the same request through the same service code; only the transport differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reranker.eval.errors import EvalError
from reranker.types import RerankRequest, RerankResponse

if TYPE_CHECKING:
    import httpx

    from reranker.service import RerankService

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0


class Target(Protocol):
    """Reranks one request; `describe` says what scores (model, variant, where; a fingerprint if known)."""

    concurrency: int

    def rerank(self, request: RerankRequest) -> RerankResponse: ...

    def describe(self, model: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


class InProcessTarget:
    """RerankService.rerank in this process, one request at a time (the ONNX session uses every core)."""

    concurrency = 1

    def __init__(self, service: RerankService) -> None:
        self.service = service

    @classmethod
    def for_model(cls, model: str) -> tuple[InProcessTarget, str]:
        """Return a target and the model name to request: a model folder is served as `reranker serve`
        serves it; any other value names a model of the RERANK_MODELS settings."""
        from reranker.config import load_settings
        from reranker.registry import ModelRegistry, folder_settings
        from reranker.service import RerankService

        folder = Path(model)
        if (folder / "model.json").is_file():
            settings = folder_settings([folder])
            model = str(settings.default_model)
        else:
            settings = load_settings()
        return cls(RerankService(ModelRegistry(settings), settings)), model

    def rerank(self, request: RerankRequest) -> RerankResponse:
        """Return the service's answer to the request."""
        return self.service.rerank(request)

    def describe(self, model: str) -> dict[str, Any]:
        """Return the loaded model's name, kind, max_length, variant, provider, a fingerprint of its
        files (saved scores are never resumed with a different model under the same name) and the
        model fingerprint (weights + variant) that a gate can require."""
        scorer = self.service.registry.get(model)
        manifest = scorer.manifest
        files = {name: entry.sha256 for name, entry in sorted(manifest.files.items())}
        blob = json.dumps({"files": files, "variant": scorer.variant, "max_length": manifest.max_length})
        return {
            "mode": "in-process",
            "model": manifest.name,
            "kind": manifest.kind,
            "max_length": manifest.max_length,
            "variant": scorer.variant,
            "provider": scorer.provider,
            "fingerprint": hashlib.sha256(blob.encode()).hexdigest(),
            "model_fingerprint": manifest.fingerprint(scorer.variant),
        }

    def close(self) -> None:
        """Nothing to release: the service lives as long as the process."""


class RemoteTarget:
    """POST /v1/rerank of a running API, with timeouts and retries (429, 5xx, connection errors)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client: httpx.Client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency),
            transport=transport,
        )

    def rerank(self, request: RerankRequest) -> RerankResponse:
        """Return the API's answer; retries with exponential backoff (or Retry-After) before giving up."""
        import httpx

        body = request.model_dump(mode="json", exclude_unset=True)
        last = ""
        retry_after: str | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt, last, retry_after)
            retry_after = None
            try:
                response = self.client.post("/v1/rerank", json=body)
            except httpx.TransportError as exc:
                last = type(exc).__name__
                continue
            if response.status_code == 200:
                return RerankResponse.model_validate(response.json())
            last = f"HTTP {response.status_code}: {_error_message(response)}"
            if response.status_code not in RETRY_STATUSES:
                raise EvalError(f"the API rejected a request ({last})")
            retry_after = response.headers.get("Retry-After")
        raise EvalError(f"the API did not answer after {self.retries + 1} attempts (last: {last})")

    def _sleep(self, attempt: int, last: str, retry_after: str | None) -> None:
        delay = min(MAX_BACKOFF_SECONDS, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random())
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(MAX_BACKOFF_SECONDS, float(retry_after)))
        logger.info("retry %d in %.1f s after %s", attempt, delay, last, extra={"attempt": attempt})
        time.sleep(delay)

    def describe(self, model: str) -> dict[str, Any]:
        """Return the model card from GET /v1/models when the API lists it, else just the name."""
        info: dict[str, Any] = {"mode": "http", "model": model}
        try:
            response = self.client.get("/v1/models")
            cards = response.json().get("data", []) if response.status_code == 200 else []
        except Exception:  # the card is informative only; the run itself already succeeded
            cards = []
        for card in cards:
            if card.get("id") == model or model in card.get("aliases", []):
                info.update({key: card.get(key) for key in ("kind", "max_length", "variant", "provider")})
                info["model_fingerprint"] = card.get("fingerprint")
                info["model"] = card.get("id")
        return info

    def close(self) -> None:
        self.client.close()


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
        return str(message)[:300]
    except Exception:
        return response.reason_phrase or "no message"
