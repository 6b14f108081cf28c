"""Which checkpoints export as rerankers: the family table, refusals that name the class, prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reranker.export.errors import ExportError
from reranker.export.exporter import export_model
from reranker.export.families import FAMILIES, family_of
from reranker.manifest import Manifest, PromptTemplate
from tests.fixtures.model_cache import family_export

SUPPORTED = [
    "BertForSequenceClassification",
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "CamembertForSequenceClassification",
    "ElectraForSequenceClassification",
    "DebertaV2ForSequenceClassification",
    "ModernBertForSequenceClassification",
    "Qwen3ForCausalLM",
]


def test_the_table_lists_each_supported_class_once() -> None:
    assert [family.head for family in FAMILIES.values()] == SUPPORTED
    assert [f.model_type for f in FAMILIES.values() if f.decoder] == ["qwen3"]


@pytest.mark.parametrize(
    ("model_type", "architecture"),
    [("distilbert", "DistilBertForSequenceClassification"), ("llama", "LlamaForCausalLM"), ("t5", "")],
)
def test_other_rerankers_are_refused_naming_the_class_and_the_supported_list(
    model_type: str, architecture: str
) -> None:
    architectures = [architecture] if architecture else []
    with pytest.raises(ExportError) as caught:
        family_of({"model_type": model_type}, architectures, cross_encoder=True)
    message = str(caught.value)
    assert (architecture or model_type) in message
    assert all(head in message for head in SUPPORTED)


def test_a_qwen3_checkpoint_must_be_the_causal_lm() -> None:
    with pytest.raises(ExportError, match="Qwen3ForCausalLM"):
        family_of({"model_type": "qwen3"}, ["Qwen3ForSequenceClassification"], cross_encoder=True)


def test_a_yes_no_reranker_is_not_an_embedding_model() -> None:
    with pytest.raises(ExportError, match="yes/no reranker"):
        family_of({"model_type": "qwen3"}, ["Qwen3ForCausalLM"], cross_encoder=False)


def test_bi_encoders_keep_their_wider_support() -> None:
    assert family_of({"model_type": "mpnet"}, ["MPNetModel"], cross_encoder=False) is None


def test_export_refuses_before_loading_weights(tmp_path: Path) -> None:
    source = tmp_path / "checkpoint"
    source.mkdir()
    config = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert"}
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match="DistilBertForSequenceClassification is not supported"):
        export_model(source, tmp_path / "out", name="x")
    assert not (tmp_path / "out").exists()


@pytest.mark.torch
def test_prompt_options_apply_to_yes_no_rerankers_only(tmp_path: Path) -> None:
    checkpoint = family_export("electra").parent / "checkpoint"
    with pytest.raises(ExportError, match="yes/no rerankers"):
        export_model(checkpoint, tmp_path / "out", name="x", instruction="find it")


@pytest.mark.torch
@pytest.mark.parametrize("family", ["electra", "deberta-v2", "modernbert", "qwen3"])
def test_each_family_records_its_family_variants_and_parity(family: str) -> None:
    manifest = Manifest.model_validate_json((family_export(family) / "model.json").read_text())
    assert manifest.family == family
    assert sorted(manifest.variants) == (["fp32"] if family == "modernbert" else ["fp32", "int8"])
    parity = manifest.export["parity"]
    assert isinstance(parity, dict) and parity["fp32"]["max_abs_diff"] <= 1e-5
    assert manifest.takes_instruction == (family == "qwen3")


@pytest.mark.torch
def test_the_yes_no_manifest_records_template_answer_ids_and_keeps_two_logits() -> None:
    import onnx

    folder = family_export("qwen3")
    manifest = Manifest.model_validate_json((folder / "model.json").read_text())
    assert manifest.prompt is not None and manifest.activation == "softmax"
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    assert (vocab["yes"], vocab["no"]) == (manifest.prompt.yes_token_id, manifest.prompt.no_token_id)
    output = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph.output[0]
    dims = [d.dim_value or d.dim_param for d in output.type.tensor_type.shape.dim]
    assert (output.name, dims) == ("logits", ["batch", 2])


def test_old_manifests_still_parse_and_keep_their_fingerprint() -> None:
    files = {"tokenizer.json": {"sha256": "0" * 64, "size": 1}, "model.onnx": {"sha256": "1" * 64, "size": 1}}
    raw = {
        "name": "old",
        "kind": "cross-encoder",
        "max_length": 128,
        "variants": {"fp32": "model.onnx"},
        "files": files,
        "source_sha256": "2" * 64,
    }
    manifest = Manifest.model_validate(raw)
    assert manifest.family is None and manifest.prompt is None and not manifest.takes_instruction
    # The fingerprint recorded in gates before families existed (computed by the older code).
    assert manifest.fingerprint("fp32") == "c5dbe24b8c8d356db43a8778ce235112b9910c47ecd53efebc8f4a942e7a5d6d"


@pytest.mark.parametrize(
    "template",
    ["{query} only", "{document} {query}", "{query} {document} {instruction}", "{query}{query}{document}"],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        PromptTemplate(template=template, yes_token_id=1, no_token_id=2)
