"""Fuzz every operation of the API from its own OpenAPI schema (schemathesis, in process over ASGI).

Each generated request, valid or not, must get a declared status (no 500), a JSON body that
conforms to the schema declared for that status, and the declared content type. Requests carry
a valid key, so validated bodies are really scored by the tiny cross-encoder; a fixed seed and a
bounded number of examples per operation keep the run deterministic and under a minute.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis import Case
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from reranker.api.app import create_app
from reranker.config import Settings
from tests.hardening.conftest import API_KEY, AUTH


@schemathesis.check
def negative_data_rejection_or_413(ctx: Any, response: Any, case: Case[Any]) -> bool | None:
    """schemathesis's negative_data_rejection, with 413 (a body over the byte cap) as a refusal too."""
    if response.status_code == 413:
        return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result


@schemathesis.check
def not_a_server_error_nor_unready(ctx: Any, response: Any, case: Case[Any]) -> bool | None:
    """schemathesis's not_a_server_error, except /ready's documented 503 while the model warms.

    GET /ready answers 503 `model_unavailable` with Retry-After until the default model is
    loaded and warmed (the fuzzed app starts cold; the first /ready starts its warm-up), and 200
    only once it is: any other 5xx, or a 503 of another type or without Retry-After, still fails.
    """
    if case.method.upper() == "GET" and case.path == "/ready":
        if response.status_code == 200:
            assert _FUZZED is not None and _FUZZED.state.service.registry.warmed("default"), (
                "ready while cold"
            )
            return None
        if response.status_code == 503:
            assert response.json()["error"]["type"] == "model_unavailable", response.text
            assert int(response.headers["retry-after"][0]) >= 1
            return None
    result: bool | None = not_a_server_error(ctx, response, case)
    return result


CHECKS = [
    not_a_server_error_nor_unready,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # the operations that declare bearer auth refuse a request without a valid key
    positive_data_acceptance,  # a request valid by the schema is not refused (its limits are declared)
    negative_data_rejection_or_413,  # a request invalid by the schema is not accepted
    missing_required_header,
    unsupported_method,
    allow_header_conformance,  # a 405 names the allowed methods
]
_FUZZED: FastAPI | None = None  # the app the cases are sent to, for the /ready check
SERVED = ("default", "tiny-ce", "minilm", "all-minilm-l6-v2")


# The OpenAPI document does not depend on the models served, so the schema is read at import
# from an app that serves none (schemathesis's lazy fixture loader does not run under pytest 9),
# and every case is sent to the real app with both models.
_SCHEMA_APP = create_app(Settings(api_keys=[SecretStr(API_KEY)]))
schema = schemathesis.openapi.from_asgi("/openapi.json", _SCHEMA_APP)


def test_the_fuzzed_schema_is_the_served_one(hardened_app: FastAPI) -> None:
    assert _SCHEMA_APP.openapi() == hardened_app.openapi()


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_response_conforms_to_the_schema(case: Case[Any], hardened_app: FastAPI) -> None:
    global _FUZZED
    _FUZZED = hardened_app
    served_model(case)
    case.call_and_validate(headers=AUTH, checks=CHECKS, app=hardened_app)


def served_model(case: Case[Any]) -> None:
    """Point half of the generated model names at a served model, so those requests get scored.

    Random strings name no model (404); a string stays a string, so a case that was valid by the
    schema stays valid. The choice depends on the generated name only, so runs are reproducible.
    """
    body = case.body
    if isinstance(body, dict) and case.path != "/rerank":
        # rank_fields asks that each object document hold a string under one of the named keys,
        # which JSON Schema cannot state: a generated rank_fields request would be "schema-valid"
        # and refused. Those rules are covered by tests/api/compat instead.
        body.pop("rank_fields", None)
        # Likewise first_stage_scores must hold one number per document and go with fusion
        # (tests/api/test_fusion.py), and only some models take an instruction
        # (tests/integration/test_families.py).
        extra = body.get("extra_body")
        if isinstance(extra, dict):
            for key in ("first_stage_scores", "fusion", "instruction"):
                extra.pop(key, None)
            # max_chunks_per_doc may come at the top level or in extra_body but not both, and
            # chunk_overlap needs it: rules across objects (tests/api/compat/test_routes.py covers them).
            if body.get("max_chunks_per_doc") is not None:
                extra.pop("max_chunks_per_doc", None)
            if body.get("max_chunks_per_doc") is None and extra.get("max_chunks_per_doc") is None:
                extra.pop("chunk_overlap", None)
    if isinstance(body, dict) and case.path in ("/score", "/v1/score"):
        # text_1 is one query or one per text_2 item, a rule across fields (tests/api/compat/test_vllm.py).
        queries = body.get("text_1")
        if isinstance(queries, list) and len(queries) > 1 and all(isinstance(q, str) for q in queries):
            body["text_1"] = queries[:1]
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(model, str) and len(model) % 2 == 0:
        body["model"] = SERVED[len(model) // 2 % len(SERVED)]
