"""Aliases in the store: `<root>/<name>/aliases/<alias>.json` names a version and its fingerprint.

An alias object is also the newest record of its history: who moved it, when, why, the gate
file's sha256 and the report's figures, and what it named before. Each move writes the alias
object with a compare step (on S3 a conditional write: `IfMatch` on the ETag it read, or
`IfNoneMatch: *` for the first; in a folder an exclusive lock file around read, compare and an
atomic rename), so of two concurrent promotions one wins and the other is told. Then the record
is copied to `<alias>.history/<seq>.json` (created only if absent), one object per move. A move
stopped between the two writes still shows in the history: the alias object's own record is
listed when its copy is missing, and the next move writes that copy first.

`RERANK_MODELS` names an alias as `s3://bucket/<root>/<name>@<alias>` or `<folder root>/<name>@<alias>`;
the store resolves it once, when the model loads, and checks the version's manifest gives the
fingerprint the alias names (a hand-edited or corrupted alias, or a version republished under the
same number, is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reranker.errors import AliasConflict, ModelUnavailable, RerankError
from reranker.manifest import MANIFEST_NAME, Manifest, parse_manifest
from reranker.model_store.base import Resolved
from reranker.model_store.retry import classify, with_retries
from reranker.s3uri import S3Location, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ALIASES = "aliases"


@dataclass(frozen=True)
class AliasRecord:
    """One move of an alias: the alias object holds the newest, its history every one."""

    model: str
    alias: str
    version: str
    fingerprint: str
    variant: str
    seq: int
    at: str
    by: str
    reason: str | None = None
    forced: bool = False
    previous: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()


def parse_record(raw: bytes, origin: str) -> AliasRecord:
    """Return the record in `raw`; a corrupted or hand-made object is one clear ModelUnavailable."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        record = AliasRecord(**data)
        if not all(isinstance(v, str) and v for v in (record.version, record.fingerprint, record.variant)):
            raise ValueError("version, fingerprint and variant must be non-empty strings")
        if not isinstance(record.seq, int) or record.seq < 1:
            raise ValueError("seq must be a positive integer")
    except (ValueError, TypeError) as exc:
        raise ModelUnavailable(f"{origin} is corrupted ({exc}); promote a version to rewrite it") from exc
    return record


def split_alias(uri: str) -> tuple[str, str, str] | None:
    """Return (root URI, model name, alias) of `<root>/<name>@<alias>`, or None for a version URI."""
    head, _, last = uri.rstrip("/").rpartition("/")
    if "@" not in last or not head:
        return None
    name, _, alias = last.partition("@")
    check_alias_name(alias)
    if not name:
        raise ModelUnavailable(f"model URI {last!r} names an alias but no model before '@'")
    return head, name, alias


def check_alias_name(alias: str) -> None:
    if not ALIAS_PATTERN.match(alias):
        raise ModelUnavailable(
            f"alias {alias!r} must be 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)"
        )


class AliasStore(Protocol):
    """Where the aliases of one root live (a bucket prefix or a folder)."""

    def read(self, model: str, alias: str) -> tuple[AliasRecord, str] | None:
        """Return the alias's record and a token of its current bytes (the ETag), or None."""
        ...

    def manifest(self, model: str, version: str) -> Manifest | None:
        """Return the published manifest of `model` `version`, or None when it is not published."""
        ...

    def version_uri(self, model: str, version: str) -> str: ...

    def move(self, record: AliasRecord, token: str | None) -> None:
        """Write the alias object only if it still has `token` (None: only if absent), then its
        history record; raise AliasConflict when another move won."""
        ...

    def history(self, model: str, alias: str) -> list[AliasRecord]:
        """Return every recorded move of the alias, oldest first."""
        ...


def resolve(store: AliasStore, model: str, alias: str) -> Resolved:
    """Return the version the alias names, checked against that version's manifest."""
    label = f"{model}@{alias}"
    found = store.read(model, alias)
    if found is None:
        raise ModelUnavailable(f"model {label!r}: the store has no alias {alias!r} for {model!r}")
    record, _ = found
    manifest = store.manifest(model, record.version)
    if manifest is None:
        raise ModelUnavailable(
            f"model {label!r}: the alias names version {record.version!r}, which is not published"
        )
    check_fingerprint(record, manifest, label)
    return Resolved(
        alias, record.version, record.fingerprint, record.variant, store.version_uri(model, record.version)
    )


def check_fingerprint(record: AliasRecord, manifest: Manifest, label: str) -> None:
    """Refuse an alias whose fingerprint the version's manifest does not give (edited or republished)."""
    actual = manifest.fingerprint(record.variant)
    if actual != record.fingerprint:
        raise ModelUnavailable(
            f"model {label!r}: the alias names fingerprint {record.fingerprint[:12]} but version "
            f"{record.version!r} ({record.variant}) has {str(actual)[:12]}; the alias object was edited "
            "or the version republished: promote again"
        )


def alias_store_for(root_uri: str, client: S3Client | None = None) -> AliasStore:
    """Return the alias store of a root: S3 for `s3://` (with `client`), else a folder."""
    if root_uri.startswith("s3://"):
        if client is None:
            raise ModelUnavailable("an s3:// root needs an S3 client")
        try:
            location = parse_s3_uri(root_uri, require_prefix=False)
        except ValueError as exc:
            raise ModelUnavailable(f"invalid S3 root: {exc}") from exc
        return S3AliasStore(client, location)
    from reranker.model_store.local import path_from_uri

    return LocalAliasStore(path_from_uri(root_uri))


def _token(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class LocalAliasStore:
    """Aliases in a folder root: `<root>/<name>/aliases/<alias>.json`, moved under a lock file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, model: str, alias: str) -> Path:
        return self.root / model / ALIASES / f"{alias}.json"

    def read(self, model: str, alias: str) -> tuple[AliasRecord, str] | None:
        path = self._path(model, alias)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return parse_record(raw, f"alias object {model}@{alias}"), _token(raw)

    def manifest(self, model: str, version: str) -> Manifest | None:
        path = self.root / model / version / MANIFEST_NAME
        if not path.is_file():
            return None
        return _manifest(path.read_bytes(), model, version)

    def version_uri(self, model: str, version: str) -> str:
        return str(self.root / model / version)

    def move(self, record: AliasRecord, token: str | None) -> None:
        path = self._path(record.model, record.alias)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_suffix(".lock")
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise AliasConflict(
                f"alias {record.model}@{record.alias} is being moved by another promotion "
                f"(or one crashed: remove {lock.name} beside it); nothing changed"
            ) from None
        try:
            os.write(handle, str(os.getpid()).encode())
            current = self.read(record.model, record.alias)
            if (current[1] if current else None) != token:
                raise _lost(record, current[0] if current else None)
            history = path.with_name(f"{record.alias}.history")
            history.mkdir(exist_ok=True)
            if current is not None:
                _write_once(history / f"{current[0].seq:06d}.json", current[0].to_json())
            temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temp.write_bytes(record.to_json())
            os.replace(temp, path)
            _write_once(history / f"{record.seq:06d}.json", record.to_json())
        finally:
            os.close(handle)
            lock.unlink(missing_ok=True)

    def history(self, model: str, alias: str) -> list[AliasRecord]:
        folder = self.root / model / ALIASES / f"{alias}.history"
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        records = [parse_record(p.read_bytes(), f"history record {p.name} of {model}@{alias}") for p in files]
        return with_current(records, self.read(model, alias))


class S3AliasStore:
    """Aliases under an S3 root, moved by conditional writes (IfMatch / IfNoneMatch)."""

    def __init__(
        self, client: S3Client, root: S3Location, *, attempts: int = 1, retry_base_seconds: float = 0.25
    ) -> None:
        self.client = client
        self.root = root
        # Reads retry transient failures as the model store's fetches do (RERANK_S3_MAX_ATTEMPTS);
        # writes never: a conditional write retried after a lost answer would read as a conflict.
        self.attempts = attempts
        self.retry_base_seconds = retry_base_seconds

    def _key(self, model: str, *parts: str) -> str:
        return self.root.child(model).key("/".join(parts))

    def _get(self, key: str, what: str) -> tuple[bytes, str] | None:
        def read() -> tuple[bytes, str]:
            answer = self.client.get_object(Bucket=self.root.bucket, Key=key)
            if "ETag" not in answer:  # an answer cut in its headers parses as a 200 without them
                raise ConnectionError("the answer was cut short")
            return answer["Body"].read(), answer["ETag"]

        try:
            return with_retries(read, attempts=self.attempts, base_seconds=self.retry_base_seconds, what=what)
        except Exception as exc:
            if classify(exc) == "missing":
                return None
            raise ModelUnavailable(f"{what} cannot be read from the model store ({classify(exc)})") from exc

    def read(self, model: str, alias: str) -> tuple[AliasRecord, str] | None:
        found = self._get(self._key(model, ALIASES, f"{alias}.json"), f"alias {model}@{alias}")
        if found is None:
            return None
        return parse_record(found[0], f"alias object {model}@{alias}"), found[1]

    def manifest(self, model: str, version: str) -> Manifest | None:
        found = self._get(self._key(model, version, MANIFEST_NAME), f"model {model} version {version}")
        return None if found is None else _manifest(found[0], model, version)

    def version_uri(self, model: str, version: str) -> str:
        return self.root.child(model, version).uri

    def move(self, record: AliasRecord, token: str | None) -> None:
        key = self._key(record.model, ALIASES, f"{record.alias}.json")
        current = self.read(record.model, record.alias) if token is not None else None
        if current is not None and current[1] == token:
            self._put_history(current[0])  # a move stopped before its copy: written now
        condition = {"IfMatch": token} if token is not None else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.root.bucket,
                Key=key,
                Body=record.to_json(),
                ContentType="application/json",
                **condition,  # type: ignore[arg-type]
            )
        except Exception as exc:
            if _precondition_failed(exc):
                now = self.read(record.model, record.alias)
                raise _lost(record, now[0] if now else None) from exc
            raise ModelUnavailable(
                f"alias {record.model}@{record.alias} could not be written ({classify(exc)})"
            ) from exc
        self._put_history(record)

    def _put_history(self, record: AliasRecord) -> None:
        """Write the record's history copy unless one exists (IfNoneMatch: the first copy stays)."""
        try:
            self.client.put_object(
                Bucket=self.root.bucket,
                Key=self._key(record.model, ALIASES, f"{record.alias}.history", f"{record.seq:06d}.json"),
                Body=record.to_json(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except Exception as exc:
            if not _precondition_failed(exc):
                raise

    def history(self, model: str, alias: str) -> list[AliasRecord]:
        prefix = self._key(model, ALIASES, f"{alias}.history") + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.root.bucket, Prefix=prefix)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        records = []
        for key in keys:
            found = self._get(key, f"history of {model}@{alias}")
            if found is not None:
                records.append(
                    parse_record(found[0], f"history record {key.rsplit('/', 1)[-1]} of {model}@{alias}")
                )
        return with_current(records, self.read(model, alias))


def with_current(records: list[AliasRecord], current: tuple[AliasRecord, str] | None) -> list[AliasRecord]:
    """Return the history with the alias object's own record when its copy is missing."""
    if current is None or current[0].seq in {r.seq for r in records}:
        return records
    return sorted([*records, current[0]], key=lambda r: r.seq)


def _write_once(path: Path, data: bytes) -> None:
    """Write `path` unless it exists: a history copy, once written, is never replaced."""
    try:
        with path.open("xb") as out:
            out.write(data)
    except FileExistsError:
        pass


def _precondition_failed(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def _lost(record: AliasRecord, now: AliasRecord | None) -> AliasConflict:
    where = f"version {now.version} (moved by {now.by} at {now.at})" if now else "nothing"
    return AliasConflict(
        f"alias {record.model}@{record.alias} moved while this promotion ran: it now names {where}; "
        "nothing changed by this promotion, run it again"
    )


def _manifest(raw: bytes, model: str, version: str) -> Manifest:
    try:
        return parse_manifest(raw, origin=f"model {model} version {version}")
    except RerankError as exc:
        raise ModelUnavailable(exc.message) from exc
