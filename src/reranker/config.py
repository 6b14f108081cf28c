"""All settings in one class, read from `RERANK_*` environment variables.

Nothing reads the environment at import: callers go through `get_settings()`, which tests
override by passing their own `Settings` to `create_app`.

Renamed settings are still read under their old name, with a warning naming the new one
(`RENAMED`); settings with one right answer are still honoured when set, with a warning, and
are no longer documented (`RETIRED`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from reranker.choices import Device, Precision, RuntimeChoice, Truncate
from reranker.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Old name -> new name (fields; the variables are RERANK_ + the name, upper case). One word per
# idea: precision (was variant), device (was providers), runtime (was backend); and names that
# say what the setting does: max_admitted_tokens counts running work too (it was
# max_queued_tokens), rows_alone is the cause of determinism (deterministic named a consequence).
RENAMED = {
    "variant": "precision",
    "providers": "device",
    "backend": "runtime",
    "max_queued_tokens": "max_admitted_tokens",
    "deterministic": "rows_alone",
}
# Settings with one right answer: honoured when set, with this warning, and no longer documented.
RETIRED = {
    "backlog": "the listen backlog has one right answer here (2048, the default)",
    "spin_threads": "spinning threads measured 0-4 % faster on idle cores and 1.36-1.52x slower "
    "beside busy processes (docs/benchmarks.md); the default (false) is the right answer",
}
# Batching knobs that do nothing while every row runs alone (RERANK_ROWS_ALONE=true).
BATCH_KNOBS = ("batch_token_budget", "max_batch_size")

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")


def _split_csv(value: object) -> object:
    """Accept `a,b` as well as a JSON list for list settings, so a shell export stays simple."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            import json

            return json.loads(value)
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service; bounds are checked at start so a bad value fails fast."""

    model_config = SettingsConfigDict(env_prefix="RERANK_", extra="ignore", frozen=True)

    # Models: served name -> URI (file:// or a plain path, s3://bucket/prefix/name/version).
    models: dict[str, str] = Field(default_factory=dict)
    # Alias or deployment id -> served name.
    aliases: dict[str, str] = Field(default_factory=dict)
    # The model warmed at Lambda init and at `reranker serve` start.
    default_model: str | None = None
    precision: Precision = "int8"
    cache_dir: Path = Path("/tmp/reranker-models")

    # S3 model store: an endpoint override (MinIO, LocalStack, tests), tries per object with
    # exponential backoff from the base pause, and parallel ranged GETs for large files.
    s3_endpoint_url: str | None = Field(None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    s3_region: str | None = Field(None, pattern=r"^[a-z0-9-]{2,32}$")
    s3_max_attempts: int = Field(4, ge=1, le=10)
    s3_retry_base_seconds: float = Field(0.25, ge=0.0, le=30.0)
    s3_timeout_seconds: float = Field(10.0, gt=0.0, le=300.0)
    s3_download_concurrency: int = Field(8, ge=1, le=64)

    # Auth.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    api_keys_secret_id: str | None = None
    allow_anonymous: bool = False

    # Request limits.
    max_documents: int = Field(1000, ge=1, le=100_000)
    max_body_bytes: int = Field(6 * 1024 * 1024, ge=1024)
    max_document_chars: int = Field(100_000, ge=1)
    max_query_chars: int = Field(10_000, ge=1)
    max_query_tokens: int | None = Field(None, ge=1)
    default_truncate: Truncate = "end"
    # Long-document chunking: windows scored per request, over all documents together.
    max_chunks_per_request: int = Field(2000, ge=1, le=1_000_000)
    # Chunking tokenizes each document whole: characters tokenized per chunked request, over all
    # documents together (1,000,000: ~0.25 s of tokenizing on one core here); past it 400.
    max_chunked_chars: int = Field(1_000_000, ge=1_000, le=100_000_000)

    # Scoring.
    threads: int = Field(0, ge=0, le=256)
    # onnxruntime's worker threads spin while waiting for work, or (False, the default) yield the
    # core at once. Off measured 0-4 % slower on idle cores and 1.36-1.52x faster beside 2-4 busy
    # processes (benchmarks/contention.py, docs/benchmarks.md): shared hosts and Lambda's
    # fractional vCPUs are the common case.
    spin_threads: bool = False
    device: Device = "auto"
    # Which runtime runs the graph (scoring/graph_choice.py): "auto" is OpenVINO when its package is
    # installed, no CUDA provider is in use and the model has the precision's graph; else onnxruntime.
    # bf16 runs on OpenVINO only; int8 there is the static int8 IR, onnxruntime's is dynamic int8.
    runtime: RuntimeChoice = "auto"
    # True: every row runs alone (no padding, nothing shared with other rows), so a document's
    # score never depends on what else is in the request or what came before; dynamic int8
    # quantises each batch as one tensor, so batching moves its scores (benchmarks/determinism.py).
    # False: length-sorted padded batches under the budget below, for GPUs, where batching pays.
    rows_alone: bool = True
    # 1024: small batches keep activations in cache; 0-13% more pairs/s than 4096 on 2 cores
    # (benchmarks/tuning.py, docs/benchmarks.md). Unused while `rows_alone` is on.
    batch_token_budget: int = Field(1024, ge=64)
    max_batch_size: int = Field(32, ge=1, le=1024)
    # Bi-encoders: embeddings kept per model process (384 floats = 1.5 kB each for MiniLM); 0 = off.
    embedding_cache_size: int = Field(20_000, ge=0, le=10_000_000)

    # Concurrency: scoring jobs at once, and how many may wait before we answer 429.
    max_concurrency: int = Field(1, ge=1, le=64)
    max_queue: int = Field(8, ge=0, le=10_000)
    # Admission by work: estimated tokens (pairs x tokens after truncation) admitted at once,
    # running and waiting; past it 429 at once. A request larger than this runs only alone.
    max_admitted_tokens: int = Field(131_072, ge=1_024)
    # Request bodies over 64 KiB held at once (being read, parsed or waiting), by Content-Length
    # or as they stream; past it 429 before more is read. Smaller bodies are bounded by the
    # connection cap. 32 MiB: five bodies at the 6 MiB cap.
    max_buffered_body_bytes: int = Field(32 * 1024 * 1024, ge=1024 * 1024)
    # Deadline from arrival to answer (waiting, loading and scoring): past it 503
    # `deadline_exceeded`, and the request's remaining batches are not scored.
    request_timeout_seconds: float = Field(30.0, gt=0.0, le=3600.0)

    # Model loading: after a failed load, requests for that model get 503 at once until the
    # retry window opens; the window doubles per failure from the base up to the cap.
    model_retry_seconds: float = Field(2.0, ge=0.0, le=3600.0)
    model_retry_max_seconds: float = Field(60.0, ge=0.0, le=86_400.0)
    # How long a request waits for its model's load (which goes on in its own thread) before it
    # is answered 503 `model_unavailable` "still loading" with Retry-After; within its deadline.
    model_load_wait_seconds: float = Field(5.0, gt=0.0, le=3600.0)
    # `reranker serve` start-up: "background" listens at once and warms the default model in a
    # thread; "fail_fast" warms before listening and exits 2 when that fails.
    warmup: Literal["background", "fail_fast"] = "background"

    # Connections (`reranker serve`): open sockets (idle ones are closed first to make room),
    # deadlines to receive the request line and headers and the whole body, keep-alive idle time,
    # the largest request head, and the listen backlog. Keep-alive outlasts the idle timeout of the
    # balancers in front (ALB and nginx: 60 s), so the server never closes a pooled connection that
    # a client or balancer is about to reuse (a POST racing that close gets a broken pipe).
    max_connections: int = Field(1000, ge=8, le=1_000_000)
    header_timeout_seconds: float = Field(10.0, gt=0.0, le=600.0)
    body_timeout_seconds: float = Field(30.0, gt=0.0, le=3600.0)
    keep_alive_seconds: int = Field(75, ge=1, le=3600)
    max_header_bytes: int = Field(16_384, ge=1_024, le=1_048_576)
    backlog: int = Field(2048, ge=16, le=65_535)

    # Logging and HTTP.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    user_hash_salt: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Metrics (docs/metrics.md): GET /metrics (Prometheus) behind the API key ("key"), without it
    # ("open", for a private network) or not at all ("off"); on Lambda, EMF lines unless "off".
    metrics: Literal["key", "open", "off"] = "key"
    metrics_namespace: str = Field("Reranker", min_length=1, max_length=255)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read the environment under the renamed settings' old names too (see `_renamed`)."""
        return init_settings, env_settings, _OldNames(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """Take a renamed setting under its old name, warning; the new name wins when both are set."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in RENAMED.items():
            if old not in data:
                continue
            value = data.pop(old)
            old_env, new_env = f"RERANK_{old.upper()}", f"RERANK_{new.upper()}"
            if new in data:
                logger.warning(
                    f"{old_env} is deprecated and ignored: {new_env} is set too",
                    extra={"setting": old_env, "use": new_env},
                )
            else:
                data[new] = value
                logger.warning(
                    f"{old_env} is deprecated: set {new_env} instead",
                    extra={"setting": old_env, "use": new_env},
                )
        for name, why in RETIRED.items():
            if name in data:
                variable = f"RERANK_{name.upper()}"
                logger.warning(
                    f"{variable} is deprecated and will be removed: {why}", extra={"setting": variable}
                )
        return data

    @model_validator(mode="after")
    def _inert_knobs(self) -> Settings:
        """Warn about batching knobs set while they do nothing (every row runs alone)."""
        if self.rows_alone:
            for name in sorted(set(BATCH_KNOBS) & self.model_fields_set):
                variable = f"RERANK_{name.upper()}"
                logger.warning(
                    f"{variable} does nothing while RERANK_ROWS_ALONE is true (every row runs alone)",
                    extra={"setting": variable},
                )
        return self

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _csv_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("models", "aliases")
    @classmethod
    def _valid_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not MODEL_NAME_PATTERN.match(name):
                raise ValueError(f"model name or alias {name!r} must match {MODEL_NAME_PATTERN.pattern}")
        return value

    @field_validator("models")
    @classmethod
    def _valid_uris(cls, value: dict[str, str]) -> dict[str, str]:
        from reranker.s3uri import check_model_uri

        for name, uri in value.items():
            try:
                check_model_uri(uri)
            except ValueError as exc:
                raise ValueError(f"model {name!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        for alias, target in self.aliases.items():
            if target not in self.models:
                raise ValueError(
                    f"RERANK_ALIASES: alias {alias!r} points at {target!r}, which is not in RERANK_MODELS"
                )
            if alias in self.models:
                raise ValueError(f"RERANK_ALIASES: {alias!r} is both a model name and an alias")
        if self.default_model is not None and self.default_model not in {
            **self.models,
            **self.aliases,
        }:
            raise ValueError(f"RERANK_DEFAULT_MODEL {self.default_model!r} is not a served model or alias")
        return self


class _OldNames(PydanticBaseSettingsSource):
    """The renamed settings' old variables (RERANK_VARIANT, ...), under their old field names."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environment = {name.upper(): value for name, value in os.environ.items()}
        return {
            old: environment[f"RERANK_{old.upper()}"]
            for old in RENAMED
            if f"RERANK_{old.upper()}" in environment
        }


PREFIX = "RERANK_"
# `RERANK_*` variables read by other parts than the service, so not misspelt settings: the eval
# command's key for a remote API (eval/command.py) and the tests' model cache (tests/fixtures).
OTHER_VARIABLES = frozenset({"RERANK_EVAL_API_KEY", "RERANK_TEST_CACHE"})


def variable_names() -> dict[str, str]:
    """Return every environment variable Settings reads -> its field name, from the class itself."""
    names: dict[str, str] = {}
    for field, info in Settings.model_fields.items():
        names[f"{PREFIX}{field}".upper()] = field
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        for choice in choices:
            if isinstance(choice, str):
                upper = choice.upper()
                names[upper if upper.startswith(PREFIX) else f"{PREFIX}{upper}"] = field
    for old, new in RENAMED.items():  # still read, with their own warning
        names[f"{PREFIX}{old}".upper()] = new
    return names


def load_settings(**overrides: Any) -> Settings:
    """Return Settings read from the environment (and `overrides`), or raise ConfigurationError.

    The error is one line naming the environment variable and what to fix (pydantic's own
    report names the field, runs to many lines and does not say "not JSON"); a `RERANK_*`
    variable that is no setting is warned about, with the closest real name.
    """
    warn_unknown_variables(os.environ)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError("; ".join(_describe(error) for error in exc.errors())) from None
    except SettingsError as exc:
        raise ConfigurationError(_describe_parse_error(exc)) from None


def warn_unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Log one warning per `RERANK_*` variable that no setting reads; return those lines."""
    known = variable_names()
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or upper in OTHER_VARIABLES:
            continue
        close = difflib.get_close_matches(upper, list(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else " (see the README's Configuration table)"
        lines.append(f"{name} is not a setting and is ignored{hint}")
        logger.warning(lines[-1])
    return lines


def _variable(field: object) -> str:
    return f"{PREFIX}{field}".upper()


def _is_secret(field: str) -> bool:
    info = Settings.model_fields.get(field)
    return info is not None and "SecretStr" in str(info.annotation)


def _describe(error: Any) -> str:
    """One validation error as `RERANK_<NAME>='value': must be ...` (secrets never quoted)."""
    message = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    cause = (error.get("ctx") or {}).get("error")
    loc = error.get("loc") or ()
    if not loc:  # a check across settings: its message names the variables
        return message
    field = str(loc[0])
    if isinstance(cause, json.JSONDecodeError):
        return f"{_variable(field)} is not JSON: {cause}"
    if _is_secret(field) or "input" not in error:
        return f"{_variable(field)}: {message}"
    where = "".join(f"[{part!r}]" for part in loc[1:])
    value = error["input"]
    shown = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"{_variable(field)}{where}={shown!r}: {message}"


def _describe_parse_error(exc: SettingsError) -> str:
    """pydantic-settings' failure to decode a JSON setting, as `RERANK_<NAME> is not JSON: ...`."""
    match = re.search(r'field "([^"]+)"', str(exc))
    name = _variable(match.group(1)) if match else "a RERANK_* setting"
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        return f"{name} is not JSON: {cause}"
    return f"{name} could not be read: {cause or exc}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment on first use.

    A bad value raises ConfigurationError with one line naming the variable.
    """
    return load_settings()
