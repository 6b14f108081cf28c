"""Prompt framing on the tiny Qwen3 reranker's real tokenizer.json: the template's text is never cut."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from reranker.errors import InvalidRequest
from reranker.export.families import QWEN3_RERANKER_INSTRUCTION, QWEN3_RERANKER_TEMPLATE
from reranker.manifest import PromptTemplate
from reranker.scoring.prompt import PromptEncoder, split_template
from reranker.scoring.tokenize import load_tokenizer
from tests.fixtures.model_cache import family_export

pytestmark = pytest.mark.torch

LONG = " ".join(["apple river music"] * 100)


@pytest.fixture(scope="module")
def qwen() -> tuple[Tokenizer, PromptTemplate]:
    folder = family_export("qwen3")
    manifest = json.loads((folder / "model.json").read_text())
    return load_tokenizer(str(folder / "tokenizer.json")), PromptTemplate.model_validate(manifest["prompt"])


def ids(tokenizer: Tokenizer, text: str) -> list[int]:
    result: list[int] = tokenizer.encode(text, add_special_tokens=False).ids
    return result


def whole(
    tokenizer: Tokenizer, query: str, document: str, instruction: str = QWEN3_RERANKER_INSTRUCTION
) -> list[int]:
    text = QWEN3_RERANKER_TEMPLATE.replace("{instruction}", instruction)
    return ids(tokenizer, text.replace("{query}", query).replace("{document}", document))


def test_split_template_moves_spaces_before_a_text_into_it() -> None:
    fixed, names, leads = split_template("A: {instruction}\nQ: {query}\nD:  {document}!")
    assert fixed == ["A:", "\nQ:", "\nD:", "!"]
    assert names == ["{instruction}", "{query}", "{document}"]
    assert leads == [" ", " ", "  "]


def test_an_uncut_prompt_equals_the_whole_text_encoded_at_once(
    qwen: tuple[Tokenizer, PromptTemplate],
) -> None:
    tokenizer, prompt = qwen
    encoder = PromptEncoder(tokenizer, prompt, 160, None)
    (row,) = encoder.encode_pairs("apple river", ["river music doctor"], "end", None)
    assert row.ids == whole(tokenizer, "apple river", "river music doctor")
    (custom,) = encoder.encode_pairs("apple river", ["river music doctor"], "end", None, "find rivers")
    assert custom.ids == whole(tokenizer, "apple river", "river music doctor", "find rivers")


@pytest.mark.parametrize("truncate", ["end", "start"])
def test_a_long_document_is_cut_on_its_side_and_the_suffix_survives(
    qwen: tuple[Tokenizer, PromptTemplate], truncate: str
) -> None:
    tokenizer, prompt = qwen
    encoder = PromptEncoder(tokenizer, prompt, 160, None)
    (row,) = encoder.encode_pairs("apple", [LONG], truncate, None)  # type: ignore[arg-type]
    head, suffix = QWEN3_RERANKER_TEMPLATE.split("{document}")
    suffix_ids = ids(tokenizer, suffix)
    head_ids = ids(
        tokenizer, head.replace("{instruction}", QWEN3_RERANKER_INSTRUCTION).replace("{query}", "apple")
    )
    assert len(row) == 160
    assert row.ids[-len(suffix_ids) :] == suffix_ids
    assert (
        row.ids[: len(head_ids) - 1] == head_ids[:-1]
    )  # the last head token is the space the document leads with
    document = ids(tokenizer, " " + LONG)
    kept = row.ids[len(head_ids) - 1 : -len(suffix_ids)]
    assert kept == (document[: len(kept)] if truncate == "end" else document[-len(kept) :])


def test_a_long_query_keeps_half_the_room_and_none_rejects_it(qwen: tuple[Tokenizer, PromptTemplate]) -> None:
    tokenizer, prompt = qwen
    encoder = PromptEncoder(tokenizer, prompt, 160, None)
    room = 160 - encoder.specials - len(ids(tokenizer, " " + QWEN3_RERANKER_INSTRUCTION))
    (row,) = encoder.encode_pairs(LONG, ["apple"], "end", None)
    query = ids(tokenizer, " " + LONG)[: room // 2]
    assert query == row.ids[row.ids.index(query[0]) :][: len(query)]
    with pytest.raises(InvalidRequest) as caught:
        encoder.encode_pairs(LONG, ["apple"], "none", None)
    assert caught.value.param == "query"
    with pytest.raises(InvalidRequest) as caught:
        encoder.encode_pairs("apple", [LONG], "none", None)
    assert caught.value.param == "documents[0]"


def test_an_instruction_that_leaves_no_room_is_refused(qwen: tuple[Tokenizer, PromptTemplate]) -> None:
    tokenizer, prompt = qwen
    encoder = PromptEncoder(tokenizer, prompt, 160, None)
    with pytest.raises(InvalidRequest, match="instruction is") as caught:
        encoder.encode_pairs("apple", ["river"], "end", None, LONG)
    assert caught.value.param == "extra_body.instruction"


def test_windows_share_the_prompt_and_each_keeps_the_suffix(qwen: tuple[Tokenizer, PromptTemplate]) -> None:
    from reranker.request import ChunkOptions

    tokenizer, prompt = qwen
    encoder = PromptEncoder(tokenizer, prompt, 160, None)
    rows, owners = encoder.encode_pair_windows("apple", [LONG, "river"], "end", None, ChunkOptions(4))
    suffix_ids = ids(tokenizer, QWEN3_RERANKER_TEMPLATE.split("{document}")[1])
    assert owners[-1] == 1 and owners.count(0) > 1
    assert all(row.ids[-len(suffix_ids) :] == suffix_ids and len(row) <= 160 for row in rows)
