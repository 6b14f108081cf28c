"""Models in S3 (`s3://bucket/<root>/<name>/<version>`), fetched once into a verified local cache.

The manifest is read first; then each file the configured variant and backend need is downloaded into
a temp folder in the cache directory, checked against the manifest's size and sha256, and
the folder is renamed into place. A folder left by an earlier process (Lambda keeps /tmp
across warm starts) is reused only if its manifest still equals the store's and its files
verify. boto3 is imported and the client built only when an S3 model is first fetched.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from reranker.config import Settings
from reranker.errors import ModelUnavailable, RerankError
from reranker.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    parse_manifest,
    sha256_file,
)
from reranker.model_store import cache
from reranker.model_store.base import FileSelector, LocalModel
from reranker.model_store.local import verify_folder
from reranker.model_store.retry import classify, with_retries
from reranker.model_store.s3client import build_s3_client
from reranker.s3uri import S3Location, cache_folder_name, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

MULTIPART_BYTES = 32 * 1024 * 1024


def destination_in(folder: Path, name: str) -> Path:
    """Return where file `name` goes inside `folder`; refuse anything that would land outside it."""
    dest = (folder / name).resolve()
    if not dest.is_relative_to(folder.resolve()) or dest == folder.resolve():
        raise ValueError(f"file name {name!r} would be written outside the model folder")
    return dest


class S3ModelStore:
    """Fetches `s3://` models into `settings.cache_dir`; the boto3 client is injected or built lazily."""

    def __init__(
        self,
        settings: Settings,
        client: S3Client | None = None,
        client_factory: Callable[[], S3Client] | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._factory = client_factory or (lambda: build_s3_client(settings))
        self._client_lock = threading.Lock()

    def client(self) -> S3Client:
        """Return the S3 client, building it on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def fetch(self, uri: str, *, label: str, files: FileSelector | None = None) -> LocalModel:
        """Return the model at `uri` as a verified folder in the cache, downloading it at most once.

        Only the `files` selected (the chosen graph's, when serving) are downloaded; None: all.
        A `<root>/<name>@<alias>` URI is resolved first to the version the alias names.
        """
        from reranker.model_store.aliases import S3AliasStore, resolve, split_alias

        named = split_alias(uri)
        if named is not None:
            root, name, alias = named
            try:
                root_location = parse_s3_uri(root, require_prefix=False)
            except ValueError as exc:
                raise ModelUnavailable(f"model {label!r} has an invalid S3 URI: {exc}") from exc
            store = S3AliasStore(
                self.client(),
                root_location,
                attempts=self._settings.s3_max_attempts,
                retry_base_seconds=self._settings.s3_retry_base_seconds,
            )
            resolved = resolve(store, name, alias)
            return replace(self.fetch(resolved.uri, label=label, files=files), resolved=resolved)
        try:
            location = parse_s3_uri(uri)
        except ValueError as exc:
            raise ModelUnavailable(f"model {label!r} has an invalid S3 URI: {exc}") from exc
        cache_dir = self._settings.cache_dir.resolve()
        key = f"{cache_dir}|{location.uri}|{self._settings.precision}"
        cached = cache.recall(key)
        if cached is not None:
            return cached
        with cache.model_lock(key):
            cached = cache.recall(key)
            if cached is None:
                cached = self._fetch_locked(location, cache_dir, label, files)
                cache.remember(key, cached)
        return cached

    def _fetch_locked(
        self, location: S3Location, cache_dir: Path, label: str, select: FileSelector | None
    ) -> LocalModel:
        try:
            raw = self._get_manifest(location, label)
        except ModelUnavailable as exc:
            fallback = self._cached_copy_if_unreachable(location, cache_dir, label, exc, select)
            if fallback is None:
                raise
            return fallback
        manifest = _parse(raw, label)
        files = select(manifest) if select else manifest.files
        final = self._folder(location, cache_dir)
        if (final / MANIFEST_NAME).is_file() and (final / MANIFEST_NAME).read_bytes() == raw:
            try:
                verify_folder(final, files, label=label)
                logger.info("model reused from the local cache", extra={"model": label})
                return LocalModel(folder=final, manifest=manifest)
            except ModelUnavailable:
                logger.warning("cached model failed verification; fetching again", extra={"model": label})
        return self._download(location, manifest, raw, files, final, label)

    def _download(
        self,
        location: S3Location,
        manifest: Manifest,
        raw: bytes,
        files: Mapping[str, FileEntry],
        final: Path,
        label: str,
    ) -> LocalModel:
        digest = final.name.split("-", 1)[0]
        try:
            cache.sweep_stale_temps(final.parent, digest)
            temp = cache.new_temp_folder(final.parent, digest)
        except OSError as exc:
            raise _cache_unusable(label, exc) from exc
        try:
            for name, expected in files.items():
                self._download_file(location, name, expected, temp, label)
            (temp / MANIFEST_NAME).write_bytes(raw)
            if not cache.install(temp, final):
                verify_folder(final, files, label=label)
        except OSError as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise _cache_unusable(label, exc) from exc
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        logger.info(
            "model fetched from S3",
            extra={"model": label, "files": len(files), "bytes": sum(e.size for e in files.values())},
        )
        return LocalModel(folder=final, manifest=manifest)

    def _download_file(
        self, location: S3Location, name: str, expected: FileEntry, temp: Path, label: str
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        try:
            key = location.key(name)
            dest = destination_in(temp, name)
        except ValueError as exc:
            raise ModelUnavailable(f"model {label!r} manifest names a file outside its folder") from exc
        dest.parent.mkdir(parents=True, exist_ok=True)
        config = TransferConfig(
            multipart_threshold=MULTIPART_BYTES,
            multipart_chunksize=MULTIPART_BYTES // 2,
            max_concurrency=self._settings.s3_download_concurrency,
            num_download_attempts=1,
        )
        client = self.client()
        try:
            with_retries(
                lambda: client.download_file(location.bucket, key, str(dest), Config=config),
                attempts=self._settings.s3_max_attempts,
                base_seconds=self._settings.s3_retry_base_seconds,
                what=f"{label}/{name}",
            )
        except Exception as exc:
            raise _unavailable(exc, label, f"its file {name!r}") from exc
        if dest.stat().st_size != expected.size or sha256_file(dest) != expected.sha256:
            raise ModelUnavailable(f"model {label!r} file {name!r} fails its sha256 check")

    def _get_manifest(self, location: S3Location, label: str) -> bytes:
        client = self.client()

        def read() -> bytes:
            return client.get_object(Bucket=location.bucket, Key=location.key(MANIFEST_NAME))["Body"].read()

        try:
            return with_retries(
                read,
                attempts=self._settings.s3_max_attempts,
                base_seconds=self._settings.s3_retry_base_seconds,
                what=f"{label}/{MANIFEST_NAME}",
            )
        except Exception as exc:
            raise _unavailable(exc, label, f"its {MANIFEST_NAME}") from exc

    def _cached_copy_if_unreachable(
        self,
        location: S3Location,
        cache_dir: Path,
        label: str,
        error: ModelUnavailable,
        select: FileSelector | None,
    ) -> LocalModel | None:
        """Return a verified cached copy when the store is down (not when the model is gone)."""
        cause = error.__cause__
        if not isinstance(cause, Exception) or classify(cause) != "transient":
            return None
        final = self._folder(location, cache_dir)
        try:
            manifest = _parse((final / MANIFEST_NAME).read_bytes(), label)
            verify_folder(final, select(manifest) if select else manifest.files, label=label)
        except (OSError, ModelUnavailable):
            return None
        logger.warning("model store unreachable; serving the verified cached copy", extra={"model": label})
        return LocalModel(folder=final, manifest=manifest)

    def _folder(self, location: S3Location, cache_dir: Path) -> Path:
        return cache_dir / cache_folder_name(location, self._settings.precision)


def _parse(raw: bytes, label: str) -> Manifest:
    try:
        return parse_manifest(raw, origin=f"model {label!r}")
    except RerankError as exc:
        raise ModelUnavailable(f"model {label!r} cannot be served: {exc.message}") from exc


def _unavailable(exc: Exception, label: str, what: str) -> ModelUnavailable:
    """Return the 503 for a failed S3 call; the message names the model, never a bucket or key."""
    if isinstance(exc, ModelUnavailable):
        return exc
    failure = classify(exc)
    if isinstance(exc, OSError) and failure == "other":
        return _cache_unusable(label, exc)
    if failure == "missing":
        if what.endswith(MANIFEST_NAME):
            return ModelUnavailable(f"model {label!r} is not published at its configured S3 location")
        return ModelUnavailable(f"model {label!r} is missing {what} in the model store")
    if failure == "denied":
        return ModelUnavailable(
            f"model {label!r} cannot be read from the model store: access denied "
            "(check the credentials or role this service runs with)"
        )
    if failure == "transient":
        return ModelUnavailable(
            f"model {label!r} is unavailable: the model store did not answer reliably; try again shortly"
        )
    logger.error("unexpected model store failure", exc_info=exc, extra={"model": label})
    return ModelUnavailable(f"model {label!r} could not be fetched from the model store")


def _cache_unusable(label: str, exc: OSError) -> ModelUnavailable:
    """Return the 503 for a local write failure (disk full, read-only): names the setting, not the path."""
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    return ModelUnavailable(
        f"model {label!r} cannot be stored in the local model cache ({reason}); "
        "check RERANK_CACHE_DIR and its free space"
    )
