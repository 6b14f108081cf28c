"""`s3://bucket/prefix` URIs: parsed strictly, so no key or cache path can escape its prefix.

Pure string work with no boto3 import, so settings validation can use it at start.
A model lives at `s3://bucket/<root>/<name>/<version>/`, holding `model.json` and the files
it lists; `reranker models publish` writes that layout under a root and `list` reads it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9._=@+-]{1,255}$")
# S3 keys hold at most 1024 bytes; leave room below the prefix for the model's file names.
MAX_PREFIX_CHARS = 768


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix without leading or trailing slashes ("" for the bucket root)."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def child(self, *segments: str) -> S3Location:
        """Return the location `segments` below this one; each segment is checked like the URI's."""
        for segment in segments:
            _check_segment(segment)
        return S3Location(self.bucket, "/".join(part for part in (self.prefix, *segments) if part))

    def key(self, relative: str) -> str:
        """Return the object key of a file inside this prefix; a name that could leave it is refused."""
        parts = PurePosixPath(relative).parts
        if (
            not relative
            or "\\" in relative
            or relative.startswith("/")
            or any(part in ("", ".", "..") for part in parts)
            or any(ord(char) < 32 or ord(char) == 127 for char in relative)
            or "/".join(parts) != relative
        ):
            raise ValueError(f"file name {relative!r} must be a relative path inside the model prefix")
        return f"{self.prefix}/{relative}" if self.prefix else relative


def _check_bucket(bucket: str) -> None:
    if not BUCKET_PATTERN.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket:
        raise ValueError(
            f"bucket name {bucket!r} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens)"
        )
    try:
        ipaddress.ip_address(bucket)
    except ValueError:
        return
    raise ValueError(f"bucket name {bucket!r} must not be an IP address")


def _check_segment(segment: str) -> None:
    if segment in (".", "..") or not SEGMENT_PATTERN.match(segment):
        raise ValueError(
            f"S3 prefix segment {segment!r} must be 1-255 of A-Z a-z 0-9 . _ = @ + - and not '.' or '..'"
        )


def parse_s3_uri(uri: str, *, require_prefix: bool = True) -> S3Location:
    """Return the bucket and prefix of `s3://bucket/prefix[/]`; raise ValueError when malformed.

    Segments are checked one by one (no empty, `.` or `..` segment, no backslash, no query), so a
    configured URI names exactly one prefix and nothing built from it can climb out.
    """
    if not uri.startswith("s3://"):
        raise ValueError("an S3 model URI must start with s3://")
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    _check_bucket(bucket)
    prefix = prefix.removesuffix("/")
    if len(prefix) > MAX_PREFIX_CHARS:
        raise ValueError(f"S3 prefix is {len(prefix)} characters; at most {MAX_PREFIX_CHARS} are accepted")
    segments = prefix.split("/") if prefix else []
    for segment in segments:
        _check_segment(segment)
    if require_prefix and not segments:
        raise ValueError("an S3 model URI must name a prefix: s3://bucket/<root>/<name>/<version>")
    return S3Location(bucket, prefix)


def check_model_uri(uri: str) -> None:
    """Raise ValueError unless `uri` is a plain path, a `file://` URI or a valid `s3://` model URI."""
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if scheme == "s3":
        parse_s3_uri(uri)
    elif scheme != "file":
        raise ValueError(f"model URI scheme {scheme!r} is not served; use file:// or s3://")


def cache_folder_name(location: S3Location, variant: str) -> str:
    """Return a folder name for one cached model: a hash of the location and the variant served.

    Only the hash decides where the folder goes, so no URI can place it outside the cache
    directory; the sanitised tail (name-version) is there for people reading the folder.
    """
    digest = hashlib.sha256(f"{location.bucket}/{location.prefix}\n{variant}".encode()).hexdigest()[:24]
    tail = "-".join(location.prefix.split("/")[-2:])
    tail = re.sub(r"[^A-Za-z0-9_-]", "_", tail)[:48]
    return f"{digest}-{tail}" if tail else digest
