"""Infinity's generated client (infinity-client 0.0.78), the real one, against `reranker serve`.

It needs httpx < 0.28, which the dev venv cannot hold, so it runs in a venv of its own, built once
under `<repo>/.cache/client-venvs/` (git-ignored) and kept; a script there calls our server and
prints what the client parsed, as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.compat.conftest import KEY, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY

REQUIREMENTS = ["infinity-client==0.0.78", "httpx<0.28"]
VENV = Path(__file__).resolve().parents[3] / ".cache" / "client-venvs" / "infinity-client"

SCRIPT = """
import json, sys
from infinity_client import AuthenticatedClient
from infinity_client.api.default import models, rerank
from infinity_client.models import RerankInput

url, key, query, documents = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
client = AuthenticatedClient(base_url=url, token=key)


def parsed(body):
    answer = rerank.sync(client=client, body=body)
    if answer is None:
        return None
    out = {"class": type(answer).__name__, "extra": sorted(answer.additional_properties)}
    if hasattr(answer, "results"):
        out["results"] = [[r.index, r.relevance_score, r.document] for r in answer.results]
        out["model"] = answer.model
    else:
        out["detail"] = [{"loc": e.loc, "msg": e.msg, "type": e.type} for e in answer.detail]
    return out


listed = models.sync(client=client)
print(json.dumps({
    "ok": parsed(RerankInput(query=query, documents=documents, model="tiny-ce", return_documents=True)),
    "empty": parsed(RerankInput(query=query, documents=[], model="tiny-ce")),
    "top_n": parsed(RerankInput(query=query, documents=documents, model="tiny-ce", top_n=0)),
    "models": None if listed is None else sorted(m.id for m in listed.data),
}))
"""


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="session")
def infinity_python() -> Path:
    """Return the python of a venv with infinity-client, built on first use; a failed build fails."""
    python = VENV / "bin" / "python"
    ready = VENV / "installed.txt"  # written last: a venv cut off mid-install is built again
    if ready.is_file() and ready.read_text() == "\n".join(REQUIREMENTS):
        return python
    built = _pip(sys.executable, "-m", "venv", "--clear", str(VENV))
    if built.returncode != 0:
        pytest.fail(f"python -m venv {VENV} failed:\n{built.stdout}\n{built.stderr}")
    installed = _pip(str(python), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS)
    if installed.returncode != 0:
        pytest.fail(f"pip install {' '.join(REQUIREMENTS)} failed:\n{installed.stdout}\n{installed.stderr}")
    ready.write_text("\n".join(REQUIREMENTS))
    return python


@pytest.fixture(scope="session")
def answers(infinity_python: Path, base_url: str) -> dict[str, Any]:
    run = subprocess.run(
        [str(infinity_python), "-c", SCRIPT, base_url, KEY, QUERY, json.dumps(DOCS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    parsed: dict[str, Any] = json.loads(run.stdout)
    return parsed


@pytest.mark.slow
def test_rerank_parses_our_ranking_and_documents(answers: dict[str, Any], base_url: str) -> None:
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS)
    assert answers["ok"]["class"] == "ReRankResult" and answers["ok"]["model"] == "tiny-ce"
    assert [(index, score) for index, score, _ in answers["ok"]["results"]] == ranking(expected)
    assert [document for index, _, document in answers["ok"]["results"]] == [
        DOCS[index] for index, _ in ranking(expected)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "loc", "fragment"),
    [
        ("empty", ["body", "documents"], "documents must not be empty: send at least one document"),
        ("top_n", ["body", "top_n"], "top_n must be greater than or equal to 1"),
    ],
)
def test_an_invalid_request_is_a_parsed_validation_error(
    answers: dict[str, Any], case: str, loc: list[str], fragment: str
) -> None:
    """Not `None`: the client parses only 200 and 422, so the Infinity route answers 422."""
    answer = answers[case]
    assert answer is not None
    assert answer["class"] == "HTTPValidationError"
    assert [error["loc"] for error in answer["detail"]] == [loc]
    assert fragment in answer["detail"][0]["msg"]
    assert answer["extra"] == ["error"]  # our error object rides along, kept by the client


@pytest.mark.slow
def test_models_lists_what_we_serve(answers: dict[str, Any]) -> None:
    assert answers["models"] == ["all-minilm-l6-v2", "default", "tiny-ce"]
