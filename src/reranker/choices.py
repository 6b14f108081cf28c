"""The vocabulary of choices: the words settings, requests and scorers share for how a model runs.

- runtime: what runs a graph (onnxruntime or OpenVINO); "auto" lets `choose_graph` pick.
- device: where onnxruntime runs it (CPU or CUDA); "auto" is CUDA when its provider is present.
- precision: which exported graph is served (fp32, dynamic int8, bf16 on OpenVINO; OpenVINO's
  int8 is the static int8 IR).
- truncate: which end of a text is cut when it does not fit.
"""

from __future__ import annotations

from typing import Literal

Truncate = Literal["none", "start", "end"]
Precision = Literal["fp32", "int8", "bf16"]
Device = Literal["auto", "cpu", "cuda"]
Runtime = Literal["onnxruntime", "openvino"]
RuntimeChoice = Literal["auto", "onnxruntime", "openvino"]
