"""BEIR folders load with the pitfalls kept, and malformed ones give errors naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reranker.eval.datasets import Document, QueryCounts, load_dataset
from reranker.eval.errors import DatasetError
from tests.eval.conftest import TINY_CORPUS as C
from tests.eval.conftest import TINY_QRELS as R
from tests.eval.conftest import TINY_QUERIES as Q
from tests.eval.conftest import MakeDataset, beir_dataset


def test_tiny_dataset_loads_with_only_judged_queries(make_dataset: MakeDataset) -> None:
    dataset = load_dataset(make_dataset(), "test")

    assert dataset.name == "tiny"
    assert dataset.corpus["1"] == Document(title="Cats", text="The cat sat on the mat and purred.")
    assert dataset.corpus["5"] == Document(title="", text="")
    # Query 9 has only a score-0 judgement: not evaluated. Score-0 rows of judged queries stay.
    assert dataset.qrels == {"1": {"1": 2, "3": 1, "4": 0}, "2": {"2": 1}, "3": {"4": 1}}
    assert dataset.query_ids == ["1", "2", "3"]
    assert dataset.query_counts == QueryCounts(
        in_file=4, with_relevant=3, judged_not_relevant=1, judged_in_other_splits=0, unjudged=0
    )
    assert dataset.warnings == ["corpus.jsonl line 5: document '5' has no title and no text"]
    assert len(dataset.fingerprint) == 64 and dataset.fingerprint != dataset.corpus_fingerprint


def test_query_counts_name_the_unjudged_and_other_splits(make_dataset: MakeDataset) -> None:
    # CISI-like: queries nobody judged are counted, apart from the queries of another split.
    queries = [*Q, {"_id": "7", "text": "judged in train"}, {"_id": "8", "text": "never judged"}]
    folder = make_dataset(queries=queries)
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n7\t1\t1\n")

    counts = load_dataset(folder, "test").query_counts

    assert counts == QueryCounts(
        in_file=6, with_relevant=3, judged_not_relevant=1, judged_in_other_splits=1, unjudged=1
    )
    assert load_dataset(folder, "train").query_counts == QueryCounts(
        in_file=6, with_relevant=1, judged_not_relevant=0, judged_in_other_splits=4, unjudged=1
    )


def test_fingerprint_changes_with_any_file(make_dataset: MakeDataset) -> None:
    first = load_dataset(make_dataset("a"), "test")
    second = load_dataset(make_dataset("b", qrels=[*R, ("2", "1", 1)]), "test")

    assert first.corpus_fingerprint == second.corpus_fingerprint
    assert first.fingerprint != second.fingerprint


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"corpus": [*C, '{"_id": "6", "text": "x"']}, "corpus.jsonl line 6: not valid JSON"),
        ({"corpus": [*C, '["6", "x"]']}, "corpus.jsonl line 6: expected a JSON object"),
        ({"corpus": [*C, {"text": "no id"}]}, "corpus.jsonl line 6: '_id' is missing"),
        ({"corpus": [*C, {"_id": 6, "text": "x"}]}, "corpus.jsonl line 6: '_id' must be a string"),
        ({"corpus": [*C, {"_id": "6"}]}, "corpus.jsonl line 6: 'text' is missing"),
        ({"corpus": [*C, {"_id": "6", "title": 3, "text": "x"}]}, "corpus.jsonl line 6: 'title' must be"),
        ({"corpus": [*C, {"_id": "2", "text": "again"}]}, "corpus.jsonl line 6: duplicate _id '2'"),
        ({"corpus": [*C, {"_id": " ", "text": "x"}]}, "corpus.jsonl line 6: '_id' is empty"),
        ({"queries": [*Q, {"_id": "1", "text": "again"}]}, "queries.jsonl line 5: duplicate _id '1'"),
        ({"queries": [{"_id": "1", "text": "  "}, *Q[1:]]}, "queries.jsonl line 1: query '1' is empty"),
        ({"qrels": [*R, ("7", "1", 1)]}, "qrels/test.tsv line 8: query-id '7' is not in queries.jsonl"),
        ({"qrels": [*R, ("2", "77", 1)]}, "qrels/test.tsv line 8: corpus-id '77' is not in corpus.jsonl"),
        ({"qrels": [*R, ("2", "1", "high")]}, "qrels/test.tsv line 8: score 'high' is not an integer"),
        ({"qrels": [*R, "2 1 1"]}, "qrels/test.tsv line 8: expected 3 tab-separated fields"),
        ({"qrels": [*R, ("1", "3", 2)]}, "qrels/test.tsv line 8: duplicate judgement of ('1', '3')"),
        ({"qrels": [("1", "4", 0)]}, "qrels/test.tsv: no query has a relevant (score > 0) judgement"),
    ],
)
def test_malformed_dataset_names_file_and_line(
    make_dataset: MakeDataset, parts: dict[str, object], expected: str
) -> None:
    with pytest.raises(DatasetError) as caught:
        load_dataset(make_dataset(**parts), "test")

    assert any(problem.startswith(expected) for problem in caught.value.problems), caught.value.problems
    assert caught.value.message.startswith("dataset 'tiny' is not valid:")
    assert "/" + "tmp" not in caught.value.message  # names files relative to the dataset, no paths


def test_every_problem_is_listed_not_just_the_first(make_dataset: MakeDataset) -> None:
    corpus = [*C, "not json", {"_id": "1", "text": "dup"}]
    with pytest.raises(DatasetError) as caught:
        load_dataset(make_dataset(corpus=corpus, qrels=[*R, ("2", "zz", 1)]), "test")

    assert caught.value.problems == [
        "corpus.jsonl line 6: not valid JSON (Expecting value at column 1)",
        "corpus.jsonl line 7: duplicate _id '1' (first on line 1)",
        "qrels/test.tsv line 8: corpus-id 'zz' is not in corpus.jsonl",
    ]


def test_invalid_utf8_is_named(make_dataset: MakeDataset) -> None:
    folder = make_dataset()
    with (folder / "corpus.jsonl").open("ab") as handle:
        handle.write(b'{"_id": "6", "text": "caf\xe9"}\n')

    with pytest.raises(DatasetError) as caught:
        load_dataset(folder, "test")

    assert caught.value.problems == ["corpus.jsonl line 6: not valid UTF-8 (at byte 26)"]


def test_missing_files_and_split_are_named(make_dataset: MakeDataset, tmp_path: Path) -> None:
    folder = make_dataset()
    with pytest.raises(DatasetError) as caught:
        load_dataset(folder, "dev")
    assert caught.value.problems == ["missing qrels/dev.tsv; splits here: test"]

    (folder / "queries.jsonl").unlink()
    with pytest.raises(DatasetError) as caught:
        load_dataset(folder, "test")
    assert caught.value.problems == ["missing queries.jsonl"]

    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path / "nowhere", "test")
    assert caught.value.problems == ["the dataset folder does not exist"]


def test_blank_lines_and_crlf_are_tolerated(make_dataset: MakeDataset) -> None:
    corpus = [json.dumps(doc) + "\r" for doc in C] + [""]
    dataset = load_dataset(make_dataset(corpus=corpus), "test")

    assert list(dataset.corpus) == ["1", "2", "3", "4", "5"]


@pytest.mark.data
def test_cranfield_keeps_empty_documents_and_graded_zero_rows(cranfield_dir: Path) -> None:
    dataset = load_dataset(cranfield_dir, "test")

    assert len(dataset.corpus) == 1400 and len(dataset.qrels) == 225
    assert dataset.corpus["471"] == Document(title="", text="")
    assert len(dataset.warnings) == 2
    assert sum(1 for judged in dataset.qrels.values() for score in judged.values() if score == 0) == 225
    assert sum(len(judged) for judged in dataset.qrels.values()) == 1837


def test_qrels_header_is_optional(make_dataset: MakeDataset) -> None:
    folder = make_dataset()
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text("".join(line for line in qrels.read_text().splitlines(keepends=True)[1:]))

    assert load_dataset(folder, "test").qrels == {"1": {"1": 2, "3": 1, "4": 0}, "2": {"2": 1}, "3": {"4": 1}}


@pytest.mark.data
def test_scifact_test_counts_its_train_queries_apart() -> None:
    counts = load_dataset(beir_dataset("scifact"), "test").query_counts

    # queries.jsonl holds both splits: 809 train queries are not unjudged, only judged elsewhere.
    assert counts == QueryCounts(
        in_file=1109, with_relevant=300, judged_not_relevant=0, judged_in_other_splits=809, unjudged=0
    )
