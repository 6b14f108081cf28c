"""A bounded LRU of embeddings, keyed by the exact token ids the model was fed.

A bi-encoder's document embedding does not depend on the query, and rerank traffic repeats
documents (the same top hits for related queries, every query of an evaluation). Keying by the
ids after truncation means a hit is exactly what the model would compute for that input.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from reranker.scoring.tokenize import Encoded

Vector = npt.NDArray[np.float32]


def cache_key(row: Encoded) -> bytes:
    """Return a 16-byte digest of the row's ids and type ids."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(row.ids, dtype=np.int64).tobytes())
    digest.update(np.asarray(row.type_ids, dtype=np.int8).tobytes())
    return digest.digest()


class EmbeddingCache:
    """Thread-safe LRU holding at most `capacity` vectors; capacity 0 keeps nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[bytes, Vector] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def get_many(self, keys: Sequence[bytes]) -> list[Vector | None]:
        """Return the cached vector of each key, or None, marking hits as recently used."""
        with self._lock:
            found: list[Vector | None] = []
            for key in keys:
                vector = self._vectors.get(key)
                if vector is not None:
                    self._vectors.move_to_end(key)
                found.append(vector)
            return found

    def put_many(self, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> None:
        """Store `vectors[i]` under `keys[i]`, evicting the least recently used past capacity."""
        if self.capacity == 0:
            return
        with self._lock:
            for key, vector in zip(keys, vectors, strict=True):
                self._vectors[key] = vector.copy()
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
