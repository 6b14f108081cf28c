"""Which runtime opens which graph file: every row of the backend x variant table, and its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from reranker.config import Settings
from reranker.errors import ConfigurationError
from reranker.manifest import FileEntry, Manifest
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.graph_choice import GraphChoice, OpenVinoSupport, choose_graph, probe_openvino
from reranker.scoring.loader import load_scorer

ENTRY = FileEntry(sha256="0" * 64, size=1)
IR = "openvino/model.int8.xml"
OV_BF16 = OpenVinoSupport(installed=True, bf16=True)
OV_NO_BF16 = OpenVinoSupport(installed=True, bf16=False)
NO_OV = OpenVinoSupport(installed=False)


def manifest(*, int8: bool = True, ir: bool = True) -> Manifest:
    variants = {"fp32": "model.onnx", **({"int8": "model.int8.onnx"} if int8 else {})}
    graphs = [*variants.values(), *([IR, "openvino/model.int8.bin"] if ir else [])]
    return Manifest.model_validate(
        {
            "name": "m",
            "kind": "cross-encoder",
            "max_length": 128,
            "variants": variants,
            "openvino": {"int8": IR} if ir else {},
            "files": dict.fromkeys(["tokenizer.json", *graphs], ENTRY),
        }
    )


def choose(
    backend: str, variant: str, support: OpenVinoSupport = OV_BF16, model: Manifest | None = None
) -> GraphChoice:
    settings = Settings(runtime=backend, precision=variant, device="cpu")
    return choose_graph(model or manifest(), runtime_options(settings), support)


@pytest.mark.parametrize(
    ("backend", "variant", "model", "expected"),
    [
        ("onnxruntime", "fp32", manifest(), GraphChoice("onnxruntime", "fp32", "fp32", ("model.onnx",))),
        (
            "onnxruntime",
            "int8",
            manifest(),
            GraphChoice("onnxruntime", "int8", "int8", ("model.int8.onnx",)),
        ),
        # int8 not exported: fp32, as before the OpenVINO backend.
        (
            "onnxruntime",
            "int8",
            manifest(int8=False),
            GraphChoice("onnxruntime", "fp32", "fp32", ("model.onnx",)),
        ),
        ("openvino", "fp32", manifest(), GraphChoice("openvino", "fp32", "fp32", ("model.onnx",), "f32")),
        ("openvino", "bf16", manifest(), GraphChoice("openvino", "bf16", "bf16", ("model.onnx",), "bf16")),
        (
            "openvino",
            "int8",
            manifest(),
            GraphChoice("openvino", "int8", "int8-static", (IR, "openvino/model.int8.bin")),
        ),
        # auto with OpenVINO installed on the CPU: onnxruntime, except bf16 (OpenVINO's alone).
        ("auto", "fp32", manifest(), GraphChoice("onnxruntime", "fp32", "fp32", ("model.onnx",))),
        ("auto", "bf16", manifest(), GraphChoice("openvino", "bf16", "bf16", ("model.onnx",), "bf16")),
        ("auto", "int8", manifest(), GraphChoice("onnxruntime", "int8", "int8", ("model.int8.onnx",))),
        (
            "auto",
            "int8",
            manifest(ir=False),
            GraphChoice("onnxruntime", "int8", "int8", ("model.int8.onnx",)),
        ),
    ],
)
def test_each_backend_and_variant_opens_its_graph(
    backend: str, variant: str, model: Manifest, expected: GraphChoice
) -> None:
    choice = choose(backend, variant, model=model)
    assert choice == expected
    assert choice.graph == expected.files[0]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_auto_without_openvino_is_onnxruntime(variant: str) -> None:
    choice = choose("auto", variant, NO_OV)
    assert choice.runtime == "onnxruntime" and choice.label == variant


def test_auto_leaves_cuda_to_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO runs on the CPU here: where onnxruntime would use CUDA, auto keeps onnxruntime."""
    settings = Settings(runtime="auto", precision="bf16", device="cuda")
    with pytest.raises(ConfigurationError, match="openvino"):  # bf16 is OpenVINO's alone
        choose_graph(manifest(), runtime_options(settings), OV_BF16)
    # device=auto: CUDA is used when onnxruntime offers it (the provider list stands in for a GPU).
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    settings = Settings(runtime="auto", precision="bf16", device="auto")
    with pytest.raises(ConfigurationError, match="openvino"):
        choose_graph(manifest(), runtime_options(settings), OV_BF16)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert choose_graph(manifest(), runtime_options(settings), OV_BF16).runtime == "openvino"


@pytest.mark.parametrize(
    ("backend", "variant", "support", "model", "message"),
    [
        (
            "onnxruntime",
            "bf16",
            OV_BF16,
            manifest(),
            "bf16 runs on the openvino backend only; set RERANK_RUNTIME=openvino and install the [openvino] "
            "extra",
        ),
        # auto without OpenVINO falls to onnxruntime, which has no bf16: the same message.
        (
            "auto",
            "bf16",
            NO_OV,
            manifest(),
            "bf16 runs on the openvino backend only; set RERANK_RUNTIME=openvino and install the [openvino] "
            "extra",
        ),
        (
            "openvino",
            "fp32",
            NO_OV,
            manifest(),
            "RERANK_RUNTIME=openvino but the openvino package is not installed "
            "(install the [openvino] extra)",
        ),
        (
            "openvino",
            "bf16",
            OV_NO_BF16,
            manifest(),
            "RERANK_PRECISION=bf16 needs a CPU with BF16 instructions (AVX512_BF16 or AMX), and this one has "
            "none; serve fp32 or int8",
        ),
        (
            "auto",
            "bf16",
            OV_NO_BF16,
            manifest(),
            "RERANK_PRECISION=bf16 needs a CPU with BF16 instructions (AVX512_BF16 or AMX), and this one has "
            "none; serve fp32 or int8",
        ),
        (
            "openvino",
            "int8",
            OV_BF16,
            manifest(ir=False),
            "model m has no OpenVINO static int8 graph; export it again with the current exporter, or serve "
            "its dynamic int8 graph with RERANK_RUNTIME=onnxruntime",
        ),
    ],
)
def test_unservable_settings_say_what_to_change(
    backend: str, variant: str, support: OpenVinoSupport, model: Manifest, message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        choose(backend, variant, support, model)
    assert raised.value.message == message


def test_openvino_with_cuda_providers_is_refused() -> None:
    settings = Settings(runtime="openvino", precision="fp32", device="cuda")
    with pytest.raises(ConfigurationError, match="RERANK_RUNTIME=openvino runs on the CPU"):
        choose_graph(manifest(), runtime_options(settings), OV_BF16)


def test_the_runtime_setting_reads_rerank_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANK_RUNTIME", "openvino")
    monkeypatch.setenv("RERANK_PRECISION", "bf16")
    settings = Settings()
    assert (settings.runtime, settings.precision) == ("openvino", "bf16")
    monkeypatch.setenv("RERANK_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="runtime"):
        Settings()


def test_the_probe_reads_this_machine() -> None:
    """This venv has openvino ([dev] installs it); BF16 is offered exactly when the CPU flags say so."""
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").is_file() else set()
    support = probe_openvino()
    assert support.installed
    assert support.bf16 == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_without_the_package_explicit_openvino_fails_to_load_and_auto_serves_onnxruntime(
    tiny_cross_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving venv without the [openvino] extra: `import openvino` fails (a None module entry)."""
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert probe_openvino() == NO_OV
    local = LocalModelStore().fetch(str(tiny_cross_encoder_dir), label="tiny-ce")
    with pytest.raises(ConfigurationError, match=r"install the \[openvino\] extra"):
        load_scorer(
            local.folder, local.manifest, runtime_options(Settings(runtime="openvino", precision="fp32"))
        )
    scorer = load_scorer(
        local.folder, local.manifest, runtime_options(Settings(runtime="auto", precision="fp32"))
    )
    assert (scorer.provider, scorer.variant) == ("CPUExecutionProvider", "fp32")
