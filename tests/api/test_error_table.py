"""The error tables of the README and docs/rerank-api.md against the error classes and the renderer.

Every (status, type) the service can answer must be a row, every row must be one the service
answers, and the `param` column must say what the renderer really sends.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import reranker.api
from reranker.api import error_renderer as renderer
from reranker.api.app import create_app
from reranker.config import Settings
from reranker.errors import RerankError
from tests.api.conftest import AUTH

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "rerank-api.md"]
ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \| .* \| (.*) \|$")


def table(path: Path) -> dict[tuple[int, str], str]:
    """Return {(status, type): param column} of the error table in `path`."""
    rows = {}
    for line in path.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[(int(match[1]), match[2])] = match[3]
    return rows


def answered() -> set[tuple[int, str]]:
    """Return every (status, type) of the API: the RerankError classes and the renderer's own."""
    for module in pkgutil.walk_packages(reranker.api.__path__, "reranker.api."):
        importlib.import_module(module.name)  # registers the API's own RerankError subclasses
    classes, pending = set(), [RerankError]
    while pending:
        cls = pending.pop()
        classes.add(cls)
        pending.extend(cls.__subclasses__())
    from_classes = {
        (cls.status, cls.type)
        for cls in classes
        # The CLI-only errors of export and eval never reach the API.
        if not cls.__module__.startswith(("reranker.export", "reranker.eval"))
    }
    return from_classes | {(status, type_) for status, type_ in renderer._STATUS_TYPES.items()}


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_table_lists_exactly_the_errors_the_service_answers(path: Path) -> None:
    assert set(table(path)) == answered()


def test_both_documents_carry_the_same_table() -> None:
    assert table(DOCUMENTS[0]) == table(DOCUMENTS[1])


def test_param_column_matches_what_the_renderer_sends(client: TestClient) -> None:
    documented = table(DOCUMENTS[0])
    seen = {
        (401, "authentication_error"): client.post("/v1/rerank", json={}),
        (404, "not_found"): client.get("/no/such/route", headers=AUTH),
        (405, "method_not_allowed"): client.get("/v1/rerank", headers=AUTH),
        (415, "unsupported_media_type"): client.post(
            "/v1/rerank", content=b"{}", headers={**AUTH, "Content-Type": "text/plain"}
        ),
        (413, "payload_too_large"): client.post("/v1/rerank", content=b"x" * 7_000_000, headers=AUTH),
        (404, "model_not_found"): client.post(
            "/v1/rerank", json={"model": "nope", "query": "q", "documents": ["a"]}, headers=AUTH
        ),
        (400, "invalid_request"): client.post(
            "/v1/rerank", json={"model": "default", "query": "q", "documents": []}, headers=AUTH
        ),
        (422, "invalid_request"): client.post("/rerank", json={"query": "q", "documents": []}, headers=AUTH),
    }
    for (status, type_), response in seen.items():
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["type"] == type_
        column = documented[(status, type_)]
        if column == "absent":
            assert "param" not in error, (status, type_)
        else:
            assert error["param"] in column, (status, type_, column)
    bad_json = client.post(
        "/v1/rerank", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and "param" not in bad_json.json()["error"]
    assert "absent when the body is not JSON" in documented[(400, "invalid_request")]


def test_ready_503_is_the_documented_row(api_settings: Settings) -> None:
    """GET /ready on a cold app: 503 `model_unavailable` with Retry-After, as the table's row says."""
    with TestClient(create_app(api_settings)) as cold:
        response = cold.get("/ready")
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "model_unavailable" and "param" not in error
    assert response.headers["Retry-After"] == "1"
    for path in DOCUMENTS:
        (row,) = [
            line for line in path.read_text().splitlines() if line.startswith("| 503 | `model_unavailable`")
        ]
        assert "GET /ready" in row and "Retry-After" in row, path.name
    declared = cold.app.openapi()["paths"]["/ready"]["get"]["responses"]["503"]  # type: ignore[attr-defined]
    assert declared["headers"]["Retry-After"]["required"] is True
