"""Every contender in one run: ours against sentence-transformers, naive onnxruntime, FlashRank, Infinity.

All on the same MiniLM-L6 cross-encoder weights (common.model_setup("ce", ...)). For each
max_length (128, 256, 512) the contenders start together, each in its own child process, and
take turns request by request (throughput.interleave) on 1 query x N documents, short (~40
words) and long (~200 words), one untimed request per set first; figures are medians, ratios
are to sentence-transformers (`st`) in the same run. Then a cold start per contender, one at a
time: spawn -> ready -> first answer; for ours, the Lambda init path (`import reranker.handler`
+ one function-URL event, as cold_start.py does).

FlashRank and Infinity run under the benchmark venv's python (`make bench-venv`: .venv-bench,
from benchmarks/requirements-bench.txt); without it they are skipped with a line that says so.

    python benchmarks/compare.py                     # 128,256,512 x short,long; 100 docs; ~20 min
    python benchmarks/compare.py --quick             # 128 only, 20 docs, 1 request each
    python benchmarks/compare.py --contenders api:int8,st,flashrank --max-lengths 256
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cold_start import lambda_env, lambda_event, run_child
from common import (
    DEFAULT_CACHE,
    QUERY,
    REPO_ROOT,
    fill_once,
    make_documents,
    median,
    model_setup,
    parse_csv_ints,
    print_header,
    print_table,
    workload_source,
)
from contenders import FLASHRANK_MODEL_FILE
from procs import API_KEY, ApiServer, Worker
from throughput import interleave, spearman

BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
# Contenders whose libraries live in the benchmark venv only.
BENCH_VENV_CONTENDERS = frozenset({"flashrank", "infinity-onnx", "infinity-torch"})
KNOWN = frozenset({"api", "scorer", "st", "naive"}) | BENCH_VENV_CONTENDERS
DOCUMENT_WORDS = {"short": 40, "long": 200}


@dataclass(frozen=True)
class Contender:
    """One row of the tables: a contender (contenders.py name or `api`), a model variant, settings.

    `env` adds RERANK_* settings for ours (`api`, `scorer`), so another variant or backend of our
    scorer is one more entry, e.g. Contender("api", "int8", {"RERANK_RUNTIME": "openvino"}, "openvino").
    """

    name: str
    variant: str = "fp32"
    env: Mapping[str, str] = field(default_factory=dict)
    tag: str = ""

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.name, self.variant, self.tag) if part)


ONNXRUNTIME = {"RERANK_RUNTIME": "onnxruntime"}
OPENVINO = {"RERANK_RUNTIME": "openvino"}
DEFAULT_CONTENDERS = (
    Contender("api", "int8", OPENVINO, "openvino"),
    Contender("api", "bf16", OPENVINO, "openvino"),
    Contender("api", "fp32", OPENVINO, "openvino"),
    Contender("api", "int8", ONNXRUNTIME, "onnxruntime"),
    Contender("api", "fp32", ONNXRUNTIME, "onnxruntime"),
    Contender("st", "fp32"),
    Contender("naive", "int8"),
    Contender("flashrank", "int8"),
    Contender("infinity-onnx", "int8"),
    Contender("infinity-torch", "fp32"),
)


def parse_contenders(text: str) -> list[Contender]:
    """Return the contenders of "api:int8@openvino,st,flashrank" (variant after a colon, backend after @)."""
    chosen = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        item, _, backend = item.partition("@")
        name, _, variant = item.partition(":")
        if backend:
            if name not in {"api", "scorer"} or backend not in {"onnxruntime", "openvino"}:
                raise argparse.ArgumentTypeError(
                    f"{item}@{backend}: only api and scorer take @onnxruntime|@openvino"
                )
            chosen.append(Contender(name, variant or "int8", {"RERANK_RUNTIME": backend}, backend))
            continue
        if name not in KNOWN:
            raise argparse.ArgumentTypeError(f"unknown contender {name!r}; choose from {sorted(KNOWN)}")
        default = "int8" if name in {"flashrank", "infinity-onnx"} else "fp32"
        chosen.append(Contender(name, variant or default))
    return chosen


# --- Folders the other rerankers load -------------------------------------------------------


def _link(target: Path, link: Path) -> None:
    link.symlink_to(target.resolve())


def _tokenizer_config(checkpoint: Path, max_length: int) -> dict[str, object]:
    config: dict[str, object] = json.loads((checkpoint / "tokenizer_config.json").read_text())
    return {**config, "model_max_length": max_length}


def flashrank_folder(model: Path, checkpoint: Path, cache: Path, variant: str = "int8") -> Path:
    """Return a FlashRank model folder: our ONNX file of `variant` and the checkpoint's tokenizer files.

    Ranker reads config.json (pad id), tokenizer_config.json, special_tokens_map.json (which
    transformers 5 no longer writes, so it is made from tokenizer_config's *_token entries) and
    tokenizer.json from cache_dir/model_name/.
    """

    model_name = f"minilm-l6-ce-{variant}"

    def build(folder: Path) -> None:
        inner = folder / model_name
        inner.mkdir()
        manifest = json.loads((model / "model.json").read_text())
        _link(model / manifest["variants"][variant], inner / FLASHRANK_MODEL_FILE)
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            _link(checkpoint / name, inner / name)
        config = json.loads((checkpoint / "tokenizer_config.json").read_text())
        tokens = {k: v for k, v in config.items() if k.endswith("_token") and isinstance(v, str)}
        (inner / "special_tokens_map.json").write_text(json.dumps(tokens))

    return fill_once(cache / f"flashrank-{variant}-{model.parent.name}", build) / model_name


def infinity_folder(engine: str, variant: str, model: Path, checkpoint: Path, cache: Path) -> Path:
    """Return an Infinity model folder for `engine` ("onnx" or "torch") at the model's max_length.

    Infinity has no max_length option: the torch engine truncates at the tokenizer's
    model_max_length, the optimum engine at config.max_position_embeddings; both are set to our
    max_length here (for ONNX the config is metadata only: the weights are in the graph).
    infinity-emb 0.0.78 does not export ONNX itself (a folder without an .onnx file raises
    "No onnx files found"), so the optimum engine gets our graph: on CPU it prefers a file
    named *quantize*, so int8 is linked as model_quantized.onnx and fp32 as model.onnx.
    """
    max_length = int(json.loads((model / "model.json").read_text())["max_length"])

    def build(folder: Path) -> None:
        tokenizer_config = _tokenizer_config(checkpoint, max_length)
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
        _link(checkpoint / "tokenizer.json", folder / "tokenizer.json")
        if engine == "torch":
            _link(checkpoint / "config.json", folder / "config.json")
            _link(checkpoint / "model.safetensors", folder / "model.safetensors")
            return
        config = json.loads((checkpoint / "config.json").read_text())
        config["max_position_embeddings"] = max_length
        (folder / "config.json").write_text(json.dumps(config))
        manifest = json.loads((model / "model.json").read_text())
        name = "model_quantized.onnx" if variant == "int8" else "model.onnx"
        _link(model / manifest["variants"][variant], folder / name)

    return fill_once(cache / f"infinity-{engine}-{variant}-{model.parent.name}", build)


# --- Processes ------------------------------------------------------------------------------


def spawn(
    contender: Contender, model: Path, checkpoint: Path, cache: Path, bench_python: Path
) -> Worker | ApiServer:
    """Start one contender's child process on the model folder (of one max_length)."""
    max_length = int(json.loads((model / "model.json").read_text())["max_length"])
    if contender.name == "api":
        env = {"RERANK_EMBEDDING_CACHE_SIZE": "0", **contender.env}
        return ApiServer(contender.label, model, contender.variant, env)
    folder, python = model, sys.executable
    env = dict(contender.env)
    if contender.name == "flashrank":
        folder = flashrank_folder(model, checkpoint, cache, contender.variant)
        python = str(bench_python)
    elif contender.name.startswith("infinity-"):
        engine = contender.name.removeprefix("infinity-")
        folder = infinity_folder(engine, contender.variant, model, checkpoint, cache)
        python = str(bench_python)
        # Infinity caches its optimised graph under the hub cache: one per folder, not ~/.cache.
        env |= {"HF_HUB_CACHE": str(folder / ".hub"), "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    args = [contender.name, "--folder", str(folder), "--checkpoint", str(checkpoint), "--kind", "ce"]
    args += ["--max-length", str(max_length), "--variant", contender.variant]
    return Worker(contender.label, args, env, python=python)


def bench_versions(bench_python: Path) -> str:
    """Return the versions of the other rerankers' libraries in the benchmark venv, for the header."""
    if not bench_python.is_file():
        return "absent"
    names = ("flashrank", "infinity-emb", "optimum", "transformers", "sentence-transformers", "torch")
    code = (
        "import importlib.metadata as m, sys; print(' '.join(n + ' ' + m.version(n) for n in sys.argv[1:]))"
    )
    done = subprocess.run([bench_python, "-c", code, *names], capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()[-300:]


def available(contenders: Sequence[Contender], bench_python: Path) -> list[Contender]:
    """Return the contenders that can run here; say loudly which are skipped and why."""
    missing = sorted({c.name for c in contenders if c.name in BENCH_VENV_CONTENDERS})
    if missing and not bench_python.is_file():
        print(
            f"!! SKIPPED {', '.join(missing)}: the benchmark venv ({bench_python.parent.parent}) is "
            "missing; build it with `make bench-venv` (benchmarks/requirements-bench.txt)"
        )
        return [c for c in contenders if c.name not in BENCH_VENV_CONTENDERS]
    return list(contenders)


# --- Tables -----------------------------------------------------------------------------------


def ratio_cell(rate: float, st_rate: float) -> str:
    """Return "pairs/s (x st)", e.g. "24.1 (1.83x)"; "n/a" for a ratio that cannot be taken."""
    ratio = f"{rate / st_rate:.2f}x" if st_rate == st_rate and st_rate > 0 else "n/a"
    return f"{rate:.3g} ({ratio})"


def ratio_rows(
    labels: Sequence[str],
    rates: Mapping[tuple[str, str], float],
    extra: Mapping[str, Mapping[str, object]],
    columns: Sequence[str],
    baseline: str,
) -> list[dict[str, object]]:
    """Return one row per contender: pairs/s with the ratio to `baseline` per column, then `extra`."""
    rows: list[dict[str, object]] = []
    for label in labels:
        row: dict[str, object] = {"contender": label}
        for column in columns:
            rate = rates.get((label, column))
            row[column] = (
                "n/a" if rate is None else ratio_cell(rate, rates.get((baseline, column), float("nan")))
            )
        rows.append({**row, **extra.get(label, {})})
    return rows


def synthetic_note() -> str:
    """Return the loud mark that every figure gets when ../shared is absent, else ""."""
    if workload_source() == "SciFact abstracts":
        return ""
    return "SYNTHETIC TEXT"


def print_marked(rows: list[dict[str, object]], columns: list[str]) -> None:
    """Print a table; with synthetic text, every row says so in a column and a line follows."""
    note = synthetic_note()
    if note:
        rows = [{**row, "text": note} for row in rows]
        columns = [*columns, "text"]
    print_table(rows, columns)
    if note:
        print(
            f"!! {note}: ../shared/data/beir/scifact is absent, so every figure above is on words "
            "drawn from a small fixed list, not real abstracts: token counts and so speeds differ."
        )


# --- The run ----------------------------------------------------------------------------------


RSS = "peak RSS MB"
CORR = "min rank corr vs st"


def plain_client_seconds(process: ApiServer, query: str, documents: Sequence[str], reps: int) -> list[float]:
    """Return the seconds of `reps` requests timed by plain_client.py, a stdlib client in its own process."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as workload:
        json.dump({"query": query, "documents": list(documents)}, workload)
        workload.flush()
        script = str(Path(__file__).with_name("plain_client.py"))
        done = subprocess.run(
            [
                sys.executable,
                script,
                process.base_url,
                API_KEY,
                process.model,
                workload.name,
                "--reps",
                str(reps),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    seconds: list[float] = json.loads(done.stdout)["seconds"]
    return seconds


def throughput(
    args: argparse.Namespace, contenders: Sequence[Contender]
) -> tuple[
    dict[tuple[str, str], float], dict[str, dict[str, float]], list[str], dict[tuple[str, str], float]
]:
    """Return pairs/s by (label, column), per label its peak RSS and rank corr (worst over cells), columns,
    and for our API rows the pairs/s a plain HTTP client in another process measured (label, column).

    The rank correlation (Spearman, first request of each cell) with sentence-transformers checks
    that every contender runs the same weights and truncation: ~1 for fp32, a little less for int8.
    """
    sets = {length: make_documents(args.docs, words, seed=1) for length, words in DOCUMENT_WORDS.items()}
    rates: dict[tuple[str, str], float] = {}
    worst: dict[str, dict[str, float]] = {c.label: {RSS: 0.0, CORR: 1.0} for c in contenders}
    st_index = next((i for i, c in enumerate(contenders) if c.name == "st"), None)
    columns: list[str] = []
    plain: dict[tuple[str, str], float] = {}
    for max_length in args.max_lengths:
        model, checkpoint = model_setup("ce", max_length, args.cache_dir, args.rebuild)
        sys.stderr.write(f"max_length {max_length}: starting {len(contenders)} contenders\n")
        processes = [spawn(c, model, checkpoint, args.cache_dir, args.bench_python) for c in contenders]
        try:
            for process in processes:  # started together, waited for in turn: loading overlaps
                process.wait_ready()
            for process in processes:
                process.load(QUERY, sets)
            # One untimed request per set first: a first request of a new size pays allocations.
            interleave(processes, [(length, 1) for length in DOCUMENT_WORDS], args.pause)
            rounds = [(length, args.reps) for length in DOCUMENT_WORDS]
            timings, scores = interleave(processes, rounds, args.pause)
            for index, process in enumerate(processes):  # the cross-check of the runner's own clock
                if isinstance(process, ApiServer):
                    for length, documents in sets.items():
                        seconds = plain_client_seconds(process, QUERY, documents, args.reps)
                        plain[(contenders[index].label, f"{max_length} {length}")] = args.docs / median(
                            seconds
                        )
            for index, contender in enumerate(contenders):
                figures = worst[contender.label]
                figures[RSS] = max(figures[RSS], processes[index].peak_rss_mb())
                for length in DOCUMENT_WORDS:
                    corr = (
                        spearman(scores[(index, length)], scores[(st_index, length)])
                        if st_index is not None
                        else float("nan")
                    )
                    figures[CORR] = min(figures[CORR], corr) if corr == corr else corr
        finally:
            for process in processes:
                process.close()
        for length in DOCUMENT_WORDS:
            column = f"{max_length} {length}"
            columns.append(column)
            for index, contender in enumerate(contenders):
                rates[(contender.label, column)] = args.docs / median(timings[(index, length)])
    return rates, worst, columns, plain


def cold_start_once(
    args: argparse.Namespace, contender: Contender, model: Path, checkpoint: Path, document: str
) -> dict[str, float]:
    """Return spawn -> ready, ready -> first answer (1 query, 1 long document), total, peak RSS."""
    if contender.name == "api":  # ours as a Lambda starts: import reranker.handler, one event
        name = json.loads((model / "model.json").read_text())["name"]
        env = {**lambda_env(name, model), "RERANK_PRECISION": contender.variant, **contender.env}
        child_args = {"event": lambda_event(name, QUERY, [document])}
        figures = run_child("lambda", child_args, env)
        ready = figures["total"] - figures["first"]
        return {"ready": ready, "first": figures["first"], "total": figures["total"], "rss": figures["rss"]}
    process = spawn(contender, model, checkpoint, args.cache_dir, args.bench_python)
    try:
        process.wait_ready()
        ready = float(process.ready["spawn_to_ready_seconds"])
        process.load(QUERY, {"one": [document]})
        first, _ = process.score("one")
        rss = process.peak_rss_mb()
    finally:
        process.close()
    return {"ready": ready, "first": first, "total": ready + first, "rss": rss}


# The bare floor of our stack (cold_start.py's `floor`): a fresh process imports numpy,
# onnxruntime and tokenizers, opens our int8 graph and scores the one pair. Every cold start is
# also given as a ratio to it.
FLOOR = Contender("floor", "int8")


def floor_once(model: Path, max_length: int, document: str) -> dict[str, float]:
    """Return the floor's figures, in the shape of cold_start_once's."""
    child_args = {"folder": str(model), "variant": "int8", "max_length": max_length, "query": QUERY}
    figures = run_child("floor", {**child_args, "documents": [document]}, {})
    ready = figures["total"] - figures["first"]
    return {"ready": ready, "first": figures["first"], "total": figures["total"], "rss": figures["rss"]}


def cold_starts(args: argparse.Namespace, contenders: Sequence[Contender]) -> list[dict[str, object]]:
    """Return the cold-start rows, the floor's last: each contender alone, runs interleaved, medians."""
    max_length = max(args.max_lengths)
    model, checkpoint = model_setup("ce", max_length, args.cache_dir, args.rebuild)
    document = make_documents(1, DOCUMENT_WORDS["long"], seed=2)[0]
    every = [*contenders, FLOOR]
    runs: dict[str, list[dict[str, float]]] = {c.label: [] for c in every}
    for rep in range(args.cold_reps):
        shift = rep % len(every)
        for contender in [*every[shift:], *every[:shift]]:
            sys.stderr.write(f"cold start {contender.label}, run {rep + 1}/{args.cold_reps}\n")
            if contender is FLOOR:
                figures = floor_once(model, max_length, document)
            else:
                figures = cold_start_once(args, contender, model, checkpoint, document)
            runs[contender.label].append(figures)
    floor = median(r["total"] for r in runs[FLOOR.label])
    return [
        {
            "contender": c.label + (" (Lambda init)" if c.name == "api" else ""),
            "max_length": max_length,
            "runs": len(runs[c.label]),
            "spawn -> ready s": median(r["ready"] for r in runs[c.label]),
            "ready -> first answer s": median(r["first"] for r in runs[c.label]),
            "cold start s": median(r["total"] for r in runs[c.label]),
            "x floor": f"{median(r['total'] for r in runs[c.label]) / floor:.2f}",
            "peak RSS MB": median(r["rss"] for r in runs[c.label]),
        }
        for c in every
    ]


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> None:
    note = synthetic_note()
    print_header(
        "compare: every contender, 1 query x N documents, interleaved",
        {
            "model": "MiniLM-L6 cross-encoder shape (same weights for every contender)",
            "max_lengths": ",".join(map(str, args.max_lengths)),
            "documents": f"{args.docs} per request; short {DOCUMENT_WORDS['short']} words, long "
            f"{DOCUMENT_WORDS['long']} words; from {workload_source()}" + (f"  !! {note}" if note else ""),
            "timed requests": f"{args.reps} per contender per cell (median)",
            "benchmark venv": f"{args.bench_python.parent.parent}: {bench_versions(args.bench_python)}",
            "load average at start": load_average(),
        },
    )
    contenders = available(args.contenders, args.bench_python)
    started = time.perf_counter()
    rates, worst, columns, plain = throughput(args, contenders)
    labels = [c.label for c in contenders]
    baseline = next((c.label for c in contenders if c.name == "st"), "")
    print(f"## pairs/s (x {baseline or 'st: not run, no ratios'}), median of {args.reps} requests")
    print_marked(ratio_rows(labels, rates, worst, columns, baseline), ["contender", *columns, RSS, CORR])
    if plain:
        print("## our API rows: the runner's pairs/s against a plain HTTP client's (plain_client.py)")
        checks: list[dict[str, object]] = [
            {
                "contender": label,
                **{
                    column: f"{rates[(label, column)]:.3g} / {plain[(label, column)]:.3g}"
                    for column in columns
                    if (label, column) in plain
                },
            }
            for label in labels
            if any((label, column) in plain for column in columns)
        ]
        print_table(checks, list(checks[0]))
        print(
            "runner / plain client, pairs/s: the plain client (stdlib http.client in its own process, one "
            "keep-alive connection, requests back to back, median) timed the same documents after the "
            "interleaved rounds."
        )
    print(f"load average after the throughput runs: {load_average()}")
    print()
    if args.cold_reps:
        rows = cold_starts(args, contenders)
        print(
            f"## cold start: spawn -> ready -> first answer (1 query, 1 document), median of {args.cold_reps}"
        )
        print_marked(rows, list(rows[0]))
        print(
            "ready: our api rows run the Lambda init path (import reranker.handler, which loads and warms "
            "the model); the others load and answer one warm-up call. floor: a bare process that imports "
            "numpy, onnxruntime and tokenizers, opens our int8 graph and scores the pair; x floor is each "
            "cold start over it. first answer: one request of one "
            "~200-word document. peak RSS: the child's own (VmHWM)."
        )
    print(f"total {time.perf_counter() - started:.0f} s; load average at end: {load_average()}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-lengths", type=parse_csv_ints, help="default 128,256,512 (--quick: 128)")
    parser.add_argument("--docs", type=int, help="documents per request (default 100; --quick: 20)")
    parser.add_argument("--reps", type=int, help="timed requests per contender per cell (3; --quick: 1)")
    parser.add_argument("--cold-reps", type=int, help="cold starts per contender (3; --quick: 1; 0: none)")
    parser.add_argument(
        "--contenders",
        type=parse_contenders,
        default=list(DEFAULT_CONTENDERS),
        help="e.g. api:int8@openvino,api:int8@onnxruntime,api:fp32,scorer:int8,st,naive:int8,flashrank,"
        "infinity-onnx,infinity-torch",
    )
    parser.add_argument(
        "--pause", type=float, default=0.2, help="seconds between requests (lets spinning threads settle)"
    )
    parser.add_argument("--bench-python", type=Path, default=BENCH_PYTHON, help="the benchmark venv's python")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--rebuild", action="store_true", help="re-export the cached model (after exporter changes)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="max_length 128, 20 documents, 1 request, 1 cold start each"
    )
    args = parser.parse_args(argv)
    defaults = {"max_lengths": [128], "docs": 20, "reps": 1, "cold_reps": 1} if args.quick else {}
    defaults = {"max_lengths": [128, 256, 512], "docs": 100, "reps": 3, "cold_reps": 3, **defaults}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    run(parse_args())
