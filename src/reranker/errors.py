"""One error hierarchy for the whole service.

Domain code raises these; the API renders them in one place into the spec's error shape.
No HTTP imports here so the scorer, the store and the eval harness can raise them too.
"""

from __future__ import annotations


class RerankError(Exception):
    """Base of every error the service answers with; `status` and `type` pick the response."""

    status: int = 500
    type: str = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(RerankError):
    status = 400
    type = "invalid_request"


class Unauthorized(RerankError):
    status = 401
    type = "authentication_error"


class ModelNotFound(RerankError):
    status = 404
    type = "model_not_found"


class PayloadTooLarge(RerankError):
    status = 413
    type = "payload_too_large"


class Overloaded(RerankError):
    """Too many requests in flight; the client should retry after `retry_after` seconds."""

    status = 429
    type = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelUnavailable(RerankError):
    """The model exists in configuration but cannot be served now (store down, bad files)."""

    status = 503
    type = "model_unavailable"


class ConfigurationError(RerankError):
    """A setting or a model folder is wrong; raised at start so the process fails fast."""

    status = 500
    type = "configuration_error"
