"""What bounds a MiniLM-L6 cross-encoder on this CPU: the model's FLOPs per pair against GEMM speed.

Measures the GEMM rate this machine really reaches, with the shapes of one MiniLM-L6 layer
(tokens x 384 x 1536) and all cores: fp32 through onnxruntime MatMul (and numpy's BLAS), int8
through onnxruntime MatMulInteger (u8 x s8, what dynamic int8 runs), and, when OpenVINO is
installed, its MatMul at f32, bf16 (AMX or AVX512_BF16 where the CPU has them) and int8
(FakeQuantize on both inputs, what a static int8 IR runs). Then prints FLOPs per pair
at a few sequence lengths and the pairs/s ceiling those rates allow, to set against the
pairs/s that throughput.py measures.

    python benchmarks/roofline.py
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import onnxruntime as ort
from common import median, print_header, print_table
from onnx import TensorProto, helper

HIDDEN, FFN, LAYERS = 384, 1536, 6


def flops_per_pair(length: int) -> float:
    """Return the multiply-add FLOPs (x2) of one MiniLM-L6 forward pass over `length` tokens.

    Per layer: Q, K, V and output projections 4 x 2 L d^2, feed-forward 2 x 2 L d (4d), and
    attention scores plus weighted sum 2 x 2 L^2 d. Embeddings, norms, softmax and the head
    are under 1% and left out.
    """
    linear = 4 * 2 * length * HIDDEN**2 + 2 * 2 * length * HIDDEN * FFN
    attention = 2 * 2 * length**2 * HIDDEN
    return float(LAYERS * (linear + attention))


def _matmul_session(int8: bool, threads: int) -> ort.InferenceSession:
    a_type = TensorProto.UINT8 if int8 else TensorProto.FLOAT
    b_type = TensorProto.INT8 if int8 else TensorProto.FLOAT
    out_type = TensorProto.INT32 if int8 else TensorProto.FLOAT
    node = helper.make_node("MatMulInteger" if int8 else "MatMul", ["a", "b"], ["c"])
    graph = helper.make_graph(
        [node],
        "gemm",
        [
            helper.make_tensor_value_info("a", a_type, ["m", HIDDEN]),
            helper.make_tensor_value_info("b", b_type, [HIDDEN, FFN]),
        ],
        [helper.make_tensor_value_info("c", out_type, ["m", FFN])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _openvino_gemm(tokens: int, precision: str, threads: int) -> Callable[[], object] | None:
    """Return a call running one OpenVINO MatMul at `precision` (f32, bf16, int8); None without OpenVINO."""
    try:
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError:
        return None
    rng = np.random.default_rng(1)
    a = ops.parameter([tokens, HIDDEN], ov.Type.f32, name="a")
    left, right = a, ops.constant(rng.standard_normal((HIDDEN, FFN)).astype(np.float32))
    if precision == "int8":
        low, high = np.float32(-4), np.float32(4)
        left = ops.fake_quantize(a, low, high, low, high, 256)
        right = ops.fake_quantize(right, low, high, low, high, 255)
    model = ov.Model([ops.matmul(left, right, False, False)], [a], "gemm")
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    config["INFERENCE_PRECISION_HINT"] = "bf16" if precision == "bf16" else "f32"
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
    feed = {"a": rng.standard_normal((tokens, HIDDEN)).astype(np.float32)}
    return partial(request.infer, feed)


def rate(run: Callable[[], object], flops: float, reps: int) -> float:
    """Return the median GFLOP/s (or GOP/s) of `run`, after one warm-up call."""
    run()
    seconds = []
    for _ in range(reps):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return flops / median(seconds) / 1e9


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=4096, help="rows of the GEMM (a batch's tokens)")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.tokens, args.reps = 1024, 3
    print_header(
        "roofline: GEMM rates and the pairs/s they allow",
        {"load average": " ".join(f"{x:.1f}" for x in os.getloadavg())},
    )
    rng = np.random.default_rng(0)
    flops = 2.0 * args.tokens * HIDDEN * FFN
    a32 = rng.standard_normal((args.tokens, HIDDEN), dtype=np.float32)
    b32 = rng.standard_normal((HIDDEN, FFN), dtype=np.float32)
    a8 = rng.integers(0, 255, (args.tokens, HIDDEN), dtype=np.uint8)
    b8 = rng.integers(-63, 63, (HIDDEN, FFN), dtype=np.int8)
    rates: dict[str, float] = {}
    for threads in (1, os.cpu_count() or 1):
        fp32 = _matmul_session(False, threads)
        int8 = _matmul_session(True, threads)
        feed32, feed8 = {"a": a32, "b": b32}, {"a": a8, "b": b8}
        rates[f"onnxruntime fp32 MatMul, {threads} thread(s)"] = rate(
            partial(fp32.run, None, feed32), flops, args.reps
        )
        rates[f"onnxruntime int8 MatMulInteger, {threads} thread(s)"] = rate(
            partial(int8.run, None, feed8), flops, args.reps
        )
        for precision in ("f32", "bf16", "int8"):
            gemm = _openvino_gemm(args.tokens, precision, threads)
            if gemm is not None:
                rates[f"OpenVINO {precision} MatMul, {threads} thread(s)"] = rate(gemm, flops, args.reps)
    rates["numpy fp32 matmul (BLAS, default threads)"] = rate(lambda: a32 @ b32, flops, args.reps)
    print_table([{"GEMM": k, "G(FL)OP/s": v} for k, v in rates.items()], ["GEMM", "G(FL)OP/s"])
    cores = os.cpu_count() or 1

    def best(*names: str) -> float:
        """Return the fastest all-core rate among the runtimes measured."""
        return max(rates.get(f"{name}, {cores} thread(s)", 0.0) for name in names)

    ceilings = {
        "fp32": best("onnxruntime fp32 MatMul", "OpenVINO f32 MatMul"),
        "bf16": best("OpenVINO bf16 MatMul"),
        "int8": best("onnxruntime int8 MatMulInteger", "OpenVINO int8 MatMul"),
    }
    rows: list[dict[str, object]] = []
    for length in (128, 256, 300, 512):
        row: dict[str, object] = {"tokens per pair": length, "GFLOP per pair": flops_per_pair(length) / 1e9}
        for precision, gemm_rate in ceilings.items():
            if gemm_rate:
                row[f"{precision} ceiling pairs/s"] = gemm_rate * 1e9 / flops_per_pair(length)
        rows.append(row)
    print_table(rows, list(rows[0]))
    print(
        "ceiling = all-core GEMM rate / FLOPs per pair: no model reaches it (attention softmax, norms, GELU,"
    )
    print("activation quantization and padding are extra work), so it bounds what any runtime can do here.")


if __name__ == "__main__":
    main()
