"""The OpenAPI schema says what the server enforces (issue 23, point 9): for each body below,
schema-valid if and only if the server takes it, checked with a JSON Schema validator against
the served `/openapi.json` and by sending the body to the real app.

The fuzz (`test_fuzz.py`) cannot reach these rules: it drops `fusion` and `instruction` from
generated bodies, and a generated Voyage `model` rarely comes out empty.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from tests.hardening.conftest import AUTH

DOCS = ["a cat sat", "a dog ran", "the sun rose"]
BM25 = [1.0, 3.0, 2.0]


def fused(fusion: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "tiny-ce",
        "query": "cat",
        "documents": DOCS,
        "extra_body": {"first_stage_scores": BM25, "fusion": fusion},
    }


CASES = [
    # (path, body, accepted by the server)
    ("/voyage/v1/rerank", {"model": "", "query": "cat", "documents": DOCS}, False),
    ("/voyage/v1/rerank", {"model": "tiny-ce", "query": "cat", "documents": DOCS}, True),
    ("/v1/rerank", fused({"method": "rrf", "weight": 0.5}), False),
    ("/v1/rerank", fused({"method": "rrf", "weight": None, "k": 10}), True),
    ("/v1/rerank", fused({"method": "rrf"}), True),
    ("/v1/rerank", fused({"method": "combsum", "k": 10}), False),
    ("/v1/rerank", fused({"method": "combsum", "weight": 0.3, "k": None}), True),
]


def request_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    """Return the request body schema of POST `path`, with the document's components beside it."""
    body = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**body, "components": openapi["components"]}


@pytest.mark.parametrize(("path", "body", "accepted"), CASES)
def test_schema_valid_exactly_when_the_server_accepts(
    hardened_client: TestClient, path: str, body: dict[str, Any], accepted: bool
) -> None:
    schema = request_schema(hardened_client.get("/openapi.json").json(), path)
    valid = jsonschema.Draft202012Validator(schema).is_valid(body)
    response = hardened_client.post(path, json=body, headers=AUTH)
    assert (response.status_code == 200) is accepted, response.text
    assert valid is accepted, (path, body)
    if not accepted:
        assert response.status_code == 400 and response.json()["error"].get("param"), response.text


def test_instruction_depends_on_the_model_and_its_description_says_so(hardened_client: TestClient) -> None:
    """Whether an instruction is taken depends on the model, which no schema can say: the
    field's description does, and names where to look (`/v1/models`)."""
    openapi = hardened_client.get("/openapi.json").json()
    description = openapi["components"]["schemas"]["ExtraBody"]["properties"]["instruction"]["description"]
    assert "Rejected (400) for models that take none" in description and "/v1/models" in description
    body = {"model": "tiny-ce", "query": "cat", "documents": DOCS, "extra_body": {"instruction": "Rank."}}
    response = hardened_client.post("/v1/rerank", json=body, headers=AUTH)
    assert response.status_code == 400 and response.json()["error"]["param"] == "extra_body.instruction"
    cards = hardened_client.get("/v1/models", headers=AUTH).json()["data"]
    assert next(card for card in cards if card["id"] == "tiny-ce")["instructions"] is False
