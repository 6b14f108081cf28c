"""Every reranker family: exported, served over HTTP, against Hugging Face on the same checkpoint.

ELECTRA, DeBERTa-v2 and ModernBERT: `AutoModelForSequenceClassification` on `AutoTokenizer`'s pair
encoding (longest_first, the truncate side as `truncation_side`), within 1e-4 for fp32, on the cases of
test_reference_parity where the truncation policies agree (short, long documents, both sides, a
long query, a per-document cap). Qwen3 yes/no: the causal LM's full-vocabulary logits at the last
position of the whole prompt (Qwen3-Reranker's template filled with instruction, query and document,
encoded at once by `AutoTokenizer`), log-odds of "yes" against "no"; a document too long is cut by the
reference tokenizer on the truncate side until the prompt fits, so the suffix after the document
always survives. int8 is compared by Spearman over every compared pair.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from reranker.export.families import QWEN3_RERANKER_INSTRUCTION
from reranker.export.parity import spearman
from tests.fixtures.checkpoints import TOY_WORDS
from tests.fixtures.model_cache import family_export, tiny_cross_encoder_export
from tests.fixtures.uvicorn_server import assert_served_by, serve
from tests.integration.test_reference_parity import Case, cases, served_scores

pytestmark = [pytest.mark.slow, pytest.mark.torch]

KEY = "parity-key"
FP32_TOLERANCE = 1e-4
INT8_MIN_SPEARMAN = 0.9
ENCODERS = ("electra", "deberta-v2", "modernbert")
MAX_LENGTH = {"electra": 128, "deberta-v2": 128, "modernbert": 128, "qwen3": 160}


@pytest.fixture(scope="module")
def folders() -> dict[str, Path]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return {family: family_export(family) for family in (*ENCODERS, "qwen3")}


@pytest.fixture(
    scope="module",
    params=[("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32")],
    ids=["onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32"],
)
def server(request: pytest.FixtureRequest, folders: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """Yield the URL and variant of a server on the parametrized backend (OpenVINO reads every family)."""
    backend, variant = request.param
    paths = [*folders.values(), tiny_cross_encoder_export()]
    args = [arg for folder in paths for arg in ("--model", str(folder))]
    env = {"RERANK_API_KEYS": KEY, "RERANK_PRECISION": variant, "RERANK_RUNTIME": backend}
    with serve(args, env) as url:
        yield url, variant
        # The scores compared came from the runtime this server was configured with.
        assert_served_by(url, KEY, backend)


def reference_encoder(checkpoint: Path, case: Case) -> np.ndarray:
    """Return AutoModelForSequenceClassification's logits for the case's pairs."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tokenizer.truncation_side = "left" if case.truncate == "start" else "right"
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    documents = case.documents
    if case.max_tokens_per_document:
        documents = [cut_text(tokenizer, d, case.max_tokens_per_document, case.truncate) for d in documents]
    scores = []
    with torch.no_grad():
        for document in documents:
            inputs = tokenizer(case.query, document, truncation=True, max_length=128, return_tensors="pt")
            if int(getattr(model.config, "type_vocab_size", 0) or 0) < 2:
                inputs.pop("token_type_ids", None)
            scores.append(float(model(**inputs).logits[0, 0]))
    return np.asarray(scores)


def cut_text(tokenizer: Any, text: str, tokens: int, side: str) -> str:
    """Return `text` cut to `tokens` tokens by the reference tokenizer, as a text that encodes to them.

    Byte-level BPE keeps the space inside a word's token (" river"): a cut from the start then
    begins with a space, which the decoded text keeps; SentencePiece texts are stripped.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    kept = ids[:tokens] if side == "end" else ids[-tokens:]
    decoded: str = tokenizer.decode(kept)
    for candidate in (decoded, decoded.strip()):
        if tokenizer(candidate, add_special_tokens=False)["input_ids"] == kept:
            return candidate
    raise AssertionError("the reference cut must round-trip")


def qwen_prompt(tokenizer: Any, template: str, instruction: str, query: str, document: str) -> list[int]:
    text = (
        template.replace("{instruction}", instruction)
        .replace("{query}", query)
        .replace("{document}", document)
    )
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids


def reference_qwen(checkpoint: Path, template: str, case: Case, instruction: str) -> np.ndarray:
    """Return log P(yes) - log P(no) at the last position of each whole prompt (documents cut to fit)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model: Any = AutoModelForCausalLM.from_pretrained(checkpoint)
    model.eval()
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    scores = []
    for document in case.documents:
        if case.max_tokens_per_document:  # the document reads " <text>" after "<Document>:"
            document = cut_text(tokenizer, " " + document, case.max_tokens_per_document, case.truncate)[1:]
        ids = qwen_prompt(tokenizer, template, instruction, case.query, document)
        over = len(ids) - MAX_LENGTH["qwen3"]
        if over > 0:  # cut the document only, on the truncate side; template and query stay whole
            keep = len(tokenizer(" " + document, add_special_tokens=False)["input_ids"]) - over
            document = cut_text(tokenizer, " " + document, keep, case.truncate)[1:]
            ids = qwen_prompt(tokenizer, template, instruction, case.query, document)
            assert len(ids) == MAX_LENGTH["qwen3"], "the reference cut must fill the prompt exactly"
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        scores.append(float(logits[yes] - logits[no]))
    return np.asarray(scores)


def qwen_cases() -> list[Case]:
    """The shared cases, less the long query: Qwen3-Reranker's own code cuts the prompt's end, so a
    query past its budget is where no reference policy exists to compare with."""
    return [c for c in cases(TOY_WORDS) if c.name != "long query and documents"]


@pytest.mark.parametrize("family", ENCODERS)
def test_encoder_families_match_hugging_face(
    server: tuple[str, str], folders: dict[str, Path], family: str
) -> None:
    url, variant = server
    checkpoint = folders[family].parent / "checkpoint"
    got_all: list[float] = []
    expected_all: list[float] = []
    for case in cases(TOY_WORDS):
        expected = reference_encoder(checkpoint, case)
        got = served_scores(url, f"tiny-{family}", case)
        assert np.unique(np.round(expected, 6)).size > 1, f"{family} {case.name}: the reference is flat"
        if variant == "fp32" or family == "modernbert":  # ModernBERT serves fp32 under int8 (no int8 graph)
            np.testing.assert_allclose(
                got, expected, atol=FP32_TOLERANCE, rtol=0, err_msg=f"{family} {case.name}"
            )
        got_all += got.tolist()
        expected_all += expected.tolist()
    rho = spearman(np.asarray(got_all), np.asarray(expected_all))
    assert rho >= (0.9999 if variant == "fp32" else INT8_MIN_SPEARMAN), f"{family} {variant}: Spearman {rho}"


def test_qwen3_yes_no_matches_the_causal_lm(server: tuple[str, str], folders: dict[str, Path]) -> None:
    url, variant = server
    template = str(manifest_of(folders["qwen3"])["prompt"]["template"])
    checkpoint = folders["qwen3"].parent / "checkpoint"
    got_all: list[float] = []
    expected_all: list[float] = []
    for case in qwen_cases():
        expected = reference_qwen(checkpoint, template, case, QWEN3_RERANKER_INSTRUCTION)
        got = served_scores(url, "tiny-qwen3", case)
        assert np.unique(np.round(expected, 6)).size > 1, f"qwen3 {case.name}: the reference is flat"
        if variant == "fp32":
            np.testing.assert_allclose(
                got, expected, atol=FP32_TOLERANCE, rtol=0, err_msg=f"qwen3 {case.name}"
            )
        got_all += got.tolist()
        expected_all += expected.tolist()
    rho = spearman(np.asarray(got_all), np.asarray(expected_all))
    assert rho >= (0.9999 if variant == "fp32" else INT8_MIN_SPEARMAN), f"qwen3 {variant}: Spearman {rho}"


def manifest_of(folder: Path) -> dict[str, Any]:
    import json

    result: dict[str, Any] = json.loads((folder / "model.json").read_text())
    return result


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/rerank", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)


# An exact comparison: fp32 only.
@pytest.mark.parametrize("server", [("onnxruntime", "fp32"), ("openvino", "fp32")], indirect=True)
def test_an_instruction_changes_the_prompt_as_the_reference_does(
    server: tuple[str, str], folders: dict[str, Path]
) -> None:
    url, _ = server
    case = cases(TOY_WORDS)[0]
    instruction = "Given a pair of toy word lists, find the documents that share the query's words"
    template = str(manifest_of(folders["qwen3"])["prompt"]["template"])
    expected = reference_qwen(folders["qwen3"].parent / "checkpoint", template, case, instruction)
    response = post(
        url,
        {
            "model": "tiny-qwen3",
            "query": case.query,
            "documents": case.documents,
            "extra_body": {"raw_scores": True, "instruction": instruction},
        },
    )
    assert response.status_code == 200, response.text
    got = np.empty(len(case.documents))
    for result in response.json()["results"]:
        got[result["index"]] = result["relevance_score"]
    np.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE, rtol=0)
    default = served_scores(url, "tiny-qwen3", case)
    assert np.max(np.abs(default - got)) > 1e-3, "the instruction must reach the prompt"
    # Without raw_scores the score is Qwen3-Reranker's own: P("yes") = softmax over ("no", "yes").
    plain = post(url, {"model": "tiny-qwen3", "query": case.query, "documents": case.documents[:1]})
    assert plain.json()["results"][0]["relevance_score"] == pytest.approx(
        1 / (1 + np.exp(-default[0])), abs=1e-6
    )


def test_instructions_are_refused_where_the_model_takes_none(server: tuple[str, str]) -> None:
    url, _ = server
    for model in ("tiny-electra", "tiny-ce"):
        body = {
            "model": model,
            "query": "apple",
            "documents": ["apple river"],
            "extra_body": {"instruction": "x"},
        }
        response = post(url, body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "extra_body.instruction"
        assert "takes no instruction" in error["message"]


def test_an_instruction_longer_than_the_prompt_room_is_refused(server: tuple[str, str]) -> None:
    url, _ = server
    body = {
        "model": "tiny-qwen3",
        "query": "apple",
        "documents": ["apple river"],
        "extra_body": {"instruction": " ".join(TOY_WORDS * 10)},
    }
    response = post(url, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "extra_body.instruction"


def test_models_list_family_max_length_and_instructions(server: tuple[str, str]) -> None:
    url, variant = server
    response = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    cards = {card["id"]: card for card in response.json()["data"]}
    for model in ("tiny-electra", "tiny-deberta-v2", "tiny-modernbert", "tiny-qwen3", "tiny-ce"):
        post(url, {"model": model, "query": "apple", "documents": ["apple"]})  # load it
    cards = {
        card["id"]: card
        for card in httpx.get(
            f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        ).json()["data"]
    }
    expected = {
        "tiny-electra": ("electra", 128, False),
        "tiny-deberta-v2": ("deberta-v2", 128, False),
        "tiny-modernbert": ("modernbert", 128, False),
        "tiny-qwen3": ("qwen3", 160, True),
        "tiny-ce": ("bert", 128, False),
    }
    for model, (family, max_length, instructions) in expected.items():
        card = cards[model]
        assert (card["family"], card["max_length"], card["instructions"]) == (
            family,
            max_length,
            instructions,
        )
    assert cards["tiny-modernbert"]["variant"] == "fp32"  # no int8 graph: the loader falls back
    assert cards["tiny-qwen3"]["variant"] == variant


def test_long_documents_fill_the_prompt_and_keep_its_suffix(server: tuple[str, str]) -> None:
    """Every long document is cut to exactly max_length tokens, and the score still matches the
    reference (above), which reads the answer after the template's suffix: so the suffix is there."""
    url, _ = server
    case = cases(TOY_WORDS)[1]
    response = post(url, {"model": "tiny-qwen3", "query": case.query, "documents": case.documents})
    assert response.json()["usage"]["prompt_tokens"] == MAX_LENGTH["qwen3"] * len(case.documents)


def test_the_instruction_is_documented_in_the_openapi_schema(server: tuple[str, str]) -> None:
    url, _ = server
    schema = httpx.get(f"{url}/openapi.json", timeout=60).json()
    field = schema["components"]["schemas"]["ExtraBody"]["properties"]["instruction"]
    assert "Qwen3-Reranker" in field["description"] and "Rejected (400)" in field["description"]
