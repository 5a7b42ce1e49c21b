"""The errors a runtime export can raise; each is an ExplorerError, printed on one line by the command line."""

from __future__ import annotations

from explorer.errors import ExplorerError


class RuntimeUnavailableError(ExplorerError, ImportError):
    """The runtime's Python package is not installed; the message says how to add it."""


class UnknownRuntimeError(ExplorerError, ValueError):
    """A runtime name that is not one of `explorer.runtimes.RUNTIMES`."""


class NotExportableError(ExplorerError, ValueError):
    """A model (or the part of one that matters) that cannot run under the runtime; the message is the one-line why."""


class ParityError(ExplorerError, AssertionError):
    """An export whose detections differ from eager PyTorch's beyond the stated tolerances; the message names the
    worst difference. The export is not used."""
