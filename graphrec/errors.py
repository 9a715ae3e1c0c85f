"""Exception types that graphrec raises for problems the user can fix."""

from __future__ import annotations

from pathlib import Path


class GraphrecError(Exception):
    """Base class for every error graphrec raises on purpose."""


class ConfigError(GraphrecError):
    """An invalid configuration key, type or value."""


class DataError(GraphrecError):
    """Invalid or missing input data.

    ``path`` and ``line`` (1-based) name the offending place when it is known,
    and appear in the message.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = Path(path) if path is not None else None
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class DownloadError(DataError):
    """A failed or unverifiable dataset download."""


class ResourceError(GraphrecError):
    """A request that would allocate more memory than the configured budget."""
