"""The one error export raises for a checkpoint it cannot turn into a trustworthy model folder."""

from __future__ import annotations

from reranker.errors import ConfigurationError


class ExportError(ConfigurationError):
    """The checkpoint is unsupported, the output folder is taken, or a parity check failed."""
