"""The rerank request and its result: the domain's own types, shared by the API, the service
and the eval harness (the API layer only adds its error and model-card shapes on top).

Fixed limits live in the types. Limits that are settings (document count, text sizes) are
checked by the service, because a deployment may change them without rebuilding the schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from reranker.fusion import DEFAULT_RRF_K, DEFAULT_WEIGHT, Fusion

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_USER_CHARS = 256
MAX_CHUNKS_PER_DOC = 1000
MAX_RANK_FIELDS = 32
# Cohere v1 fields accepted on /v1/rerank; extra_body may also carry max_chunks_per_doc.
COHERE_FIELDS = frozenset({"rank_fields", "max_chunks_per_doc"})
# A key named in /v2/rerank's rank_fields: an empty name can name no field, so the schema refuses it.
FieldName = Annotated[StrictStr, Field(min_length=1)]

MetadataValue = StrictStr | StrictInt | StrictFloat | StrictBool | None

# Characters that show nothing: whitespace, C0/C1 controls, soft hyphen, zero-width and
# direction marks, word joiners, BOM, interlinear annotation (Unicode's Cc, Cf, Zs, Zl, Zp in
# the Basic Multilingual Plane). A query must hold at least one other character; the same
# class is declared as the schema's pattern, so clients and fuzzers see the rule.
INVISIBLE = (
    "\\s\\u0000-\\u001f\\u007f-\\u00a0\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f"
    "\\u1680\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u3000\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb"
)
VISIBLE_PATTERN = f"[^{INVISIBLE}]"
_VISIBLE = re.compile(VISIBLE_PATTERN)


def _integral(value: object) -> object:
    """Let 2.0 stand for 2 (JSON does not tell them apart); 2.5, "2" and true stay errors."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integer fields as JSON means them: StrictInt (true and "2" refused), with 2.0 taken as 2. The
# schemas are declared by hand: with a before-validator attached, pydantic would write the
# bounds as `ge`/`le`, which JSON Schema does not know.
JsonInt = Annotated[StrictInt, BeforeValidator(_integral)]
PositiveJsonInt = Annotated[JsonInt, Field(ge=1), WithJsonSchema({"type": "integer", "minimum": 1})]
NonNegativeJsonInt = Annotated[JsonInt, Field(ge=0), WithJsonSchema({"type": "integer", "minimum": 0})]
ChunksPerDoc = Annotated[
    JsonInt,
    Field(ge=1, le=MAX_CHUNKS_PER_DOC),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_CHUNKS_PER_DOC}),
]


class DocumentObject(BaseModel):
    """A structured document: `text` is scored (after `title`, when present); other keys ride along."""

    model_config = ConfigDict(extra="allow")

    text: StrictStr
    title: StrictStr | None = None


def _each_method_its_parameter(schema: dict[str, Any]) -> None:
    """Declare in the schema what the validator enforces: rrf takes no weight, combsum no k.

    The server refuses `rrf` with a `weight` rather than ignoring it: a client that sends one
    believes it changes the ranking, and a silent no-op would hide that mistake. `null` counts
    as omitted, as everywhere in the API.
    """
    schema["oneOf"] = [
        {"properties": {"method": {"const": "combsum"}, "k": {"type": "null"}}},
        {"properties": {"method": {"const": "rrf"}, "weight": {"type": "null"}}},
    ]


class FusionSpec(BaseModel):
    """How to fuse the model's scores with `first_stage_scores` (see reranker.fusion)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_each_method_its_parameter)

    method: Literal["combsum", "rrf"] = Field(
        description="`combsum`: min-max normalise both sides over the request, then "
        "`weight * model + (1 - weight) * first stage`. `rrf`: `1/(k + model rank) + 1/(k + first-stage "
        "rank)`, ranks from 1, ties in input order."
    )
    weight: Annotated[StrictFloat, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description=f"combsum only: the model's share (default {DEFAULT_WEIGHT})."
    )
    k: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = Field(
        None, description=f"rrf only: the rank offset (default {DEFAULT_RRF_K})."
    )

    @model_validator(mode="after")
    def _parameters_fit_the_method(self) -> FusionSpec:
        if self.method == "rrf" and self.weight is not None:
            raise ValueError("weight applies to combsum only (rrf takes k)")
        if self.method == "combsum" and self.k is not None:
            raise ValueError("k applies to rrf only (combsum takes weight)")
        return self

    def to_fusion(self) -> Fusion:
        """Return the domain's fusion with defaults filled in."""
        return Fusion(
            method=self.method,
            weight=DEFAULT_WEIGHT if self.weight is None else float(self.weight),
            k=DEFAULT_RRF_K if self.k is None else self.k,
        )


MAX_INSTRUCTION_CHARS = 2000


class ExtraBody(BaseModel):
    """Backend parameters understood by this service; any other key is rejected."""

    model_config = ConfigDict(extra="forbid")

    raw_scores: StrictBool = Field(
        False,
        description="Return the model's raw score (cross-encoder log-odds, bi-encoder cosine) "
        "instead of the [0, 1] probability.",
    )
    max_chunks_per_doc: ChunksPerDoc | None = Field(
        None,
        description="Long-document chunking: split a document too long for the model into windows "
        "that fit beside the query, score each, and give the document its best window's score. At most "
        'this many windows per document (past that, `truncate` decides which are kept; "none" rejects). '
        "Every window's tokens count in usage; a request may need at most `max_chunks_per_request` "
        "windows (setting, default 2000). Omitted: documents are cut to fit.",
    )
    chunk_overlap: NonNegativeJsonInt | None = Field(
        None,
        description="Tokens shared by consecutive windows when chunking (default 32, at most half a "
        "window). Needs `max_chunks_per_doc`.",
    )
    first_stage_scores: list[StrictFloat] | None = Field(
        None,
        description="The first stage's score of each document (e.g. BM25), in document order, one per "
        "document. Needs `fusion`.",
    )
    fusion: FusionSpec | None = Field(
        None,
        description="Fuse the model's scores with `first_stage_scores`: `relevance_score` is then the "
        "fused score and each result's `model_score` the model's own (a probability, or raw with "
        "`raw_scores`).",
    )
    instruction: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=MAX_INSTRUCTION_CHARS,
        description="The task instruction put into the prompt of rerankers that take one (those with "
        "`instructions: true` in `/v1/models`, e.g. Qwen3-Reranker); omitted, the model's default. "
        "Rejected (400) for models that take none. Never cut: one longer than the prompt leaves room "
        "for is rejected.",
    )


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr = Field(min_length=1, max_length=128, description="Model name, alias or deployment id.")
    # The pattern is declared for clients and fuzzers; the validator below enforces it with a clearer message.
    query: StrictStr = Field(
        description="The search query; must contain a visible character (not only whitespace, "
        "control or zero-width characters).",
        json_schema_extra={"pattern": VISIBLE_PATTERN},
    )
    documents: list[StrictStr | DocumentObject] = Field(
        min_length=1,
        description="Candidates: strings, or objects with `text` (and optional `title`, `id`, ...). "
        "At most `max_documents` (setting, default 1000).",
    )
    top_n: PositiveJsonInt | None = Field(
        None, description="Return only the best N; omitted returns every document."
    )
    return_documents: StrictBool = False
    truncate: Literal["none", "start", "end"] | None = Field(
        None, description='Omitted: the server default (setting, default "end").'
    )
    max_tokens_per_document: PositiveJsonInt | None = None
    metadata: dict[str, MetadataValue] | None = Field(
        None,
        description=f"Logged with the request, not echoed. At most {MAX_METADATA_KEYS} keys of "
        f"{MAX_METADATA_KEY_CHARS} chars, values of {MAX_METADATA_VALUE_CHARS} chars.",
    )
    user: StrictStr | None = Field(
        None, max_length=MAX_USER_CHARS, description="End-user id; logged only as a salted hash."
    )
    rank_fields: list[StrictStr] | None = Field(
        None,
        min_length=1,
        max_length=MAX_RANK_FIELDS,
        description="Cohere v1: for object documents, the keys whose string values are scored, joined "
        "in this order (objects then need no `text`). Omitted: `title` and `text`.",
    )
    max_chunks_per_doc: ChunksPerDoc | None = Field(
        None, description="Cohere v1: the same long-document chunking as `extra_body.max_chunks_per_doc`."
    )
    extra_body: ExtraBody | None = Field(
        None,
        description="Backend parameters: `raw_scores` (bool), long-document chunking "
        "(`max_chunks_per_doc`, `chunk_overlap`), fusion with the first stage (`first_stage_scores`, "
        "`fusion`). Keys naming a core field are rejected.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _rank_fields_documents(
        cls, data: Any, handler: ModelWrapValidatorHandler[RerankRequest]
    ) -> RerankRequest:
        """Let rank_fields documents omit `text`: a placeholder passes the schema, then is unset.

        Validating the rest as usual keeps every other error (and its location) unchanged, and an
        unset placeholder is neither scored nor echoed back with `return_documents`.
        """
        placeholders: list[int] = []
        ranked = isinstance(data, dict) and isinstance(data.get("rank_fields"), list) and data["rank_fields"]
        if ranked and isinstance(data.get("documents"), list):
            documents = list(data["documents"])
            for index, document in enumerate(documents):
                if isinstance(document, dict) and "text" not in document:
                    documents[index] = {**document, "text": ""}
                    placeholders.append(index)
            data = {**data, "documents": documents}
        request = handler(data)
        for index in placeholders:
            document = request.documents[index]
            if isinstance(document, DocumentObject):
                document.model_fields_set.discard("text")
        return request

    @field_validator("query")
    @classmethod
    def _query_has_text(cls, query: str) -> str:
        if not _VISIBLE.search(query):
            raise ValueError(
                "must contain a visible character (not only whitespace, control or zero-width ones)"
            )
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
            clashes = sorted(set(extra) & (set(cls.model_fields) - COHERE_FIELDS))
            if clashes:
                raise ValueError(f"must not override core field(s) {', '.join(clashes)}")
        return extra


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    model_score: float | None = Field(
        None, description="With `extra_body.fusion` only: the model's own score, before fusion."
    )
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
