"""API-only response shapes: errors (and `ERRORS`, the table of them every route documents) and
model cards. The rerank request and response types belong to the domain (`reranker.types`),
which the API renders as they are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    type: str
    message: str
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
    detail: str = Field(description="The message again, as a plain string (Jina and Voyage clients read it).")


class FieldError(BaseModel):
    loc: list[int | str] = Field(description='Where: "body", then the field, e.g. ["body", "documents"].')
    msg: str
    type: str = Field(description='pydantic\'s error type (e.g. "too_short"), or "value_error".')


class FieldErrorResponse(BaseModel):
    """FastAPI's 422 with our `error` beside it, on Infinity's format: its client reads only this."""

    error: ErrorBody
    detail: list[FieldError] = Field(description="One entry: the field at fault and our message.")


# The 422 of the routes that answer invalid requests as FastAPI (and so Infinity's server) does.
FIELD_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": FieldErrorResponse, "description": "Invalid request, in FastAPI's shape (Infinity)"}
}


# The error answers every route documents, by status (the one shape: docs/rerank-api.md).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request",
        401: "Missing or wrong API key",
        404: "Unknown model",
        413: "Body too large",
        415: "Body not sent as JSON (Content-Type: application/json)",
        429: "Overloaded; see Retry-After",
        500: "Unexpected error",
        503: "Model not available",
    }.items()
}


class ColdStartTimes(BaseModel):
    """Seconds the first load of a model took, by phase; `import_seconds` is per process."""

    import_seconds: float | None = Field(
        None, description="The Lambda handler's imports (process-wide); null where not measured."
    )
    fetch_seconds: float = Field(description="Fetching and verifying the files (S3 download or cache).")
    session_seconds: float = Field(description="Loading the tokenizer and creating the ONNX session.")
    warm_seconds: float | None = Field(None, description="The warm-up run; null unless warmed at start.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    kind: str | None = Field(None, description="Known once the model is loaded.")
    aliases: list[str]
    max_length: int | None = Field(None, description="Tokens per scored row, special tokens included.")
    family: str | None = Field(
        None,
        description="The Hugging Face model_type (bert, xlm-roberta, electra, deberta-v2, modernbert, "
        "qwen3, ...); null for folders exported before it was recorded. Known once loaded.",
    )
    instructions: bool | None = Field(
        None, description="Whether `extra_body.instruction` is accepted. Known once loaded."
    )
    variant: str | None = Field(
        None,
        description="What scores: fp32, int8 (onnxruntime dynamic int8), bf16 or int8-static (OpenVINO). "
        "Known once the model is loaded.",
    )
    provider: str | None = Field(
        None,
        description="What runs the graph: an onnxruntime execution provider (CPUExecutionProvider, "
        "CUDAExecutionProvider) or OpenVINO CPU.",
    )
    fingerprint: str | None = Field(
        None,
        description="sha256 naming the weights, how they are read and the variant; the same across "
        "re-exports (a relevance gate can require it). Known once the model is loaded.",
    )
    version: str | None = Field(
        None, description="The version loaded (model.json); also the X-Model-Version header of answers."
    )
    store_alias: str | None = Field(
        None,
        description="The store alias RERANK_MODELS named (`<name>@prod`), resolved to `version` when "
        "the model loaded; null when a version was named.",
    )
    loaded: bool
    cold_start: ColdStartTimes | None = Field(None, description="Known once the model is loaded.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
