"""Headers every answer carries, from the app or from the connection layer below it, and the
model's headers every scoring answer carries."""

from __future__ import annotations

from reranker.service import RerankService

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def model_headers(service: RerankService, model: str) -> dict[str, str]:
    """Return X-Model-Version and X-Model-Fingerprint of the model that scored (headers, so no
    client's parsing of the body changes)."""
    loaded = service.registry.fingerprint(model)
    if loaded is None:
        return {}
    version, fingerprint = loaded
    return {"X-Model-Version": version, **({"X-Model-Fingerprint": fingerprint} if fingerprint else {})}
