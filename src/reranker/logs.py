"""Structured logging: one JSON object per line, with whatever `extra=` fields a call adds.

Callers never log keys, document texts or raw user ids; `hash_user` is the one way to
record who sent a request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sys
from datetime import UTC, datetime

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    """Send the service's logs to stderr as JSON lines (CloudWatch and docker read stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("reranker")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


_PROCESS_SALT = secrets.token_bytes(16)


def hash_user(user: str, salt: bytes | None) -> str:
    """Return a salted hash of an end-user id: stable within a deployment, not reversible."""
    return hmac.new(salt or _PROCESS_SALT, user.encode(), hashlib.sha256).hexdigest()[:16]
