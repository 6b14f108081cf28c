"""Request and response models of /v1/rerank; fixed limits live in the types.

Limits that are settings (document count, text sizes) are checked by the service, because
a deployment may change them without rebuilding the schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_USER_CHARS = 256

MetadataValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class DocumentObject(BaseModel):
    """A structured document: `text` is scored (after `title`, when present); other keys ride along."""

    model_config = ConfigDict(extra="allow")

    text: StrictStr
    title: StrictStr | None = None


class ExtraBody(BaseModel):
    """Backend parameters understood by this service; any other key is rejected."""

    model_config = ConfigDict(extra="forbid")

    raw_scores: StrictBool = Field(
        False,
        description="Return the model's raw score (cross-encoder log-odds, bi-encoder cosine) "
        "instead of the [0, 1] probability.",
    )


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr = Field(min_length=1, max_length=128, description="Model name, alias or deployment id.")
    query: StrictStr = Field(description="The search query; must contain a non-space character.")
    documents: list[StrictStr | DocumentObject] = Field(
        min_length=1,
        description="Candidates: strings, or objects with `text` (and optional `title`, `id`, ...). "
        "At most `max_documents` (setting, default 1000).",
    )
    top_n: Annotated[StrictInt, Field(ge=1)] | None = Field(
        None, description="Return only the best N; omitted returns every document."
    )
    return_documents: StrictBool = False
    truncate: Literal["none", "start", "end"] | None = Field(
        None, description='Omitted: the server default (setting, default "end").'
    )
    max_tokens_per_document: Annotated[StrictInt, Field(ge=1)] | None = None
    metadata: dict[str, MetadataValue] | None = Field(
        None,
        description=f"Logged with the request, not echoed. At most {MAX_METADATA_KEYS} keys of "
        f"{MAX_METADATA_KEY_CHARS} chars, values of {MAX_METADATA_VALUE_CHARS} chars.",
    )
    user: StrictStr | None = Field(
        None, max_length=MAX_USER_CHARS, description="End-user id; logged only as a salted hash."
    )
    extra_body: ExtraBody | None = Field(
        None,
        description="Backend parameters: `raw_scores` (bool). Keys naming a core field are rejected.",
    )

    @field_validator("query")
    @classmethod
    def _query_has_text(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("must contain a non-whitespace character")
        return query

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata is None:
            return None
        if len(metadata) > MAX_METADATA_KEYS:
            raise ValueError(f"must have at most {MAX_METADATA_KEYS} keys")
        for key, value in metadata.items():
            if len(key) > MAX_METADATA_KEY_CHARS:
                raise ValueError(f"keys must be at most {MAX_METADATA_KEY_CHARS} characters")
            if isinstance(value, str) and len(value) > MAX_METADATA_VALUE_CHARS:
                raise ValueError(f"values must be at most {MAX_METADATA_VALUE_CHARS} characters")
        return metadata

    @field_validator("extra_body", mode="before")
    @classmethod
    def _no_core_overrides(cls, extra: object) -> object:
        if isinstance(extra, dict):
            clashes = sorted(set(extra) & set(cls.model_fields))
            if clashes:
                raise ValueError(f"must not override core field(s) {', '.join(clashes)}")
        return extra


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = Field(
        None, description="The document as sent (a string as {text}); only with return_documents."
    )


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class RerankResponse(BaseModel):
    id: str = Field(description="`rerank_` + a ULID; also in the X-Request-Id header.")
    object: Literal["list"] = "list"
    model: str
    results: list[RerankResult]
    usage: Usage


class ErrorBody(BaseModel):
    type: str
    message: str
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    kind: str | None = Field(None, description="Known once the model is loaded.")
    aliases: list[str]
    max_length: int | None = None
    variant: str | None = None
    provider: str | None = None
    loaded: bool


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
