"""The pure pieces of benchmarks/compare.py: contender lists, the ratio table, the synthetic-text mark,
the skip line without the benchmark venv, and the folders FlashRank and Infinity load.

No timing is asserted; the run itself is exercised by `python benchmarks/compare.py --quick`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def compare() -> Iterator[ModuleType]:
    """Import benchmarks/compare.py as the scripts import each other (their folder on sys.path)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import compare as module

        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_contenders_parse_with_default_variants_and_unknown_names_are_refused(compare: ModuleType) -> None:
    chosen = compare.parse_contenders("api:int8,st,flashrank,infinity-torch, naive:fp32")
    assert [c.label for c in chosen] == [
        "api int8",
        "st fp32",
        "flashrank int8",
        "infinity-torch fp32",
        "naive fp32",
    ]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown contender 'ours'"):
        compare.parse_contenders("api,ours")


def test_a_variant_or_backend_of_ours_is_one_entry_with_its_own_label(compare: ModuleType) -> None:
    entry = compare.Contender("api", "int8", {"RERANK_RUNTIME": "openvino"}, "openvino")
    assert entry.label == "api int8 openvino"
    assert entry.env == {"RERANK_RUNTIME": "openvino"}


def test_ratio_table_gives_pairs_per_second_and_the_ratio_to_st(compare: ModuleType) -> None:
    rates = {("st fp32", "128 short"): 40.0, ("api int8", "128 short"): 90.0, ("st fp32", "128 long"): 20.0}
    extra = {"api int8": {"peak RSS MB": 140.0}}
    rows = compare.ratio_rows(["api int8", "st fp32"], rates, extra, ["128 short", "128 long"], "st fp32")
    assert rows[0] == {
        "contender": "api int8",
        "128 short": "90 (2.25x)",
        "128 long": "n/a",
        "peak RSS MB": 140.0,
    }
    assert rows[1]["128 short"] == "40 (1.00x)" and rows[1]["128 long"] == "20 (1.00x)"
    # Without sentence-transformers in the run there is no ratio, but the rate is still shown.
    assert compare.ratio_cell(12.5, float("nan")) == "12.5 (n/a)"


def test_synthetic_text_marks_every_row_and_says_so_under_the_table(
    compare: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(compare, "workload_source", lambda: "fixed word list")
    compare.print_marked([{"contender": "a", "x": 1.0}, {"contender": "b", "x": 2.0}], ["contender", "x"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| contender | x | text |"
    assert lines[2].endswith("| SYNTHETIC TEXT |") and lines[3].endswith("| SYNTHETIC TEXT |")
    assert any(line.startswith("!! SYNTHETIC TEXT: ../shared/data/beir/scifact is absent") for line in lines)

    monkeypatch.setattr(compare, "workload_source", lambda: "SciFact abstracts")
    compare.print_marked([{"contender": "a", "x": 1.0}], ["contender", "x"])
    assert "SYNTHETIC" not in capsys.readouterr().out


def test_without_the_benchmark_venv_its_contenders_are_skipped_loudly(
    compare: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = compare.parse_contenders("api:int8,flashrank,infinity-onnx")
    kept = compare.available(chosen, tmp_path / ".venv-bench" / "bin" / "python")
    assert [c.label for c in kept] == ["api int8"]
    out = capsys.readouterr().out
    assert out.startswith("!! SKIPPED flashrank, infinity-onnx: the benchmark venv")
    assert "make bench-venv" in out


def test_flashrank_folder_holds_our_int8_graph_and_the_tokenizer_files_it_reads(
    compare: ModuleType, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    checkpoint = tiny_cross_encoder_dir.parent / "checkpoint"
    folder = compare.flashrank_folder(tiny_cross_encoder_dir, checkpoint, tmp_path, "int8")
    assert (folder / compare.FLASHRANK_MODEL_FILE).resolve() == (tiny_cross_encoder_dir / "model.int8.onnx")
    fp32 = compare.flashrank_folder(tiny_cross_encoder_dir, checkpoint, tmp_path, "fp32")
    assert (fp32 / compare.FLASHRANK_MODEL_FILE).resolve() == (tiny_cross_encoder_dir / "model.onnx")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        assert (folder / name).is_file(), name
    tokens = json.loads((folder / "special_tokens_map.json").read_text())
    assert tokens["pad_token"] == "[PAD]" and tokens["cls_token"] == "[CLS]"


def test_infinity_folders_truncate_at_our_max_length(
    compare: ModuleType, tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    checkpoint = tiny_cross_encoder_dir.parent / "checkpoint"
    max_length = json.loads((tiny_cross_encoder_dir / "model.json").read_text())["max_length"]
    onnx = compare.infinity_folder("onnx", "int8", tiny_cross_encoder_dir, checkpoint, tmp_path)
    assert (onnx / "model_quantized.onnx").resolve() == tiny_cross_encoder_dir / "model.int8.onnx"
    assert json.loads((onnx / "config.json").read_text())["max_position_embeddings"] == max_length
    assert json.loads((onnx / "tokenizer_config.json").read_text())["model_max_length"] == max_length
    torch = compare.infinity_folder("torch", "fp32", tiny_cross_encoder_dir, checkpoint, tmp_path)
    assert (torch / "model.safetensors").resolve() == (checkpoint / "model.safetensors").resolve()
    assert json.loads((torch / "config.json").read_text()) == json.loads(
        (checkpoint / "config.json").read_text()
    )
    assert json.loads((torch / "tokenizer_config.json").read_text())["model_max_length"] == max_length
