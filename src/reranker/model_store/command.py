"""`reranker models publish | list`: the S3 store on the command line.

Only argparse at import; boto3 and the store load inside the handlers, so `reranker --help`
and `reranker serve` stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _client(args: argparse.Namespace) -> S3Client:
    from reranker.config import load_settings
    from reranker.model_store.s3client import build_s3_client

    settings = load_settings(s3_endpoint_url=args.endpoint_url) if args.endpoint_url else load_settings()
    # The CLI has no retry loop of its own: let botocore retry throttling and blips.
    return build_s3_client(settings, max_attempts=settings.s3_max_attempts)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _publish(args: argparse.Namespace) -> int:
    from reranker.model_store.publish import publish_model

    published = publish_model(
        args.folder,
        args.uri,
        _client(args),
        force=args.force,
        part_bytes=args.part_mb * 1024 * 1024,
    )
    sys.stdout.write(
        f"published {published.name} version {published.version} ({published.kind}, "
        f"{_size(published.size)}) to {published.uri}\n"
        f"serve it with: RERANK_MODELS='{json.dumps({published.name: published.uri})}'\n"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from reranker.model_store.publish import list_models

    models = list_models(args.uri, _client(args))
    if args.json:
        sys.stdout.write(json.dumps([asdict(model) for model in models], indent=2) + "\n")
        return 0
    rows = [("NAME", "VERSION", "KIND", "SIZE", "URI")]
    rows += [(m.name, m.version, m.kind, _size(m.size), m.uri) for m in models]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")
    return 0


def _part_mb(text: str) -> int:
    value = int(text)
    if not 5 <= value <= 5120:
        raise argparse.ArgumentTypeError("S3 parts must be 5 to 5120 MB")
    return value


def add_store_commands(model_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `publish` and `list` under `reranker models`."""
    endpoint_help = "S3-compatible endpoint (MinIO, LocalStack); default RERANK_S3_ENDPOINT_URL or AWS"

    publish = model_commands.add_parser(
        "publish",
        help="upload a model folder to s3://bucket/root/<name>/<version>/ (model.json last)",
    )
    publish.add_argument("folder", type=Path, help="model folder with model.json (from `models export`)")
    publish.add_argument("uri", help="root to publish under, e.g. s3://my-bucket/models")
    publish.add_argument("--force", action="store_true", help="replace an already published version")
    publish.add_argument(
        "--part-mb", type=_part_mb, default=16, help="multipart threshold and part size in MB (default 16)"
    )
    publish.add_argument("--endpoint-url", help=endpoint_help)
    publish.set_defaults(run=_publish)

    listing = model_commands.add_parser("list", help="list the models published under s3://bucket/root")
    listing.add_argument("uri", help="root to list, e.g. s3://my-bucket/models")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("--endpoint-url", help=endpoint_help)
    listing.set_defaults(run=_list)
