"""The serving path (API, service, scorers, Lambda handler) never imports heavy or offline-only packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FORBIDDEN = ["torch", "transformers", "ranx", "numba", "bm25s"]


def test_serving_path_imports_no_torch_transformers_ranx_numba_bm25s(default_model_dir: Path) -> None:
    script = (
        "import sys, json\n"
        "import reranker.handler\n"
        "reranker.handler.app.state.service.warm('default')\n"
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))\n"
    )
    env = {
        **os.environ,
        "RERANK_MODELS": json.dumps({"all-minilm-l6-v2": str(default_model_dir)}),
        "RERANK_ALIASES": json.dumps({"default": "all-minilm-l6-v2"}),
        "RERANK_DEFAULT_MODEL": "default",
        "RERANK_API_KEYS": "k",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


# What a Lambda cold start must not load before its first /v1/rerank answer: the other APIs'
# wire formats, the metrics renderers, the S3 client (a local model), anyio's event-loop backend
# (scoring threads are our own), the OpenAPI document.
DEFERRED = [
    "reranker.api.compat.router",
    "reranker.api.compat.cohere",
    "reranker.api.compat.tei",
    "prometheus_client",
    "boto3",
    "botocore",
    "anyio._backends._asyncio",
]
_COLD_START = """
import json, sys
sys.path.insert(0, {root!r})
from tests.events.test_handler import make_event
import reranker.handler
body = json.dumps({{"model": "default", "query": "deploy a model",
                   "documents": ["billing and invoices", "deploy a model"]}}).encode()
headers = {{"Authorization": "Bearer k", "Content-Type": "application/json"}}
answer = reranker.handler.handler(make_event("apigw-http-v2", "POST", {path!r}, body, headers), None)
print(json.dumps({{"status": answer["statusCode"], "body": json.loads(answer["body"]),
                  "openapi_built": reranker.handler.app.openapi_schema is not None,
                  "loaded": [m for m in {deferred!r} if m in sys.modules]}}))
"""


def cold_start(default_model_dir: Path, path: str) -> dict[str, Any]:
    """Return what one fresh Lambda environment answered to its first event, and what it imported."""
    script = _COLD_START.format(root=str(Path(__file__).parents[1]), path=path, deferred=DEFERRED)
    env = {
        **os.environ,
        "RERANK_MODELS": json.dumps({"all-minilm-l6-v2": str(default_model_dir)}),
        "RERANK_ALIASES": json.dumps({"default": "all-minilm-l6-v2"}),
        "RERANK_DEFAULT_MODEL": "default",
        "RERANK_API_KEYS": "k",
        "RERANK_BACKEND": "onnxruntime",
        "RERANK_LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_a_cold_start_answers_v1_rerank_without_loading_what_it_does_not_use(default_model_dir: Path) -> None:
    answer = cold_start(default_model_dir, "/v1/rerank")
    assert answer["status"] == 200
    assert [result["index"] for result in answer["body"]["results"]] == [1, 0]
    assert answer["loaded"] == []
    assert answer["openapi_built"] is False


def test_the_first_request_of_another_format_loads_it_and_is_answered(default_model_dir: Path) -> None:
    answer = cold_start(default_model_dir, "/v2/rerank")
    assert answer["status"] == 200
    assert [result["index"] for result in answer["body"]["results"]] == [1, 0]
    assert "reranker.api.compat.cohere" in answer["loaded"]
