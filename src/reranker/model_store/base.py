"""What every model store hands out: a local folder whose files match their manifest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reranker.manifest import FileEntry, Manifest

# Which of a manifest's files a fetch must deliver (None: all); the registry asks for the files
# of the graph it chose, and may raise ModelUnavailable when none can serve.
FileSelector = Callable[[Manifest], Mapping[str, FileEntry]]


@dataclass(frozen=True)
class Resolved:
    """What a store alias (`<name>@<alias>`) named when the model loaded."""

    alias: str
    version: str
    fingerprint: str
    variant: str
    uri: str


@dataclass(frozen=True)
class LocalModel:
    folder: Path
    manifest: Manifest
    # Set when the URI named a store alias: the version and fingerprint it resolved to.
    resolved: Resolved | None = None


class ModelStore(Protocol):
    def fetch(self, uri: str, *, label: str, files: FileSelector | None = None) -> LocalModel:
        """Return the model at `uri` as a verified local folder holding the `files` selected.

        `label` names the model in errors, which must never show a path or a bucket.
        """
        ...
