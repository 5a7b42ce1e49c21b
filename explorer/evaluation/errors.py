"""The one exception type for evaluation input a user got wrong.

A subclass of ValueError so callers that already catch ValueError keep working, but distinct so the command
line and the page can tell a bad upload (one clear line) from a bug (a traceback).
"""

from __future__ import annotations

from explorer.errors import ExplorerError


class EvaluationInputError(ExplorerError, ValueError):
    """Ground truth or results that cannot be evaluated; the message names the problem and, where there is one,
    the first offending entry (e.g. ``results[17]``)."""
