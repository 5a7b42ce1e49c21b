"""The weights manager's errors: one family, so the page and the CLI report any of them as the sentence it is.

Every ``str(error)`` is a complete, user-facing sentence; the attributes are for callers and tests that need the
details (the URL, the HTTP status, the expected and actual checksums).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from explorer.errors import ExplorerError


class NamedWeights(Protocol):
    """What a message about a missing file names; `explorer.weights.sources.WeightsSource` is one (a protocol, so
    that these errors, which the sources' checksums raise, import nothing of the sources)."""

    description: str
    url: str

    @property
    def path(self) -> Path: ...


class WeightsError(ExplorerError):
    """Base of every error here; ``str(error)`` is a complete, user-facing sentence."""


class DownloadError(WeightsError):
    """The download itself failed: HTTP error, unreachable host, timeout, truncated body, size limit."""

    def __init__(self, message: str, url: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status  # the HTTP status when the server answered with an error


class ChecksumError(WeightsError):
    """A file's bytes do not match the published checksum."""

    def __init__(self, message: str, *, path: Path, expected: str, actual: str, algorithm: str) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual
        self.algorithm = algorithm


class WeightsUnavailableError(WeightsError):
    """No usable file: not cached and the network is off or the download failed. Says which file to put where."""

    def __init__(self, source: NamedWeights, reason: str, local_hint: str = "pass --weights FILE") -> None:
        self.source = source
        self.reason = reason
        hint = f", or {local_hint}" if local_hint else ""
        super().__init__(
            f"Weights for {source.description} are not cached and could not be downloaded ({reason}). "
            f"Download {source.url} and save it as {source.path}{hint}."
        )


class LocalWeightsError(WeightsError):
    """A user-given weights file is missing, not a file, or empty."""
