"""The local cache of fetched models: one lock per model, temp folders, atomic installs.

A model is downloaded into `.tmp-<key>-<pid>-<random>` inside the cache directory and renamed
into place only once every file has passed its check, so the cache never holds a half
model under its real name. Locks and the "verified in this process" table are process-wide,
so N threads (or N registries) asking for one model cause one download.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reranker.model_store.base import LocalModel

logger = logging.getLogger(__name__)

_GUARD = threading.Lock()
_LOCKS: dict[str, threading.Lock] = {}
_VERIFIED: dict[str, LocalModel] = {}


@contextmanager
def model_lock(key: str) -> Iterator[None]:
    """Hold the process-wide lock of one cached model while the body runs."""
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


def recall(key: str) -> LocalModel | None:
    """Return the model verified under `key` earlier in this process, if any."""
    with _GUARD:
        return _VERIFIED.get(key)


def remember(key: str, model: LocalModel) -> None:
    with _GUARD:
        _VERIFIED[key] = model


def forget_all() -> None:
    """Drop what this process has verified, as a new process would start (for tests)."""
    with _GUARD:
        _VERIFIED.clear()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(cache_dir: Path, name: str) -> None:
    """Remove temp folders of `name` left by a crashed process, so /tmp does not fill up.

    The caller holds the model's lock, so a temp folder with our own pid is a leftover of a
    previous process that had the same pid (common in containers); another live pid is a
    concurrent process still downloading and is left alone.
    """
    if not cache_dir.is_dir():
        return
    for stale in cache_dir.glob(f".tmp-{name}-*"):
        pid_text = stale.name[len(f".tmp-{name}-") :].split("-", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else -1
        if pid == os.getpid() or pid < 0 or not _pid_alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
            logger.info("removed a stale partial download", extra={"cache_entry": name})


def new_temp_folder(cache_dir: Path, name: str) -> Path:
    """Return a fresh empty folder beside the final one (same filesystem, so rename is atomic)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{os.getpid()}-", dir=cache_dir))


def install(temp: Path, final: Path) -> bool:
    """Move a complete temp folder to `final`, replacing an older copy; return False if ours lost.

    If another process installed `final` between our replace and our rename, ours is dropped
    and theirs stays: the caller then verifies it like any cached folder.
    """
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        try:
            final.rename(old)
        except FileNotFoundError:
            pass
        else:
            shutil.rmtree(old, ignore_errors=True)
    try:
        temp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(temp, ignore_errors=True)
        return False
    return True
