"""Kind detection, sentence-transformers layout and max_length, from JSON files alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reranker.export.checkpoint import (
    activation_for,
    attention_shape,
    detect_kind,
    position_limit,
    read_sentence_layout,
    resolve_max_length,
    uses_token_type_ids,
)
from reranker.export.errors import ExportError
from tests.fixtures.checkpoints import default_checkpoint_dir

ST = "sentence_transformers.models."


def write(folder: Path, name: str, content: Any) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")


def checkpoint(tmp_path: Path, architectures: list[str], files: dict[str, Any] | None = None) -> Path:
    write(tmp_path, "config.json", {"architectures": architectures, "model_type": "bert"})
    for name, content in (files or {}).items():
        write(tmp_path, name, content)
    return tmp_path


def test_a_classification_head_is_a_cross_encoder(tmp_path: Path) -> None:
    assert detect_kind(checkpoint(tmp_path, ["BertForSequenceClassification"])) == "cross-encoder"


def test_a_head_wins_over_modules_json(tmp_path: Path) -> None:
    # sentence-transformers >= 5 writes modules.json next to CrossEncoder checkpoints too.
    modules = [{"type": ST + "Transformer", "path": ""}]
    folder = checkpoint(tmp_path, ["XLMRobertaForSequenceClassification"], {"modules.json": modules})
    assert detect_kind(folder) == "cross-encoder"


def test_a_bare_encoder_is_a_bi_encoder(tmp_path: Path) -> None:
    assert detect_kind(checkpoint(tmp_path, ["BertModel"])) == "bi-encoder"


def test_a_pooling_config_alone_makes_a_bi_encoder(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path, ["SomethingElse"], {"1_Pooling/config.json": {}})
    assert detect_kind(folder) == "bi-encoder"


def test_the_embedded_minilm_is_a_bi_encoder() -> None:
    assert detect_kind(default_checkpoint_dir()) == "bi-encoder"


def test_unknown_architectures_ask_for_a_kind(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="pass kind="):
        detect_kind(checkpoint(tmp_path, ["GPT2LMHeadModel2"]))


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"no config\.json"):
        detect_kind(tmp_path)


def test_minilm_layout_is_mean_pooling_normalised_at_256() -> None:
    layout = read_sentence_layout(default_checkpoint_dir())
    assert (layout.pooling, layout.normalize, layout.max_seq_length) == ("mean", True, 256)


def test_without_modules_json_pooling_is_mean_and_not_normalised(tmp_path: Path) -> None:
    layout = read_sentence_layout(checkpoint(tmp_path, ["BertModel"]))
    assert (layout.pooling, layout.normalize, layout.max_seq_length) == ("mean", False, None)


@pytest.mark.parametrize(
    ("pooling_config", "expected"),
    [
        ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, "cls"),
        ({"pooling_mode_max_tokens": True}, "max"),
        ({"pooling_mode": "cls"}, "cls"),
        ({"pooling_mode": ["max"]}, "max"),
    ],
)
def test_pooling_modes_old_and_new_format(
    tmp_path: Path, pooling_config: dict[str, Any], expected: str
) -> None:
    modules = [
        {"type": ST + "Transformer", "path": ""},
        {"type": ST + "Pooling", "path": "pool"},
    ]
    folder = checkpoint(
        tmp_path, ["BertModel"], {"modules.json": modules, "pool/config.json": pooling_config}
    )
    layout = read_sentence_layout(folder)
    assert (layout.pooling, layout.normalize) == (expected, False)


@pytest.mark.parametrize(
    "pooling_config",
    [
        {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
        {"pooling_mode_mean_sqrt_len_tokens": True},
        {"pooling_mode": "lasttoken"},
    ],
)
def test_unsupported_pooling_is_refused(tmp_path: Path, pooling_config: dict[str, Any]) -> None:
    folder = checkpoint(tmp_path, ["BertModel"], {"1_Pooling/config.json": pooling_config})
    with pytest.raises(ExportError, match="pooling"):
        read_sentence_layout(folder)


def test_a_dense_module_is_refused_not_dropped(tmp_path: Path) -> None:
    modules = [
        {"type": ST + "Transformer", "path": ""},
        {"type": ST + "Pooling", "path": "1_Pooling"},
        {"type": ST + "Dense", "path": "2_Dense"},
    ]
    with pytest.raises(ExportError, match="'Dense' is not supported"):
        read_sentence_layout(checkpoint(tmp_path, ["BertModel"], {"modules.json": modules}))


def test_position_limit_counts_roberta_padding_offset() -> None:
    assert position_limit({"model_type": "bert", "max_position_embeddings": 512}) == 512
    xlmr = {"model_type": "xlm-roberta", "max_position_embeddings": 514, "pad_token_id": 1}
    assert position_limit(xlmr) == 512


@pytest.mark.parametrize(
    ("requested", "kind", "sentence_max", "tokenizer_max", "expected"),
    [
        (64, "cross-encoder", None, 512, 64),
        (None, "bi-encoder", 256, 512, 256),
        (None, "cross-encoder", 256, 512, 512),  # sentence-transformers' length is for bi-encoders
        (None, "cross-encoder", None, int(1e30), 512),  # transformers' "no limit" sentinel
        (None, "cross-encoder", None, 128, 128),
        (None, "cross-encoder", None, None, 512),
    ],
)
def test_max_length_defaults(
    requested: int | None, kind: Any, sentence_max: int | None, tokenizer_max: int | None, expected: int
) -> None:
    value = resolve_max_length(
        requested, kind=kind, sentence_max=sentence_max, tokenizer_max=tokenizer_max, limit=512
    )
    assert value == expected


@pytest.mark.parametrize("requested", [513, 4])
def test_max_length_outside_the_position_table_is_refused(requested: int) -> None:
    with pytest.raises(ExportError, match=rf"max_length {requested} is outside \[8, 512\]"):
        resolve_max_length(requested, kind="cross-encoder", sentence_max=None, tokenizer_max=512, limit=512)


def test_token_type_ids_only_with_several_segments() -> None:
    assert uses_token_type_ids({"type_vocab_size": 2}) is True
    assert uses_token_type_ids({"type_vocab_size": 1}) is False
    assert uses_token_type_ids({}) is False


def test_attention_shape_reads_bert_and_distilbert_names() -> None:
    assert attention_shape({"num_attention_heads": 12, "hidden_size": 384}) == (12, 384)
    assert attention_shape({"n_heads": 12, "dim": 768}) == (12, 768)
    assert attention_shape({}) == (0, 0)


def test_activation_follows_the_label_count() -> None:
    assert activation_for(1) == "sigmoid"
    assert activation_for(2) == "softmax"
    with pytest.raises(ExportError, match="3 labels is not supported"):
        activation_for(3)
