"""The serving path (API, service, scorers, Lambda handler) never imports heavy or offline-only packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
