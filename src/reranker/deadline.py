"""A request's deadline, visible to the scoring code of the thread that serves it.

The API sets it around the scoring call; `OnnxModel.run` checks it between batches, so a
request past its deadline stops at the next batch instead of holding the scoring slot. Code
run without one (the eval harness, Lambda warm-up) is never cut short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from reranker.errors import DeadlineExceeded, ShuttingDown

P = ParamSpec("P")
T = TypeVar("T")


class Deadline:
    """A point on the monotonic clock, plus a flag to stop the work early (server shutdown)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.cancelled = False

    def remaining(self) -> float:
        """Return the seconds left, never below zero."""
        return max(0.0, self.at - time.monotonic())

    def cancel(self) -> None:
        """Stop the work at its next check (the server is shutting down)."""
        self.cancelled = True

    def check(self) -> None:
        """Raise when the work must stop: the server shuts down or the deadline has passed."""
        if self.cancelled:
            raise ShuttingDown("the server is shutting down; retry the request")
        if time.monotonic() >= self.at:
            raise self.exceeded()

    def exceeded(self) -> DeadlineExceeded:
        """Return the error answered when this deadline passes."""
        return DeadlineExceeded(
            f"the request was not answered within its deadline of {_seconds(self.seconds)} s, so its "
            "remaining batches were not scored: send fewer or shorter documents (or a lower "
            "max_tokens_per_document), or retry later",
            retry_after=max(1, math.ceil(self.seconds / 10)),
        )


def _seconds(value: float) -> str:
    return f"{value:g}"


_CURRENT: ContextVar[Deadline | None] = ContextVar("reranker_deadline", default=None)


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[None]:
    """Make `deadline` the one that `check_deadline` sees in this thread (context)."""
    token = _CURRENT.set(deadline)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def run_within(deadline: Deadline, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Return func(*args, **kwargs), run with `deadline` in scope (the entry of a worker thread)."""
    with deadline_scope(deadline):
        deadline.check()
        return func(*args, **kwargs)


def check_deadline() -> None:
    """Raise if the current request's deadline has passed; does nothing outside a request."""
    deadline = _CURRENT.get()
    if deadline is not None:
        deadline.check()
