"""The one base class of the errors a user can fix, so the command line and the pages tell them from bugs.

Every user-facing error class of the library derives from `ExplorerError` (most keep a second, older base such
as ValueError, so callers that catch that keep working). The command line catches `ExplorerError` alone: its
message is printed as one `error: ...` line on stderr and the command exits with 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class ExplorerError(Exception):
    """A problem the user can fix: bad input, unknown model, unreachable download; the CLI prints its message on
    one line and exits 2."""


class MissingPathError(ExplorerError, FileNotFoundError):
    """A file or folder the user named is not there (still a FileNotFoundError for callers that catch that)."""


class UnknownModelError(ExplorerError, KeyError):
    """A model id or uid that no loaded zoo has (raised by the zoo table's look-ups and the model catalog's).

    It lives here, below both, so that the zoo (pandas only) and the catalog raise the same class without either
    importing the other.
    """

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])
