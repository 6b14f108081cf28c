"""Errors of the eval harness, inside the service's one hierarchy so the CLI renders them the same way."""

from __future__ import annotations

from reranker.errors import InvalidRequest

MAX_LISTED_PROBLEMS = 20


class EvalError(InvalidRequest):
    """An eval input or option is wrong; the message says what to fix."""


class DatasetError(EvalError):
    """A dataset folder or run file has problems; `problems` lists each with its file and line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        text = f"{source} is not valid:\n  " + "\n  ".join(shown)
        if more:
            text += f"\n  ... and {more} more"
        super().__init__(text)
        self.problems = problems
