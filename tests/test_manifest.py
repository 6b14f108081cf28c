"""The manifest's OpenVINO entries: both IR files must be listed, and old folders keep their bytes."""

from __future__ import annotations

import json

import pytest

from reranker.errors import ConfigurationError
from reranker.manifest import parse_manifest

SHA = "0" * 64


def _raw(**extra: object) -> dict[str, object]:
    files = {name: {"sha256": SHA, "size": 1} for name in ("tokenizer.json", "model.onnx")}
    return {
        "name": "m",
        "kind": "cross-encoder",
        "max_length": 128,
        "variants": {"fp32": "model.onnx"},
        "files": files,
        **extra,
    }


def test_an_ir_graph_needs_its_xml_and_bin_listed() -> None:
    raw = _raw(openvino={"int8": "openvino/model.int8.xml"})
    raw["files"]["openvino/model.int8.xml"] = {"sha256": SHA, "size": 1}  # type: ignore[index]
    with pytest.raises(ConfigurationError, match=r"openvino/model\.int8\.bin"):
        parse_manifest(json.dumps(raw), origin="test")
    raw["files"]["openvino/model.int8.bin"] = {"sha256": SHA, "size": 1}  # type: ignore[index]
    manifest = parse_manifest(json.dumps(raw), origin="test")
    assert manifest.openvino == {"int8": "openvino/model.int8.xml"}
    assert json.loads(manifest.to_json())["openvino"] == {"int8": "openvino/model.int8.xml"}


def test_an_ir_graph_must_be_an_xml_file() -> None:
    raw = _raw(openvino={"int8": "model.int8.onnx"})
    with pytest.raises(ConfigurationError, match=r"must be an \.xml file"):
        parse_manifest(json.dumps(raw), origin="test")


def test_a_folder_without_ir_graphs_is_written_as_before() -> None:
    manifest = parse_manifest(json.dumps(_raw()), origin="test")
    assert "openvino" not in json.loads(manifest.to_json())
