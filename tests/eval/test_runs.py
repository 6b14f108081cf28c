"""One tie-breaking rule (trec_eval's) everywhere, and TREC run files at full precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from reranker.eval.datasets import load_dataset
from reranker.eval.errors import DatasetError, EvalError
from reranker.eval.runs import cut, rank_scores, ranked, read_trec, write_trec
from tests.eval.conftest import MakeDataset


def test_ranked_breaks_ties_by_doc_id_descending() -> None:
    scores = {"d1": 0.5, "d10": 0.5, "d2": 0.9, "d9": 0.5, "d3": 0.1}

    assert ranked(scores) == [("d2", 0.9), ("d9", 0.5), ("d10", 0.5), ("d1", 0.5), ("d3", 0.1)]


def test_cut_keeps_the_best_k_with_ties_at_the_boundary_broken_by_id() -> None:
    run = {"q": {"a": 1.0, "b": 0.5, "c": 0.5, "d": 0.5}, "empty": {}}

    assert cut(run, 2) == {"q": {"a": 1.0, "d": 0.5}, "empty": {}}


def test_rank_scores_are_strictly_decreasing_in_tie_broken_order() -> None:
    run = {"q": {"x": 0.5, "y": 0.5, "z": 0.7}}

    assert rank_scores(run) == {"q": {"z": 3.0, "y": 2.0, "x": 1.0}}


def test_trec_round_trip_keeps_full_precision(tmp_path: Path, make_dataset: MakeDataset) -> None:
    dataset = load_dataset(make_dataset(), "test")
    run = {"1": {"1": 0.1 + 0.2, "3": 1e-17, "4": 1 / 3}, "2": {"2": -2.5}, "3": {}}
    path = tmp_path / "run.trec"

    write_trec(path, run, "mine")

    assert path.read_text().splitlines() == [
        "1 Q0 4 1 0.3333333333333333 mine",
        "1 Q0 1 2 0.30000000000000004 mine",
        "1 Q0 3 3 1e-17 mine",
        "2 Q0 2 1 -2.5 mine",
    ]
    assert read_trec(path, dataset, top_k=100) == {"1": run["1"], "2": run["2"]}
    assert read_trec(path, dataset, top_k=1) == {"1": {"4": 1 / 3}, "2": {"2": -2.5}}


def test_read_trec_skips_queries_the_split_does_not_judge(tmp_path: Path, make_dataset: MakeDataset) -> None:
    dataset = load_dataset(make_dataset(), "test")
    path = tmp_path / "run.trec"
    path.write_text("9 Q0 2 1 3.0 x\n1 Q0 1 1 2.0 x\n")

    assert read_trec(path, dataset, top_k=10) == {"1": {"1": 2.0}}


def test_read_trec_names_bad_lines(tmp_path: Path, make_dataset: MakeDataset) -> None:
    dataset = load_dataset(make_dataset(), "test")
    path = tmp_path / "bad.trec"
    lines = ["1 Q0 1 1 2.0 x", "1 Q0 3 2 nan x", "1 Q0 3 2", "1 Q0 42 3 1.0 x", "1 Q0 1 4 0.5 x"]
    lines.append("2 Q0 2 1 high x")
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(DatasetError) as caught:
        read_trec(path, dataset, top_k=10)

    assert caught.value.problems == [
        "bad.trec line 2: score 'nan' is not a finite number",
        "bad.trec line 3: expected 6 fields (query Q0 doc rank score tag), found 4",
        "bad.trec line 4: document '42' is not in corpus.jsonl",
        "bad.trec line 5: document '1' appears twice for query '1'",
        "bad.trec line 6: score 'high' is not a finite number",
    ]
    with pytest.raises(DatasetError, match="does not exist"):
        read_trec(tmp_path / "missing.trec", dataset, top_k=10)


def test_write_trec_refuses_ids_that_would_break_the_format(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="whitespace"):
        write_trec(tmp_path / "x.trec", {"q 1": {"d": 1.0}}, "tag")
    with pytest.raises(EvalError, match="tag"):
        write_trec(tmp_path / "x.trec", {"q": {"d": 1.0}}, "two words")
