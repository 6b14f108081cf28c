"""First-stage candidates: BM25 over title + text with bm25s, or a TREC run file the user brings.

The BM25 defaults follow Pyserini's flat BM25 (Lucene): k1=0.9, b=0.4, Lucene's BM25 formula, and
Lucene's English analysis (`analysis.LuceneAnalyzer`: StandardTokenizer's UAX #29 word
boundaries, possessives dropped, lower-cased, the 33 English stop words, the Porter stemmer as
Lucene's PorterStemFilter). `tokenizer="regex"` keeps the older `(?u)\\b\\w+\\b` tokens (through
bm25s) for comparison. Hits that score 0 (no query term matched) are not candidates: padding
them in would only add arbitrary documents. The index is cached per corpus and settings under
the cache dir, never next to the dataset (which may be read-only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reranker.eval.datasets import Dataset
from reranker.eval.errors import EvalError
from reranker.eval.runs import Run, cut

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

DOC_IDS_FILE = "doc_ids.json"
TOKEN_PATTERN = r"(?u)\b\w+\b"


@dataclass(frozen=True)
class Bm25Config:
    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stemmer: str = "porter"
    stopwords: str = "en"
    tokenizer: str = "lucene"

    def describe(self) -> dict[str, Any]:
        """Return the settings as plain values, for reports and the cache key."""
        settings = asdict(self)
        if self.tokenizer == "regex":
            settings["token_pattern"] = TOKEN_PATTERN
        return {"name": "BM25", "implementation": "bm25s", "fields": "title + text", **settings}

    def check(self) -> None:
        """Raise EvalError naming the valid choices when a setting is unknown (before any work)."""
        from reranker.eval.bm25_analyzer import ANALYZERS

        if self.tokenizer not in ANALYZERS:
            raise EvalError(f"tokenizer {self.tokenizer!r} is unknown; use one of {', '.join(ANALYZERS)}")
        if self.stopwords not in ("en", "none"):
            raise EvalError(f"stop words {self.stopwords!r} are unknown; use en or none")
        _stem_function(self)

    def cache_key(self) -> str:
        """Return a short hash of the settings and the analysis and bm25s versions: a new index when
        any of them changes."""
        import bm25s

        from reranker.eval.bm25_analyzer import ANALYSIS_VERSION

        versions = {"bm25s": bm25s.__version__, "analysis": ANALYSIS_VERSION}
        blob = json.dumps({**self.describe(), **versions}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Return ~/.cache/reranker/eval, where BM25 indexes are kept between runs."""
    return Path.home() / ".cache" / "reranker" / "eval"


def _stem_function(config: Bm25Config) -> Callable[[list[str]], list[str]] | None:
    from reranker.eval.bm25_analyzer import stemmer_algorithm

    algorithm = stemmer_algorithm(config.stemmer)
    if algorithm is None:
        return None
    import Stemmer

    if algorithm not in Stemmer.algorithms():
        raise EvalError(
            f"stemmer {config.stemmer!r} is unknown; use porter (Lucene's PorterStemFilter), "
            f"snowball (Snowball English), none, or a PyStemmer algorithm: {', '.join(Stemmer.algorithms())}"
        )
    stem: Callable[[list[str]], list[str]] = Stemmer.Stemmer(algorithm).stemWords
    return stem


def tokenize(texts: list[str], config: Bm25Config) -> list[list[str]]:
    """Return each text as BM25 terms: Lucene's English analysis, or the regex tokens of bm25s."""
    from reranker.eval.bm25_analyzer import LuceneAnalyzer, stop_words

    config.check()
    if config.tokenizer == "lucene":
        analyzer = LuceneAnalyzer(_stem_function(config), stop_words(config.stopwords))
        return [analyzer(text) for text in texts]
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize(
        texts,
        lower=True,
        token_pattern=TOKEN_PATTERN,
        stopwords=[] if config.stopwords == "none" else config.stopwords,
        stemmer=_stem_function(config),
        return_ids=False,
        show_progress=False,
    )
    # Porter stems a lone "s" (from "mat's") to "": drop empty terms, as Lucene never makes them.
    return [[term for term in terms if term] for terms in tokens]


def _build_index(dataset: Dataset, config: Bm25Config, folder: Path) -> None:
    import bm25s

    doc_ids = list(dataset.corpus)
    texts = [f"{doc.title} {doc.text}".strip() for doc in dataset.corpus.values()]
    retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
    retriever.index(tokenize(texts, config), show_progress=False)
    temp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    retriever.save(str(temp), show_progress=False)
    (temp / DOC_IDS_FILE).write_text(json.dumps(doc_ids), encoding="utf-8")
    try:
        os.replace(temp, folder)
    except OSError:
        shutil.rmtree(temp, ignore_errors=True)  # another run finished the same index first
        if not (folder / DOC_IDS_FILE).is_file():
            raise


def _load_index(dataset: Dataset, config: Bm25Config, cache_dir: Path) -> tuple[Any, list[str]]:
    import bm25s

    folder = cache_dir / "bm25" / f"{dataset.corpus_fingerprint[:16]}-{config.cache_key()}"
    if not (folder / DOC_IDS_FILE).is_file():
        logger.info("building the BM25 index of %r (%d documents)", dataset.name, len(dataset.corpus))
        folder.parent.mkdir(parents=True, exist_ok=True)
        _build_index(dataset, config, folder)
    retriever = bm25s.BM25.load(str(folder), show_progress=False)
    doc_ids: list[str] = json.loads((folder / DOC_IDS_FILE).read_text(encoding="utf-8"))
    if len(doc_ids) != len(dataset.corpus):
        raise EvalError("the cached BM25 index does not match the corpus; delete the eval cache dir")
    return retriever, doc_ids


def bm25_run(dataset: Dataset, top_k: int, config: Bm25Config, cache_dir: Path) -> Run:
    """Return the top-k BM25 candidates (score > 0) of each evaluated query, ties by doc id descending."""
    import numpy as np

    retriever, doc_ids = _load_index(dataset, config, cache_dir)
    vocab = {term for term in retriever.vocab_dict if term}
    query_ids = dataset.query_ids
    query_tokens = tokenize([dataset.queries[q] for q in query_ids], config)
    run: Run = {}
    for query_id, tokens in zip(query_ids, query_tokens, strict=True):
        known = [term for term in tokens if term in vocab]
        if not known:
            run[query_id] = {}
            continue
        scores = retriever.get_scores(known)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > top_k:
            # Keep everything tied with the k-th best, so `cut` breaks the tie by doc id.
            kth = np.partition(scores[hits], len(hits) - top_k)[len(hits) - top_k]
            hits = hits[scores[hits] >= kth]
        run[query_id] = {doc_ids[i]: float(scores[i]) for i in hits}
    return cut(run, top_k)
