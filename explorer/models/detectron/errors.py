"""Errors raised while reading or converting a Detectron checkpoint; each `str()` is a sentence for the user.

They derive from `explorer.weights.errors.WeightsError`, so the CLI and the Detections page, which already report
weights problems as one line, report these the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from explorer.weights.errors import WeightsError


class DetectronWeightsError(WeightsError):
    """A Detectron checkpoint that cannot be used for the chosen model."""


class UnsafePickleError(DetectronWeightsError):
    """The pickle asks for a Python global outside the numpy-array allow-list (it could run code)."""


class CheckpointFormatError(DetectronWeightsError):
    """Not a Detectron checkpoint: not a pickle, not a dict of arrays, or arrays of an unusable type."""


class MissingBlobError(DetectronWeightsError):
    """The checkpoint lacks blobs the architecture needs."""


class BlobShapeError(DetectronWeightsError):
    """A blob's shape differs from what the architecture needs."""


class UnexpectedBlobError(DetectronWeightsError):
    """The checkpoint has blobs this architecture does not use and no rule explains."""


def few(names: Iterable[str], limit: int = 6) -> str:
    """The first `limit` names, comma-separated, with how many more there are."""
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
