"""Cohere's fields and chunking on /v1/rerank, and the compat routes' edges (in process, and over
HTTP where every scoring route is asked the same thing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from reranker.api.app import create_app
from reranker.api.compat.loading import include_compat_routes
from reranker.api.marks import scored_requests
from reranker.config import Settings
from reranker.types import VISIBLE_PATTERN
from tests.api.compat.conftest import HEADERS
from tests.api.conftest import AUTH
from tests.fixtures.long_documents import DISTRACTOR, LONG, LONG_QUERY

GOOD = {"model": "default", "query": "deploy a model", "documents": ["a", "b"]}


def post(client: TestClient, path: str, body: Any, status: int = 200) -> Any:
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == status, response.text
    return response.json()


# --- Cohere v1 fields on /v1/rerank ---------------------------------------------------------


def test_rank_fields_default_equals_title_then_text(client: TestClient) -> None:
    docs = [{"title": "Deploying", "text": "Billing lets you add balance."}, {"title": "x", "text": "y"}]
    plain = post(client, "/v1/rerank", {**GOOD, "documents": docs})
    ranked = post(client, "/v1/rerank", {**GOOD, "documents": docs, "rank_fields": ["title", "text"]})
    assert plain["results"] == ranked["results"]


def test_rank_fields_skip_missing_keys_and_echo_the_object_as_sent(client: TestClient) -> None:
    docs = [{"a": "deploy a model", "b": "now", "n": 3}, {"b": "billing"}]
    body = post(
        client, "/v1/rerank", {**GOOD, "documents": docs, "rank_fields": ["a", "b"], "return_documents": True}
    )
    joined = post(client, "/v1/rerank", {**GOOD, "documents": ["deploy a model now", "billing"]})
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == [
        (r["index"], r["relevance_score"]) for r in joined["results"]
    ]
    assert {r["index"]: r["document"] for r in body["results"]} == {0: docs[0], 1: docs[1]}


@pytest.mark.parametrize(
    ("fields", "param", "fragment"),
    [
        ({"documents": [{"x": "a"}], "rank_fields": ["a"]}, "documents[0]", "none of the rank_fields (a)"),
        ({"documents": [{"a": 5}], "rank_fields": ["a"]}, "documents[0].a", "must be a string"),
        (
            {"documents": [{"a": "x", "title": 5}], "rank_fields": ["a"]},
            "documents[0].title",
            "must be a string",
        ),
        ({"rank_fields": []}, "rank_fields", "at least 1"),
        ({"rank_fields": "title"}, "rank_fields", "array"),
        ({"documents": [{"id": "x"}]}, "documents[0].text", "required"),
        ({"max_chunks_per_doc": 0}, "max_chunks_per_doc", "greater than or equal to 1"),
        ({"extra_body": {"max_chunks_per_doc": 1001}}, "extra_body.max_chunks_per_doc", "less than or equal"),
        (
            {"extra_body": {"chunk_overlap": -1, "max_chunks_per_doc": 2}},
            "extra_body.chunk_overlap",
            "greater",
        ),
        ({"extra_body": {"chunk_overlap": 8}}, "extra_body.chunk_overlap", "needs max_chunks_per_doc"),
        (
            {"max_chunks_per_doc": 2, "extra_body": {"max_chunks_per_doc": 2}},
            "extra_body.max_chunks_per_doc",
            "not both",
        ),
        ({"extra_body": {"rank_fields": ["a"]}}, "extra_body.rank_fields", "not a known field"),
    ],
)
def test_invalid_cohere_fields(client: TestClient, fields: dict[str, Any], param: str, fragment: str) -> None:
    error = post(client, "/v1/rerank", {**GOOD, **fields}, 400)["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == param
    assert fragment in error["message"]


# --- chunking through extra_body --------------------------------------------------------------


def test_extra_body_chunking_ranks_the_long_document_first(client: TestClient) -> None:
    body = {"model": "default", "query": LONG_QUERY, "documents": [LONG, DISTRACTOR]}
    cut = post(client, "/v1/rerank", body)
    chunked = post(
        client, "/v1/rerank", {**body, "extra_body": {"max_chunks_per_doc": 10, "chunk_overlap": 16}}
    )
    top_level = post(
        client, "/v1/rerank", {**body, "max_chunks_per_doc": 10, "extra_body": {"chunk_overlap": 16}}
    )
    assert [r["index"] for r in cut["results"]] == [1, 0]
    assert [r["index"] for r in chunked["results"]] == [0, 1]
    assert top_level["results"] == chunked["results"]
    assert chunked["usage"]["prompt_tokens"] > cut["usage"]["prompt_tokens"]


def test_the_window_bound_is_a_setting(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"max_chunks_per_request": 4})
    with TestClient(create_app(settings)) as client:
        body = {"model": "default", "query": LONG_QUERY, "documents": [LONG, LONG], "max_chunks_per_doc": 10}
        error = post(client, "/v1/rerank", body, 400)["error"]
        assert error["param"] == "max_chunks_per_doc"
        assert "split into 6 windows; at most 4" in error["message"]
        post(client, "/v1/rerank", {**body, "max_chunks_per_doc": 2})


# --- the compat routes' edges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/rerank", GOOD),
        ("/rerank", {"query": "q", "texts": ["a"]}),
        ("/rerank", {"query": "q", "documents": ["a"]}),
    ],
)
def test_compat_routes_need_the_key(client: TestClient, path: str, body: dict[str, Any]) -> None:
    missing = client.post(path, json=body)
    wrong = client.post(path, json=body, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"


def test_root_rerank_needs_texts_or_documents(client: TestClient) -> None:
    error = post(client, "/rerank", {"query": "q", "inputs": ["a"]}, 400)["error"]
    assert "texts" in error["message"] and "documents" in error["message"]
    for raw in (b"{not json", b"[1]"):
        response = client.post("/rerank", content=raw, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request"
    text = client.post("/rerank", content=b"q", headers={**AUTH, "Content-Type": "text/plain"})
    assert text.status_code == 415
    assert text.json()["error"]["type"] == "unsupported_media_type"


def test_formats_without_a_model_need_a_default(api_settings: Settings) -> None:
    with TestClient(create_app(api_settings.model_copy(update={"default_model": None}))) as client:
        for body in ({"query": "q", "texts": ["a"]}, {"query": "q", "documents": ["a"]}):
            error = post(client, "/rerank", body, 503)["error"]
            assert error["type"] == "model_unavailable"
            assert "RERANK_DEFAULT_MODEL" in error["message"]
        named = post(client, "/rerank", {"query": "q", "documents": ["a"], "model": "tiny-ce"})
        assert named["model"] == "tiny-ce"


def test_openapi_documents_the_compat_routes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert "/v2/rerank" in paths
    schema = paths["/rerank"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    options = [resolve(document, option["$ref"]) for option in schema["anyOf"]]
    assert [option["title"] for option in options] == ["TeiRequest", "InfinityRequest"]
    answer = paths["/rerank"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    infinity = resolve(document, answer["oneOf"][1]["$ref"])
    assert infinity["properties"]["results"]["items"] == {"$ref": "#/components/schemas/InfinityResult"}


def resolve(document: dict[str, Any], ref: str) -> Any:
    """Return what a local $ref points at; KeyError when it points nowhere."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    """Return every $ref in a JSON document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_every_ref_in_the_openapi_document_resolves(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    found = refs(document)
    assert "#/components/schemas/Usage" in found and "#/components/schemas/InfinityResult" in found
    for ref in found:
        resolve(document, ref)


def test_request_schemas_carry_the_deployment_limits(api_settings: Settings) -> None:
    limits = {"max_documents": 7, "max_query_chars": 50, "max_document_chars": 300}
    with TestClient(create_app(api_settings.model_copy(update=limits))) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name, documents in (
        ("RerankRequest", "documents"),
        ("CohereV2Request", "documents"),
        ("TeiRequest", "texts"),
        ("InfinityRequest", "documents"),
        ("VllmRerankRequest", "documents"),
    ):
        properties = schemas[name]["properties"]
        assert properties["query"]["maxLength"] == 50, name
        assert properties[documents]["maxItems"] == 7 and properties[documents]["minItems"] == 1, name
        strings = [properties[documents]["items"], *properties[documents]["items"].get("anyOf", [])]
        assert [s["maxLength"] for s in strings if s.get("type") == "string"] == [300], name
    assert schemas["DocumentObject"]["properties"]["text"]["maxLength"] == 300
    # vLLM's score API: text_1 is the query (or queries), text_2 the documents; each a text or a list.
    score = schemas["VllmScoreRequest"]["properties"]
    for field, text in (
        ("text_1", {"type": "string", "pattern": VISIBLE_PATTERN, "maxLength": 50}),
        ("text_2", {"type": "string", "maxLength": 300}),
    ):
        assert score[field]["anyOf"] == [text, {"type": "array", "items": text, "minItems": 1, "maxItems": 7}]


# --- an empty documents list, on every route that takes documents ------------------------------


def scoring_bodies(app: FastAPI, documents: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (path, documents' field, body) for each request model a scoring route reads (its marks).

    The body has every required field (a served model, a query) and `documents` in the documents' field.
    """
    include_compat_routes(app)
    bodies = []
    for path, model, field in scored_requests(app.routes):
        required = [name for name, info in model.model_fields.items() if info.is_required()]
        body: dict[str, Any] = {name: "tiny-ce" if name == "model" else "q" for name in required}
        bodies.append((path, field, {**body, field: documents}))
    return bodies


def test_every_scoring_answer_names_the_model_version_as_v1_rerank_does(app: FastAPI, base_url: str) -> None:
    for path, _, body in scoring_bodies(app, ["a", "b"]):
        model = body.get("model", "default")  # formats without a model field score with the default
        reference = httpx.post(
            f"{base_url}/v1/rerank", json={"model": model, "query": "q", "documents": ["a"]}, headers=HEADERS
        )
        response = httpx.post(f"{base_url}{path}", json=body, headers=HEADERS, timeout=60)
        assert response.status_code == 200, (path, response.text)
        for name in ("x-model-version", "x-model-fingerprint"):
            assert name in reference.headers
            assert response.headers.get(name) == reference.headers[name], (path, name)


def test_every_route_says_in_our_words_that_documents_are_empty(app: FastAPI, base_url: str) -> None:
    bodies = scoring_bodies(app, [])
    paths = {path for path, _, _ in bodies}
    assert {"/v1/rerank", "/v2/rerank", "/rerank", "/score", "/vllm/rerank", "/v1/reranking"} <= paths
    for path, field, body in bodies:
        response = httpx.post(f"{base_url}{path}", json=body, headers=HEADERS, timeout=60)
        error = response.json()["error"]
        assert (path, error["param"]) == (path, field)
        assert error["message"] == f"{field} must not be empty: send at least one document", path
        # Infinity's format answers FastAPI's 422 (its client reads no 400); every other, 400.
        assert response.status_code == (422 if "documents" in body and path == "/rerank" else 400), path


def test_each_apps_limits_stay_its_own(api_settings: Settings) -> None:
    """The limits are written into a copy: an app built later with others leaves them as they were."""

    def text_2_items(app: FastAPI) -> Any:
        return app.openapi()["components"]["schemas"]["VllmScoreRequest"]["properties"]["text_2"]["anyOf"]

    small = create_app(api_settings.model_copy(update={"max_document_chars": 300}))
    before = text_2_items(small)
    text_2_items(create_app(api_settings.model_copy(update={"max_document_chars": 400})))
    assert text_2_items(small) == before
    assert before[1]["items"]["maxLength"] == 300
