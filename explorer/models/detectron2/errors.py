"""Errors raised while reading a Detectron2 checkpoint; each `str()` is one sentence for the user.

They derive from `explorer.weights.errors.WeightsError`, so the CLI and the Detections page report them as
they report every weights problem. A pickle that asks for code is refused with the Detectron port's
`UnsafePickleError` (the same restricted unpickler reads both families' files).
"""

from __future__ import annotations

from explorer.weights.errors import WeightsError


class Detectron2WeightsError(WeightsError):
    """A Detectron2 checkpoint that cannot be used for the chosen model."""


class CheckpointFormatError(Detectron2WeightsError):
    """Not a Detectron2 checkpoint: not a pickle, not `{"model": {name: array}}`, or a Detectron (Caffe2) file."""


class CheckpointMismatchError(Detectron2WeightsError):
    """A Detectron2 checkpoint of another config: a parameter missing, unexpected or of another shape."""
