"""Cold start: process spawn -> first answer, model folder on local disk, imports included.

Each contender starts as a fresh Python process and answers one request (the query and one
~200-word document); the parent times spawn -> answer, and the child reports where its time
went (imports, model load, first call). Runs are interleaved and repeated; medians printed.
The page cache is warm after the first run (the model files stay in memory), as on a host that
restarts a process; a Lambda's first start after deploy reads from disk and is slower.

Contenders: `api` (`reranker serve`, until the first /v1/rerank answer), `lambda`
(`import reranker.handler`, which loads and warms the default model, then one function-URL
event through the Mangum handler), `scorer` (load_scorer + score), `st` (sentence-transformers
import, load, predict), `naive` (onnxruntime + tokenizers, one run), `floor` (the bare stack:
numpy, onnxruntime, tokenizers, one pair scored), `floor+framework` (the floor plus importing
the framework the design keeps: FastAPI, Mangum, pydantic-settings; what no code of ours can
go below while those stay).

    python benchmarks/cold_start.py            # ce, max_length 512, 5 runs each
    python benchmarks/cold_start.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_CACHE,
    QUERY,
    make_documents,
    median,
    model_setup,
    print_header,
    print_table,
)
from procs import API_KEY, ApiServer, child_env

ALL_CONTENDERS = ("api", "lambda", "scorer", "st", "naive", "floor", "floor+framework")

# Each child prints one JSON line: {"import": s, "load": s, "first": s, "rss": MB}.
_PRELUDE = """
import time; _t0 = time.perf_counter()
import json, re, sys
args = json.loads(sys.argv[1])
"""
# VmHWM, not getrusage: ru_maxrss survives exec, so a child of a large parent would report the
# parent's peak (1.5 GB here, from the export the benchmark ran first).
_REPORT = """
_t3 = time.perf_counter()
_hwm = re.search(r"^VmHWM:\\s+(\\d+)", open("/proc/self/status").read(), re.MULTILINE)
print(json.dumps({"import": _t1 - _t0, "load": _t2 - _t1, "first": _t3 - _t2,
                  "rss": int(_hwm.group(1)) / 1024}))
"""
CHILD_CODE = {
    "scorer": """
from pathlib import Path
from reranker.model_store.local import LocalModelStore
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import RuntimeOptions, ScoreOptions
_t1 = time.perf_counter()
local = LocalModelStore().fetch(args["folder"], label="bench")
scorer = load_scorer(local.folder, local.manifest, RuntimeOptions(precision=args["variant"]))
_t2 = time.perf_counter()
scorer.score(args["query"], args["documents"], ScoreOptions())
""",
    "lambda": """
import reranker.handler as module
_t1 = time.perf_counter()
_t2 = _t1
response = module.handler(args["event"], None)
assert response["statusCode"] == 200, response
""",
    "st": """
import os
os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import CrossEncoder, SentenceTransformer
_t1 = time.perf_counter()
if args["kind"] == "ce":
    model = CrossEncoder(args["checkpoint"], max_length=args["max_length"], device="cpu")
    _t2 = time.perf_counter()
    model.predict([(args["query"], d) for d in args["documents"]], show_progress_bar=False)
else:
    model = SentenceTransformer(args["checkpoint"], device="cpu")
    model.max_seq_length = args["max_length"]
    _t2 = time.perf_counter()
    model.encode([args["query"], *args["documents"]])
""",
    # The bare floor of our stack: what any server on it must do before its first answer (import
    # numpy, onnxruntime and tokenizers, open the graph, tokenize and score the pair, unpadded).
    "floor": """
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
_t1 = time.perf_counter()
manifest = json.loads(open(args["folder"] + "/model.json").read())
session = ort.InferenceSession(args["folder"] + "/" + manifest["variants"][args["variant"]],
                               providers=["CPUExecutionProvider"])
tokenizer = Tokenizer.from_file(args["folder"] + "/" + manifest["tokenizer"])
tokenizer.enable_truncation(args["max_length"])
names = {node.name for node in session.get_inputs()}
_t2 = time.perf_counter()
pair = tokenizer.encode(args["query"], args["documents"][0])
feed = {"input_ids": [pair.ids], "attention_mask": [pair.attention_mask], "token_type_ids": [pair.type_ids]}
session.run(None, {k: np.array(v, dtype=np.int64) for k, v in feed.items() if k in names})
""",
    "naive": """
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
_t1 = time.perf_counter()
manifest = json.loads(open(args["folder"] + "/model.json").read())
session = ort.InferenceSession(args["folder"] + "/" + manifest["variants"][args["variant"]])
tokenizer = Tokenizer.from_file(args["folder"] + "/" + manifest["tokenizer"])
tokenizer.enable_truncation(args["max_length"])
tokenizer.enable_padding(length=args["max_length"])
names = {node.name for node in session.get_inputs()}
_t2 = time.perf_counter()
texts = [(args["query"], d) for d in args["documents"]] if args["kind"] == "ce" else args["documents"]
encodings = tokenizer.encode_batch(texts)
feed = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings]}
session.run(None, {k: np.array(v, dtype=np.int64) for k, v in feed.items() if k in names})
""",
}
# The floor plus the framework imports the design keeps (FastAPI, Mangum, pydantic-settings):
# the part of our Lambda init that is the framework's, not ours.
CHILD_CODE["floor+framework"] = "import fastapi, mangum, pydantic_settings\n" + CHILD_CODE["floor"]


def lambda_event(model: str, query: str, documents: Sequence[str]) -> dict[str, Any]:
    """Return a Lambda function-URL event (payload 2.0) carrying one POST /v1/rerank."""
    body = json.dumps({"model": model, "query": query, "documents": list(documents)})
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/rerank",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "authorization": f"Bearer {API_KEY}",
            "host": "example.lambda-url.us-east-1.on.aws",
            "content-length": str(len(body)),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "example",
            "domainName": "example.lambda-url.us-east-1.on.aws",
            "http": {"method": "POST", "path": "/v1/rerank", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def lambda_env(name: str, folder: Path) -> dict[str, str]:
    """Return the settings under which `import reranker.handler` loads `folder` as the default model."""
    return {
        "RERANK_MODELS": json.dumps({name: str(folder)}),
        "RERANK_DEFAULT_MODEL": name,
        "RERANK_API_KEYS": API_KEY,
        "RERANK_LOG_LEVEL": "WARNING",
    }


def run_child(contender: str, child_args: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """Return the spawn -> answer seconds of one child, with its own breakdown."""
    code = _PRELUDE + CHILD_CODE[contender] + _REPORT
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(child_args)],
        capture_output=True,
        text=True,
        env=child_env(env),
        check=False,
    )
    total = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "total": total}


def run_api(folder: Path, variant: str) -> dict[str, float]:
    """Return spawn -> first /v1/rerank answer of `reranker serve`, and the server's peak RSS."""
    server = ApiServer("api", folder, variant)
    try:
        server.wait_ready()
        total = float(server.ready["first_answer_seconds"])
        rss = server.peak_rss_mb()
    finally:
        server.close()
    nan = float("nan")
    return {"total": total, "import": nan, "load": nan, "first": nan, "rss": rss}


def run(args: argparse.Namespace) -> None:
    folder, checkpoint = (
        (args.model_dir, args.checkpoint)
        if args.model_dir
        else model_setup(args.model, args.max_length, args.cache_dir, args.rebuild)
    )
    name = json.loads((folder / "model.json").read_text())["name"]
    documents = make_documents(1, args.words)
    base = {
        "folder": str(folder),
        "checkpoint": str(checkpoint),
        "kind": args.model,
        "max_length": args.max_length,
        "query": QUERY,
        "documents": documents,
        "event": lambda_event(name, QUERY, documents),
    }
    print_header(
        "cold start: process spawn -> first answer (1 query, 1 document of ~200 words)",
        {
            "model folder": str(folder.parent.name),
            "max_length": args.max_length,
            "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        },
    )
    cases = [(c, v) for c in args.contenders for v in (("fp32",) if c == "st" else args.variants)]
    results: dict[tuple[str, str], list[dict[str, float]]] = {case: [] for case in cases}
    for rep in range(args.reps):
        for contender, variant in cases[rep % len(cases) :] + cases[: rep % len(cases)]:
            if contender == "api":
                figures = run_api(folder, variant)
            else:
                env = lambda_env(name, folder) if contender == "lambda" else {}
                figures = run_child(
                    contender, {**base, "variant": variant}, {**env, "RERANK_PRECISION": variant}
                )
            results[(contender, variant)].append(figures)
    rows = []
    for (contender, variant), runs in results.items():
        rows.append(
            {
                "contender": contender,
                "variant": variant if contender != "st" else "fp32 (PyTorch)",
                "runs": len(runs),
                "cold start s (median)": median(r["total"] for r in runs),
                "min s": min(r["total"] for r in runs),
                "imports s": median(r["import"] for r in runs),
                "model load s": median(r["load"] for r in runs),
                "first call s": median(r["first"] for r in runs),
                "peak RSS MB": median(r["rss"] for r in runs),
            }
        )
    floors = {
        str(r["variant"]): float(str(r["cold start s (median)"])) for r in rows if r["contender"] == "floor"
    }
    for row in rows:
        floor = floors.get(str(row["variant"]).split()[0])  # st's "fp32 (PyTorch)" against fp32's
        row["x floor"] = f"{float(str(row['cold start s (median)'])) / floor:.2f}" if floor else "-"
    print_table(rows, list(rows[0]))
    print(
        "x floor: cold start over the floor's (a bare process: numpy, onnxruntime and tokenizers "
        "imported, the same graph opened, one pair scored) in the same run. "
        "cold start = parent's spawn -> answer; the rest is the child's own clock (interpreter start not "
        "included). lambda: imports s = import reranker.handler (which loads and warms the model), "
        "first call s = one function-URL event. api: serve's start, warm-up and first HTTP answer."
    )
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["ce", "bi"], default="ce")
    parser.add_argument("--max-length", type=int, default=None, help="default: 512 (ce), 256 (bi)")
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5, help="cold starts per contender")
    parser.add_argument("--variants", type=lambda s: s.split(","), default=["fp32", "int8"])
    parser.add_argument("--contenders", type=lambda s: s.split(","), default=list(ALL_CONTENDERS))
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--rebuild", action="store_true", help="re-export the cached model (after exporter changes)"
    )
    parser.add_argument(
        "--model-dir", type=Path, help="an exported model folder to use instead of building one"
    )
    parser.add_argument("--checkpoint", type=Path, help="its PyTorch checkpoint (with --model-dir)")
    parser.add_argument("--quick", action="store_true", help="2 runs per contender")
    args = parser.parse_args(argv)
    if args.model_dir and not args.checkpoint:
        parser.error("--model-dir needs --checkpoint")
    unknown = set(args.contenders) - set(ALL_CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {list(ALL_CONTENDERS)}")
    args.max_length = args.max_length or (512 if args.model == "ce" else 256)
    if args.quick:
        args.reps = 2
    return args


if __name__ == "__main__":
    run(parse_args())
