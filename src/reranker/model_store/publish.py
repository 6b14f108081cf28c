"""Publish a model folder to S3 and list what a root holds.

A model goes to `<root>/<name>/<version>/` (name and version from its manifest). Every file is
checked against the manifest before upload, large files go up in parts, and `model.json`
goes last, so readers never see a manifest whose files are not all there yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reranker.errors import ConfigurationError, ModelUnavailable, RerankError
from reranker.manifest import MANIFEST_NAME, parse_manifest
from reranker.model_store.local import LocalModelStore
from reranker.model_store.retry import classify
from reranker.s3uri import S3Location, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PART_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PublishedModel:
    name: str
    version: str
    kind: str
    size: int
    uri: str
    aliases: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()


def _root(uri: str) -> S3Location:
    try:
        return parse_s3_uri(uri, require_prefix=False)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


def _exists(client: S3Client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if classify(exc) == "missing":
            return False
        raise
    return True


def publish_model(
    folder: Path,
    root_uri: str,
    client: S3Client,
    *,
    force: bool = False,
    part_bytes: int = PART_BYTES,
    concurrency: int = 8,
) -> PublishedModel:
    """Return the published model, uploaded from `folder` to `<root_uri>/<name>/<version>/`.

    An existing version is refused unless `force`; then its manifest is removed first, so
    during the upload readers see "not published" rather than a manifest with mixed files.
    """
    from boto3.s3.transfer import TransferConfig

    root = _root(root_uri)
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    manifest = local.manifest
    target = root.child(manifest.name, manifest.version)
    manifest_key = target.key(MANIFEST_NAME)
    label = f"{manifest.name}/{manifest.version}"
    try:
        if _exists(client, target.bucket, manifest_key):
            if not force:
                raise ConfigurationError(
                    f"model {label} is already published there; pass --force to replace it"
                )
            client.delete_object(Bucket=target.bucket, Key=manifest_key)
        config = TransferConfig(
            multipart_threshold=part_bytes, multipart_chunksize=part_bytes, max_concurrency=concurrency
        )
        for name in sorted(manifest.files):
            client.upload_file(str(local.folder / name), target.bucket, target.key(name), Config=config)
            logger.info("uploaded", extra={"model": label, "file": name})
        # Last, so the version becomes visible only once every file it names is in place.
        client.put_object(
            Bucket=target.bucket,
            Key=manifest_key,
            Body=(local.folder / MANIFEST_NAME).read_bytes(),
            ContentType="application/json",
        )
    except RerankError:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"publishing model {label} failed: {_reason(exc)}") from exc
    return PublishedModel(
        name=manifest.name,
        version=manifest.version,
        kind=manifest.kind,
        size=sum(entry.size for entry in manifest.files.values()),
        uri=target.uri,
        aliases=tuple(manifest.aliases),
        variants=tuple(manifest.variants),
    )


def list_models(root_uri: str, client: S3Client) -> list[PublishedModel]:
    """Return every model published under `root_uri` (`<root>/<name>/<version>/model.json`), sorted."""
    root = _root(root_uri)
    depth = len(root.prefix.split("/")) if root.prefix else 0
    found: list[PublishedModel] = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=root.bucket, Prefix=f"{root.prefix}/" if root.prefix else ""
        )
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        for key in keys:
            parts = key.split("/")
            if len(parts) != depth + 3 or parts[-1] != MANIFEST_NAME:
                continue
            body = client.get_object(Bucket=root.bucket, Key=key)["Body"].read()
            try:
                location = root.child(*parts[depth:-1])
                manifest = parse_manifest(body, origin="/".join(parts[depth:-1]))
            except (ValueError, ConfigurationError) as exc:
                logger.warning("skipped an unusable manifest", extra={"problem": str(exc)})
                continue
            found.append(
                PublishedModel(
                    name=manifest.name,
                    version=manifest.version,
                    kind=manifest.kind,
                    size=sum(entry.size for entry in manifest.files.values()),
                    uri=location.uri,
                    aliases=tuple(manifest.aliases),
                    variants=tuple(manifest.variants),
                )
            )
    except RerankError:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"listing models failed: {_reason(exc)}") from exc
    return sorted(found, key=lambda model: (model.name, model.version))


def _reason(exc: Exception) -> str:
    """Return a short cause for the CLI that names no bucket or key."""
    return {
        "missing": "the bucket does not exist",
        "denied": "access denied (check your AWS credentials and the bucket policy)",
        "transient": "the store did not answer reliably; try again",
    }.get(classify(exc), f"unexpected error ({type(exc).__name__})")
