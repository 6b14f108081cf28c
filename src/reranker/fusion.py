"""Fusing the model's scores with the caller's first-stage scores, over one request's documents.

A reranker that is weaker than the first stage on some queries still helps when the two are
combined: on SciFact the default bi-encoder alone scores below BM25, fused with it well above
(docs/eval.md). Fusing on the server makes the served ranking the one the eval harness gates.

- `combsum`: min-max normalise each side over the request, then `weight * model + (1 - weight) *
  first stage` (ranx's `wsum` with min-max norm). A side whose scores are all equal normalises
  to 0, so the other side decides.
- `rrf`: reciprocal rank fusion, `1 / (k + model rank) + 1 / (k + first-stage rank)`, ranks
  from 1, ties ranked in input order (ranx's `rrf`, Cormack et al. 2009).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
FusionMethod = Literal["combsum", "rrf"]
DEFAULT_WEIGHT = 0.5
DEFAULT_RRF_K = 60


@dataclass(frozen=True)
class Fusion:
    method: FusionMethod
    weight: float = DEFAULT_WEIGHT
    k: int = DEFAULT_RRF_K

    def describe(self) -> dict[str, object]:
        """Return the parameters that matter for the method (for reports and gates)."""
        if self.method == "rrf":
            return {"method": "rrf", "k": self.k}
        return {"method": "combsum", "weight": self.weight}


def min_max(scores: Floats) -> Floats:
    """Return scores scaled to [0, 1] over this set; all-equal scores become 0.

    Finite for every finite input: when `high - low` would overflow (scores near ±1.8e308),
    both sides are halved before subtracting, which cannot overflow; otherwise the plain
    formula is used, so ordinary scores keep their exact values.
    """
    low, high = float(np.min(scores)), float(np.max(scores))
    if high == low:
        return np.zeros_like(scores)
    if math.isfinite(high - low):
        return (scores - low) / (high - low)
    return (scores * 0.5 - low * 0.5) / (high * 0.5 - low * 0.5)


def ranks(scores: Floats) -> Floats:
    """Return each score's rank, 1 for the highest, ties in input order."""
    order = np.argsort(-scores, kind="stable")
    result = np.empty(len(scores), dtype=np.float64)
    result[order] = np.arange(1, len(scores) + 1, dtype=np.float64)
    return result


def fuse(model: Floats, first_stage: Floats, fusion: Fusion) -> Floats:
    """Return the fused score of each document, in input order; higher is better."""
    if fusion.method == "rrf":
        return 1.0 / (fusion.k + ranks(model)) + 1.0 / (fusion.k + ranks(first_stage))
    return fusion.weight * min_max(model) + (1.0 - fusion.weight) * min_max(first_stage)
