"""One error hierarchy for the whole service.

Domain code raises these; the API renders them in one place into the spec's error shape.
No HTTP imports here so the scorer, the store and the eval harness can raise them too.
"""

from __future__ import annotations


class RerankError(Exception):
    """Base of every error the service answers with; `status` and `type` pick the response."""

    status: int = 500
    type: str = "internal_error"
    # Seconds after which a retry may succeed; answered as a Retry-After header when set.
    retry_after: int | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(RerankError):
    status = 400
    type = "invalid_request"


class InvalidFields(InvalidRequest):
    """An invalid request on a format whose clients parse only FastAPI's 422 (Infinity's client).

    The same message and param as InvalidRequest, answered 422 with `detail` FastAPI's list of
    `{loc, msg, type}`; `kind` is that `type` (pydantic's error type, or "value_error").
    """

    status = 422

    def __init__(self, message: str, *, param: str | None = None, kind: str = "value_error") -> None:
        super().__init__(message, param=param)
        self.kind = kind


class Unauthorized(RerankError):
    status = 401
    type = "authentication_error"


class ModelNotFound(RerankError):
    status = 404
    type = "model_not_found"


class PayloadTooLarge(RerankError):
    status = 413
    type = "payload_too_large"


class RequestTimeout(RerankError):
    """The client did not send its request (headers or body) within the read deadline."""

    status = 408
    type = "request_timeout"


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

    def __init__(self, message: str, *, param: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class DeadlineExceeded(RerankError):
    """The request's deadline passed (waiting or scoring); its remaining batches were not scored."""

    status = 503
    type = "deadline_exceeded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ShuttingDown(RerankError):
    """The server stopped before it could answer; another instance (or a restart) will."""

    status = 503
    type = "shutting_down"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(RerankError):
    """A setting or a model folder is wrong; raised at start so the process fails fast."""

    status = 500
    type = "configuration_error"


class AliasConflict(ConfigurationError):
    """Another promotion moved the alias first (or holds its lock); this one changed nothing.

    Raised by `reranker models promote` only, never answered by the API.
    """
