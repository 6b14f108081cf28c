"""Which runtime runs which graph file of a model, decided once for the loader and the registry.

- onnxruntime: fp32 -> variants["fp32"]; int8 -> variants["int8"] (dynamic int8), else fp32;
  bf16 -> ConfigurationError (OpenVINO only).
- openvino: fp32 -> variants["fp32"] read at f32 precision; bf16 -> the same file read at bf16
  (ConfigurationError on a CPU without BF16); int8 -> openvino["int8"], the static int8 IR
  (ConfigurationError when the model was exported without it).

`auto` is onnxruntime, except bf16 (OpenVINO's alone), which runs on OpenVINO when its package
imports and no CUDA provider is in use. Measured here (docs/benchmarks.md): onnxruntime's int8,
one row per core, scores short rows as fast as OpenVINO's static int8 in a quarter of the memory
(peak RSS ~150-190 MB against 630-830 MB), and OpenVINO fell behind it beside busy processes;
serverless bills memory, so OpenVINO is chosen by name (RERANK_RUNTIME=openvino), not by being
installed. The `label` names what scores, for the
model fingerprint and /v1/models: OpenVINO's static int8 and bf16 do not score like
onnxruntime's int8 and fp32, so they never share a fingerprint with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from reranker.choices import Device, Precision, Runtime
from reranker.errors import ConfigurationError
from reranker.manifest import FileEntry, Manifest, openvino_weights
from reranker.scoring.types import RuntimeOptions

# OpenVINO f32 scores match onnxruntime fp32 within 1e-5 (measured <= 4.5e-7: tests/scoring/
# test_openvino_runtime.py, tests/integration/test_reference_parity.py),
# so they share the fingerprint of the fp32 variant.
FP32_LABEL = "fp32"
# The precision OpenVINO reads an fp32 graph at (its INFERENCE_PRECISION_HINT).
InferencePrecision = Literal["f32", "bf16"]

BF16_ON_ONNXRUNTIME = (
    "bf16 runs on the openvino backend only; set RERANK_RUNTIME=openvino and install the [openvino] extra"
)
OPENVINO_MISSING = (
    "RERANK_RUNTIME=openvino but the openvino package is not installed (install the [openvino] extra)"
)


@dataclass(frozen=True)
class GraphChoice:
    """The runtime, the graph it opens (`files[0]`) with the files beside it, and how it reads them."""

    runtime: Runtime
    precision: Precision
    label: str
    files: tuple[str, ...]
    openvino_precision: InferencePrecision | None = None

    @property
    def graph(self) -> str:
        return self.files[0]


@dataclass(frozen=True)
class OpenVinoSupport:
    """What this process can run on OpenVINO; None in `choose_graph` means "probe it"."""

    installed: bool
    bf16: bool = False


def probe_openvino() -> OpenVinoSupport:
    """Return whether openvino imports here and whether its CPU plugin offers BF16."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return OpenVinoSupport(installed=False)
    return OpenVinoSupport(installed=True, bf16="BF16" in cpu_capabilities())


@lru_cache(maxsize=1)
def cpu_capabilities() -> tuple[str, ...]:
    """Return the OpenVINO CPU plugin's optimisation capabilities (FP32, BF16, INT8, ...)."""
    import openvino

    return tuple(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def cuda_in_use(providers: Device) -> bool:
    """Return whether onnxruntime would run on CUDA under this RERANK_DEVICE."""
    if providers == "cpu":
        return False
    if providers == "cuda":
        return True
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def choose_graph(
    manifest: Manifest, options: RuntimeOptions, openvino: OpenVinoSupport | None = None
) -> GraphChoice:
    """Return the runtime and graph serving `options.precision` of this model, or raise ConfigurationError."""
    backend = options.runtime
    support = OpenVinoSupport(installed=False)
    if backend == "openvino" and options.device == "cuda":
        raise ConfigurationError(
            "RERANK_RUNTIME=openvino runs on the CPU; RERANK_DEVICE=cuda asks for onnxruntime's CUDA "
            "provider: set one of them differently"
        )
    if backend == "auto":
        # Only bf16 needs OpenVINO; probing it (importing openvino) costs a cold start otherwise.
        usable = options.precision == "bf16" and not cuda_in_use(options.device)
        if usable:
            support = openvino or probe_openvino()
        backend = "openvino" if usable and support.installed else "onnxruntime"
    elif backend == "openvino":
        support = openvino or probe_openvino()
        if not support.installed:
            raise ConfigurationError(OPENVINO_MISSING)
    choice = (
        _on_openvino(manifest, options.precision, support)
        if backend == "openvino"
        else _on_onnxruntime(manifest, options.precision)
    )
    return choice


def _on_onnxruntime(manifest: Manifest, variant: Precision) -> GraphChoice:
    if variant == "bf16":
        raise ConfigurationError(BF16_ON_ONNXRUNTIME)
    served: Precision = variant if variant in manifest.variants else "fp32"
    if served not in manifest.variants:
        raise ConfigurationError(f"model {manifest.name} has no {variant} or fp32 graph")
    return GraphChoice("onnxruntime", served, served, (manifest.variants[served],))


def _openvino_graph(manifest: Manifest, variant: Precision) -> str | None:
    """Return the file OpenVINO opens for `variant`, None when the manifest has none."""
    if variant == "int8":
        return manifest.openvino.get("int8")
    return manifest.variants.get("fp32")


def _on_openvino(manifest: Manifest, variant: Precision, support: OpenVinoSupport) -> GraphChoice:
    graph = _openvino_graph(manifest, variant)
    if variant == "int8":
        if graph is None:
            raise ConfigurationError(
                f"model {manifest.name} has no OpenVINO static int8 graph; export it again with the "
                "current exporter, or serve its dynamic int8 graph with RERANK_RUNTIME=onnxruntime"
            )
        return GraphChoice("openvino", "int8", "int8-static", (graph, openvino_weights(graph)))
    if graph is None:
        raise ConfigurationError(f"model {manifest.name} has no fp32 graph")
    if variant == "bf16":
        if not support.bf16:
            raise ConfigurationError(
                "RERANK_PRECISION=bf16 needs a CPU with BF16 instructions (AVX512_BF16 or AMX), and this "
                "one has none; serve fp32 or int8"
            )
        return GraphChoice("openvino", "bf16", "bf16", (graph,), "bf16")
    return GraphChoice("openvino", "fp32", FP32_LABEL, (graph,), "f32")


def serving_files(manifest: Manifest, choice: GraphChoice) -> dict[str, FileEntry]:
    """Return the files serving `choice` needs: every file of the manifest but the unopened graphs.

    An OpenVINO IR counts with its `.bin`.
    """
    graphs = {*manifest.variants.values()}
    graphs.update(name for xml in manifest.openvino.values() for name in (xml, openvino_weights(xml)))
    skipped = graphs - set(choice.files)
    return {name: entry for name, entry in manifest.files.items() if name not in skipped}
