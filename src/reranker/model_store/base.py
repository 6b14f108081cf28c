"""What every model store hands out: a local folder whose files match their manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reranker.manifest import Manifest


@dataclass(frozen=True)
class LocalModel:
    folder: Path
    manifest: Manifest


class ModelStore(Protocol):
    def fetch(self, uri: str, *, label: str) -> LocalModel:
        """Return the model at `uri` as a verified local folder.

        `label` names the model in errors, which must never show a path or a bucket.
        """
        ...
