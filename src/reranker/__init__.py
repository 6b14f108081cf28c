"""Serverless reranker service: ONNX cross-encoders and bi-encoders behind POST /v1/rerank."""

__version__ = "0.1.0"
