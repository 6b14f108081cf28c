"""BM25 with bm25s: Pyserini-like analysis, no zero-score padding, a per-corpus index cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from reranker.eval.datasets import load_dataset
from reranker.eval.errors import EvalError
from reranker.eval.first_stage import Bm25Config, bm25_run, tokenize
from reranker.eval.metrics import evaluate
from tests.eval.conftest import TINY_CORPUS, MakeDataset, beir_dataset


def test_tokenize_lowercases_drops_lucene_stopwords_and_porter_stems() -> None:
    assert tokenize(["The Cats are RUNNING to a 3 D mat's"], Bm25Config()) == [
        ["cat", "run", "3", "d", "mat"]
    ]
    assert tokenize(["The Cats"], Bm25Config(stemmer="none", stopwords="none")) == [["the", "cats"]]


def test_bm25_returns_only_matching_documents(make_dataset: MakeDataset, tmp_path: Path) -> None:
    dataset = load_dataset(make_dataset(), "test")

    run = bm25_run(dataset, 100, Bm25Config(), tmp_path / "cache")

    # Query 1 "cat on a mat" matches docs 1, 3 (title "Mats") and 4 ("cats"); doc "1" shares the
    # query's id and stays. "zebra" matches nothing: no zero-score padding.
    assert list(run) == ["1", "2", "3"]
    assert set(run["1"]) == {"1", "3", "4"} and max(run["1"], key=run["1"].__getitem__) == "1"
    assert set(run["2"]) == {"2"}
    assert run["3"] == {}
    assert all(score > 0 for scores in run.values() for score in scores.values())
    assert bm25_run(dataset, 1, Bm25Config(), tmp_path / "cache")["1"] == {"1": run["1"]["1"]}


def test_index_is_cached_per_corpus_and_settings(make_dataset: MakeDataset, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dataset = load_dataset(make_dataset("a"), "test")
    first = bm25_run(dataset, 100, Bm25Config(), cache)
    assert len(list((cache / "bm25").iterdir())) == 1

    assert bm25_run(dataset, 100, Bm25Config(), cache) == first
    assert len(list((cache / "bm25").iterdir())) == 1

    bm25_run(dataset, 100, Bm25Config(k1=1.2), cache)
    other = load_dataset(make_dataset("b", corpus=[*TINY_CORPUS, {"_id": "6", "text": "cat"}]), "test")
    bm25_run(other, 100, Bm25Config(), cache)
    assert len(list((cache / "bm25").iterdir())) == 3
    assert not [p for p in (cache / "bm25").iterdir() if ".tmp-" in p.name]


def test_unknown_tokenizer_and_stop_words_are_named() -> None:
    with pytest.raises(EvalError, match="tokenizer 'space' is unknown; use one of lucene, regex"):
        Bm25Config(tokenizer="space").check()
    with pytest.raises(EvalError, match="stop words 'fr' are unknown; use en or none"):
        Bm25Config(stopwords="fr").check()


def test_index_cache_key_follows_the_tokenizer() -> None:
    assert Bm25Config().cache_key() != Bm25Config(tokenizer="regex").cache_key()
    assert Bm25Config().describe()["tokenizer"] == "lucene"
    assert Bm25Config(tokenizer="regex").describe()["token_pattern"] == r"(?u)\b\w+\b"


def test_unknown_stemmer_is_named(make_dataset: MakeDataset, tmp_path: Path) -> None:
    dataset = load_dataset(make_dataset(), "test")
    with pytest.raises(EvalError, match="stemmer 'klingon' is unknown"):
        bm25_run(dataset, 10, Bm25Config(stemmer="klingon"), tmp_path)


@pytest.mark.data
def test_adi_has_fewer_than_100_candidates_and_keeps_same_id_hits(adi_dir: Path, bm25_cache: Path) -> None:
    dataset = load_dataset(adi_dir, "test")

    run = bm25_run(dataset, 100, Bm25Config(), bm25_cache)

    assert len(run) == 35
    assert max(len(scores) for scores in run.values()) < 82  # never padded with zero-score documents
    assert any(query in scores for query, scores in run.items())  # doc id == query id is not dropped


@pytest.mark.data
@pytest.mark.slow
def test_bm25_scifact_matches_the_measured_figure(bm25_cache: Path) -> None:
    dataset = load_dataset(beir_dataset("scifact"), "test")

    run = bm25_run(dataset, 100, Bm25Config(), bm25_cache)

    # Measured with these defaults (Lucene tokenizer, Porter); published: BEIR paper 0.665, Pyserini
    # flat BM25 0.679, which ours must stay within 0.005 of.
    metrics = evaluate(dataset.qrels, {"bm25": run}, ["ndcg@10", "recall@100"])["bm25"]
    assert metrics["ndcg@10"] == pytest.approx(0.677717, abs=1e-5)
    assert metrics["ndcg@10"] == pytest.approx(0.679, abs=0.005)
    assert metrics["recall@100"] == pytest.approx(0.925333, abs=1e-5)
    # The regex tokenizer it replaced gave 0.676811 / 0.928667.
    regex = bm25_run(dataset, 100, Bm25Config(tokenizer="regex"), bm25_cache)
    assert evaluate(dataset.qrels, {"bm25": regex}, ["ndcg@10"])["bm25"]["ndcg@10"] == pytest.approx(
        0.676811, abs=1e-5
    )
