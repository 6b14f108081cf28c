"""Runs (query id -> doc id -> score): one tie-breaking rule, and TREC run files in and out.

Ties are broken the way trec_eval breaks them: by document id, descending (plain string
comparison). Every ordering in the harness (top-k cuts, ranx input, fused runs, run files) goes
through `ranked`, so the run files we write score the same under trec_eval as in our reports,
and nothing depends on the arbitrary order in which ranx sorts equal scores.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from reranker.eval.datasets import Dataset
from reranker.eval.errors import DatasetError, EvalError

Run = dict[str, dict[str, float]]


def ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Return (doc id, score) pairs best first; equal scores by doc id, descending (trec_eval's rule)."""
    return sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)


def cut(run: Mapping[str, Mapping[str, float]], k: int) -> Run:
    """Return the run with only the best `k` documents of each query (ties broken by `ranked`)."""
    return {query: dict(ranked(scores)[:k]) for query, scores in run.items()}


def rank_scores(run: Mapping[str, Mapping[str, float]]) -> Run:
    """Return the run with each score replaced by (n - rank), which is strictly decreasing.

    Rank metrics depend only on the order, so evaluating this run gives the metrics of our
    tie-broken order whatever order ranx gives to equal scores.
    """
    out: Run = {}
    for query, scores in run.items():
        order = ranked(scores)
        out[query] = {doc: float(len(order) - rank) for rank, (doc, _) in enumerate(order)}
    return out


def write_trec(path: Path, run: Mapping[str, Mapping[str, float]], tag: str) -> None:
    """Write the run as a TREC run file at full float precision, atomically (temp file + rename)."""
    if any(ch.isspace() for ch in tag) or not tag:
        raise EvalError(f"run tag {tag!r} must be non-empty and contain no whitespace")
    temp = path.with_name(path.name + ".tmp")
    with temp.open("w", encoding="utf-8") as handle:
        for query in sorted(run):
            for rank, (doc, score) in enumerate(ranked(run[query]), start=1):
                if any(ch.isspace() for ch in query + doc):
                    raise EvalError(f"query {query!r} or document {doc!r} has whitespace in its id")
                handle.write(f"{query} Q0 {doc} {rank} {score!r} {tag}\n")
    os.replace(temp, path)


def _trec_line(raw: bytes) -> tuple[str, str, float] | str | None:
    """Return a run line's (query, doc, score), None for a blank line, or what is wrong with it."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    fields = line.split()
    if not fields:
        return None
    if len(fields) != 6:
        return f"expected 6 fields (query Q0 doc rank score tag), found {len(fields)}"
    query, _, doc, _, score_text, _ = fields
    try:
        score = float(score_text)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        return f"score {score_text!r} is not a finite number"
    return query, doc, score


def read_trec(path: Path, dataset: Dataset, top_k: int) -> Run:
    """Return the run file's best `top_k` documents for each evaluated query of the dataset.

    Queries the split does not evaluate are skipped (a run file often covers several splits);
    an evaluated query the file lacks gets no candidates and scores 0.
    """
    name = path.name
    if not path.is_file():
        raise DatasetError(f"run file {name!r}", ["the file does not exist"])
    problems: list[str] = []
    run: Run = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            parsed = _trec_line(raw)
            if isinstance(parsed, str):
                problems.append(f"{name} line {number}: {parsed}")
                continue
            if parsed is None:
                continue
            query, doc, score = parsed
            if query not in dataset.qrels:
                continue
            if doc not in dataset.corpus:
                problems.append(f"{name} line {number}: document {doc!r} is not in corpus.jsonl")
            elif doc in run.get(query, {}):
                problems.append(f"{name} line {number}: document {doc!r} appears twice for query {query!r}")
            else:
                run.setdefault(query, {})[doc] = score
    if problems:
        raise DatasetError(f"run file {name!r}", problems)
    return cut(run, top_k)
