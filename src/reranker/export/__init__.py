"""Export: a Hugging Face checkpoint folder -> a verified ONNX model folder (the [export] extra).

Import `reranker.export.exporter` for `export_model`; this package init stays empty so that
importing it never pulls in torch or transformers by accident.
"""
