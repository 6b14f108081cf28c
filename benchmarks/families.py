"""Every reranker family's tiny test model: parity with Hugging Face, and pairs/s against BERT.

The models are the test suite's own (tests/fixtures: tiny random-init checkpoints of each class,
fixed seed, trained a few dozen steps on a toy task; built and exported once, cached under
$RERANK_TEST_CACHE), and the reference scores are the integration test's (tests/integration/
test_families.py: AutoModelForSequenceClassification, or the causal LM's "yes" - "no" logit at the
last position of the whole Qwen3-Reranker prompt). Scores come from RerankService in process (the
HTTP path minus transport), raw (log-odds), under the default settings (every row alone).

Parity: fp32 max |served - reference| and int8 Spearman over the integration test's cases (short
pairs, long documents cut at the end and at the start, a per-document cap, and for encoders a
long query). Speed: 1 query x `--documents` documents of 100 toy words (every row is cut to the
model's max_length), median int8 pairs/s over interleaved repeats, and its ratio to tiny BERT's
and to a MiniLM-L6-shaped BERT cross-encoder's (MiniLM weights, seeded untrained head, exported at
128 into --cache; its int8 Spearman is over near-flat untrained scores) in the same run. Tiny
models measure framing and runtime overheads per family, not real model cost.

    python benchmarks/families.py                      # all families, 3 repeats
    python benchmarks/families.py --repeats 1 --documents 8
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import numpy as np
from common import DEFAULT_CACHE, REPO_ROOT, median, model_setup, print_header, print_table

sys.path.insert(0, str(REPO_ROOT))  # the test fixtures build and cache the tiny models

from tests.fixtures.checkpoints import TOY_WORDS
from tests.fixtures.model_cache import (
    family_export,
    tiny_cross_encoder_export,
    tiny_xlmr_cross_encoder_export,
)
from tests.integration.test_families import qwen_cases, reference_encoder, reference_qwen
from tests.integration.test_reference_parity import cases

from reranker.choices import Precision, Truncate
from reranker.config import Settings
from reranker.export.families import QWEN3_RERANKER_INSTRUCTION
from reranker.export.parity import spearman
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import ScoreOptions, Scorer

VARIANTS: tuple[Precision, ...] = ("fp32", "int8")
COLUMNS = (
    "model",
    "family",
    "max_length",
    "fp32 max abs diff",
    "int8 Spearman",
    "pairs/s int8",
    "pairs/s fp32",
    "vs tiny BERT",
    "vs MiniLM-L6",
)


def folders(cache: Path) -> dict[str, tuple[Path, Path]]:
    """Return model name -> (exported folder, checkpoint): MiniLM-L6 and tiny BERT first."""
    result = {"minilm-l6-ce": model_setup("ce", 128, cache)}
    tiny = [tiny_cross_encoder_export(), tiny_xlmr_cross_encoder_export()]
    tiny += [family_export(family) for family in ("electra", "deberta-v2", "modernbert", "qwen3")]
    for folder in tiny:
        result[folder.parent.name.rsplit("-", 1)[0]] = (folder, folder.parent / "checkpoint")
    return result


def load(folder: Path, variant: Precision, threads: int) -> Scorer:
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    return load_scorer(
        local.folder, local.manifest, runtime_options(Settings(precision=variant, threads=threads))
    )


def parity(scorers: Mapping[Precision, Scorer], checkpoint: Path) -> tuple[float, float]:
    """Return (fp32 max |diff|, int8 Spearman) of the served raw scores against the reference."""
    prompted = scorers["fp32"].manifest.prompt is not None
    diffs: list[float] = []
    got: list[float] = []
    expected: list[float] = []
    for case in qwen_cases() if prompted else cases(TOY_WORDS):
        if prompted:
            template = scorers["fp32"].manifest.prompt.template  # type: ignore[union-attr]
            reference = reference_qwen(checkpoint, template, case, QWEN3_RERANKER_INSTRUCTION)
        else:
            reference = reference_encoder(checkpoint, case)
        options = ScoreOptions(
            truncate=cast(Truncate, case.truncate),
            max_tokens_per_document=case.max_tokens_per_document,
            raw_scores=True,
        )
        fp32 = scorers["fp32"].score(case.query, case.documents, options).scores
        int8 = scorers["int8"].score(case.query, case.documents, options).scores
        diffs.append(float(np.max(np.abs(fp32 - reference))))
        got += int8.tolist()
        expected += reference.tolist()
    return max(diffs), spearman(np.asarray(got), np.asarray(expected))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved throughput repeats")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all cores)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where MiniLM-L6 is exported")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    rng = random.Random(0)
    query = " ".join(rng.sample(TOY_WORDS, 4))
    documents = [" ".join(rng.choices(TOY_WORDS, k=100)) for _ in range(args.documents)]
    models = folders(args.cache)
    scorers = {
        name: {v: load(folder, v, args.threads) for v in VARIANTS} for name, (folder, _) in models.items()
    }
    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name in models:
            for variant in ("int8", "fp32"):
                started = time.perf_counter()
                scorers[name][variant].score(query, documents, ScoreOptions())
                timings.setdefault((name, variant), []).append(
                    len(documents) / (time.perf_counter() - started)
                )
    print_header("Reranker families: parity with Hugging Face and pairs/s of the tiny test models")
    rows = []
    tiny_bert = median(timings[("tiny-ce", "int8")])
    minilm = median(timings[("minilm-l6-ce", "int8")])
    for name, (_, checkpoint) in models.items():
        manifest = scorers[name]["fp32"].manifest
        diff, rho = parity(scorers[name], checkpoint)
        int8_speed = median(timings[(name, "int8")])
        rows.append(
            {
                "model": name,
                "family": manifest.family or "bert",
                "max_length": manifest.max_length,
                "fp32 max abs diff": f"{diff:.1e}",
                "int8 Spearman": f"{rho:.4f}" + ("" if "int8" in manifest.variants else " (no int8: fp32)"),
                "pairs/s int8": f"{int8_speed:.0f}",
                "pairs/s fp32": f"{median(timings[(name, 'fp32')]):.0f}",
                "vs tiny BERT": f"{int8_speed / tiny_bert:.2f}",
                "vs MiniLM-L6": f"{int8_speed / minilm:.2f}",
            }
        )
    print_table(rows, COLUMNS)


if __name__ == "__main__":
    main()
