"""Models in a folder on disk (`file:///abs/path` or a plain path)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from reranker.config import Settings
from reranker.errors import ConfigurationError, ModelUnavailable
from reranker.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    file_entry,
    openvino_weights,
    parse_manifest,
)
from reranker.model_store.base import LocalModel
from reranker.scoring.graphs import choose_graph


def path_from_uri(uri: str) -> Path:
    """Return the folder a `file://` URI or plain path names."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        return Path(unquote(parsed.netloc + parsed.path))
    return Path(uri)


class LocalModelStore:
    """Reads a model folder in place after checking its files against the manifest.

    With `settings` (serving) only the files the chosen graph needs are checked: hashing an
    fp32 graph that an int8 deployment never opens cost 0.085 s of a 1.4 s Lambda cold start.
    Without (publish, inspection) every file is.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def fetch(self, uri: str, *, label: str) -> LocalModel:
        folder = path_from_uri(uri)
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            raise ModelUnavailable(f"model {label!r} has no {MANIFEST_NAME} in its folder")
        manifest = parse_manifest(manifest_path.read_bytes(), origin=f"model {label!r}")
        files = files_needed(manifest, self._settings) if self._settings else manifest.files
        verify_folder(folder, files, label=label)
        return LocalModel(folder=folder, manifest=manifest)


def verify_folder(folder: Path, files: Mapping[str, FileEntry], *, label: str) -> None:
    """Raise ModelUnavailable unless each listed file exists with the manifest's size and sha256."""
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise ModelUnavailable(f"model {label!r} is missing its file {name!r}")
        if file_entry(path) != expected:
            raise ModelUnavailable(f"model {label!r} file {name!r} fails its sha256 check")


def files_needed(manifest: Manifest, settings: Settings) -> dict[str, FileEntry]:
    """Return the files serving needs (fetched from S3, checked on disk): all but unopened graphs.

    The graph is the one `choose_graph` picks for the loader (an IR counts with its `.bin`), so
    an unservable setting (bf16 on onnxruntime, no static int8 IR) fails here, before a download.
    """
    try:
        chosen = set(choose_graph(manifest, settings).files)
    except ConfigurationError as exc:
        raise ModelUnavailable(f"model {manifest.name!r} cannot be served: {exc.message}") from exc
    graphs = {*manifest.variants.values()}
    graphs.update(name for xml in manifest.openvino.values() for name in (xml, openvino_weights(xml)))
    skipped = graphs - chosen
    return {name: entry for name, entry in manifest.files.items() if name not in skipped}
