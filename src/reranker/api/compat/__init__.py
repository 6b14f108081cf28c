"""Drop-in wire formats of other rerank APIs (Cohere, Voyage, Mixedbread, TEI, Infinity, vLLM), each
mapped onto RerankService."""
