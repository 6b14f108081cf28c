"""The fixed texts every export is checked on: varied lengths, scripts, and one over max_length.

Fixed so that the parity figures in two manifests are comparable; ordered so that each
batch of four mixes short and long rows and the graph must honour its attention mask.
"""

from __future__ import annotations

import itertools

from reranker.manifest import ModelKind

QUERIES: tuple[str, ...] = (
    "what is the capital of france",
    "how do vaccines train the immune system",
    "python list comprehension example",
    "Wie funktioniert ein Dieselmotor?",
    "東京の人口はどのくらいですか",
    "apple river",
)

DOCUMENTS: tuple[str, ...] = (
    "Paris is the capital and most populous city of France.",
    "ok",
    "Vaccines expose the immune system to a harmless piece or copy of a pathogen, so that "
    "B cells learn to make antibodies and memory cells remember it; a later infection is "
    "then met by a fast, strong response before the disease can take hold. Boosters "
    "refresh that memory when it fades, and herd immunity protects those who cannot be "
    "vaccinated themselves.",
    "squares = [x * x for x in range(10) if x % 2 == 0]",
    "Ein Dieselmotor verdichtet Luft so stark, dass der eingespritzte Kraftstoff von selbst zündet.",
    "東京都の人口は約1400万人で、日本で最も人口の多い都道府県です。",
    "Our café serves espresso ☕, cappuccino and croissants 🥐 all day long.",
    "apple garden river",
)

_LONG_SOURCE = (
    "The Roman Empire grew from a city state on the Tiber into a power that ruled the "
    "Mediterranean world, built roads and aqueducts, and left its law and language behind."
)


def long_text(max_length: int) -> str:
    """Return a text of more than `max_length` tokens, so that truncation is exercised."""
    return " ".join(itertools.islice(itertools.cycle(_LONG_SOURCE.split()), max_length + 16))


def sample_inputs(kind: ModelKind, max_length: int) -> list[tuple[str, ...]]:
    """Return the parity rows: (query, document) pairs for a cross-encoder, texts otherwise."""
    if kind == "cross-encoder":
        rows: list[tuple[str, ...]] = [(q, d) for q in QUERIES for d in DOCUMENTS]
        rows.insert(2, (QUERIES[0], long_text(max_length)))
        return rows
    texts = [*QUERIES, *DOCUMENTS]
    texts.insert(2, long_text(max_length))
    return [(text,) for text in texts]
