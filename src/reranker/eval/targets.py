"""Where reranking happens: RerankService in this process, or a running API over HTTP.

Both take the same RerankRequest, so an offline figure and a deployment's figure come from
the same request through the same service code; only the transport differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from reranker.eval.errors import EvalError
from reranker.types import RerankRequest, RerankResponse, RerankResult, Usage

if TYPE_CHECKING:
    import httpx

    from reranker.service import RerankService

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0
# The response headers naming the model that scored (docs/rerank-api.md).
FINGERPRINT_HEADER = "X-Model-Fingerprint"


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
        # Every fingerprint the API's answers named: more than one means it changed mid-run.
        self.served_fingerprints: set[str] = set()
        self._seen_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client: httpx.Client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency),
            transport=transport,
        )

    def rerank(self, request: RerankRequest) -> RerankResponse:
        """Return the API's answer; retries with exponential backoff (or Retry-After) before giving up.

        A request that ran out of time on the server (503 deadline_exceeded) is not sent whole
        again: its documents go in two halves, each retried the same way, and the answers are
        merged (fused here, as the service fuses), so a retry costs about half the work, not all.
        Each document's score does not depend on the others in its request (docs/scores.md).
        """
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
                served = response.headers.get(FINGERPRINT_HEADER)
                if served:
                    with self._seen_lock:
                        self.served_fingerprints.add(served)
                return RerankResponse.model_validate(response.json())
            if _error_type(response) == "deadline_exceeded" and len(request.documents) > 1:
                logger.info(
                    "deadline exceeded on %d documents: sending them in halves", len(request.documents)
                )
                return split_rerank(request, self.rerank)
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
                info["version"] = card.get("version")
        info["served_fingerprints"] = sorted(self.served_fingerprints)
        return info

    def describe_loaded(self, model: str) -> dict[str, Any]:
        """Return `describe(model)` once the API has loaded the model (one small request loads it),
        so the fingerprint the saved scores are filed under is known before the first of them."""
        info = self.describe(model)
        if info.get("model_fingerprint") is None:
            try:
                self.rerank(RerankRequest(model=model, query="load", documents=["load"]))
            except EvalError:
                return info  # the run itself will report what is wrong
            info = self.describe(model)
        return info

    def close(self) -> None:
        self.client.close()


def split_rerank(request: RerankRequest, rerank: Callable[[RerankRequest], RerankResponse]) -> RerankResponse:
    """Return the answer to `request` made from two requests of half its documents each.

    Without fusion, the halves' scores are the whole's; with fusion, the halves go unfused and
    their model scores are fused here by `reranker.fusion.fuse`, the service's own function.
    """
    from reranker.fusion import fuse
    from reranker.request import fusion_inputs

    fusion = fusion_inputs(request)
    body = request.model_dump(mode="json", exclude_unset=True)
    body.pop("top_n", None)
    extra = {k: v for k, v in body.pop("extra_body", {}).items() if k not in ("fusion", "first_stage_scores")}
    if extra:
        body["extra_body"] = extra
    documents = body.pop("documents")
    middle = len(documents) // 2
    scores: list[float] = []
    tokens = 0
    for part in (documents[:middle], documents[middle:]):
        answer = rerank(RerankRequest.model_validate({**body, "documents": part}))
        by_index = {result.index: result.relevance_score for result in answer.results}
        scores += [by_index[i] for i in range(len(part))]
        tokens += answer.usage.prompt_tokens
    model = np.array(scores, dtype=np.float64)
    final = model if fusion is None else fuse(model, fusion[1], fusion[0])
    order = np.argsort(-final, kind="stable")[: request.top_n]
    results = [
        RerankResult(
            index=int(i),
            relevance_score=float(final[i]),
            model_score=None if fusion is None else float(model[i]),
        )
        for i in order
    ]
    return RerankResponse(
        id="rerank_split",
        model=request.model,
        results=results,
        usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
    )


def _error_type(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["type"])
    except Exception:
        return None


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
        return str(message)[:300]
    except Exception:
        return response.reason_phrase or "no message"
