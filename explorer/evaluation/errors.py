"""The one exception type for evaluation input a user got wrong.

A subclass of ValueError so callers that already catch ValueError keep working, but distinct so the command
line and the page can tell a bad upload (one clear line) from a bug (a traceback).
"""

from __future__ import annotations

from explorer.errors import ExplorerError
from explorer.tasks import IouType, UnknownTaskError, iou_type_named


class EvaluationInputError(ExplorerError, ValueError):
    """Ground truth or results that cannot be evaluated; the message names the problem and, where there is one,
    the first offending entry (e.g. ``results[17]``)."""


def check_iou_type(iou_type: str) -> IouType:
    """`iou_type` as an IoU type (explorer.tasks' vocabulary), or EvaluationInputError naming the three: a user
    chose it, so it is evaluation input like the files."""
    try:
        return iou_type_named(iou_type)
    except UnknownTaskError as error:
        raise EvaluationInputError(str(error)) from None
