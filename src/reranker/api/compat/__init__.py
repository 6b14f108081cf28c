"""Drop-in wire formats of other rerank APIs (Cohere v2, TEI, Infinity), each mapped onto RerankService."""
