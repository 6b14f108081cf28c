"""The local store checks the files the chosen graph needs when serving (the registry selects
them), and every file otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reranker.config import Settings
from reranker.errors import ModelUnavailable
from reranker.model_store.local import LocalModelStore
from reranker.registry import graph_files, runtime_options


@pytest.fixture
def folder_with_a_bad_fp32_graph(tiny_cross_encoder_dir: Path, tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(tiny_cross_encoder_dir, tmp_path / "model"))
    (folder / "model.onnx").write_bytes(b"not the graph the manifest names")
    return folder


def test_serving_int8_on_onnxruntime_skips_the_fp32_graph(folder_with_a_bad_fp32_graph: Path) -> None:
    settings = Settings(runtime="onnxruntime", precision="int8")
    local = LocalModelStore().fetch(
        str(folder_with_a_bad_fp32_graph), label="m", files=graph_files(runtime_options(settings))
    )
    assert local.manifest.name == "tiny-ce"


@pytest.mark.parametrize(
    ("backend", "variant"), [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]
)
def test_a_graph_that_is_opened_is_checked(
    folder_with_a_bad_fp32_graph: Path, backend: str, variant: str
) -> None:
    settings = Settings(runtime=backend, precision=variant)
    if variant == "bf16":
        pytest.importorskip("openvino")
        from reranker.scoring.graph_choice import probe_openvino

        if not probe_openvino().bf16:
            pytest.skip("this CPU has no BF16: bf16 is refused before any file is checked")
    with pytest.raises(ModelUnavailable, match=r"file 'model\.onnx' fails its sha256 check"):
        LocalModelStore().fetch(
            str(folder_with_a_bad_fp32_graph), label="m", files=graph_files(runtime_options(settings))
        )


def test_without_a_selection_every_file_is_checked(folder_with_a_bad_fp32_graph: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"file 'model\.onnx' fails its sha256 check"):
        LocalModelStore().fetch(str(folder_with_a_bad_fp32_graph), label="m")
