"""Trust on first download, for files published without a checksum (Detectron2's `model_final_*.pkl`).

Detectron2 publishes no md5sum or sha256 beside its checkpoints, so the first download can only be checked for
completeness (the transport refuses a body shorter than its Content-Length). What it can do is pin that first
copy: its size and sha256 are written beside it as ``<file>.sha256`` (the "record", like Detectron's ``.md5sum``
sidecar) and every later read checks the cached file against the record; a re-download after a bad cached copy
is verified against the same record, so a file that changed on the server (or in transit) is refused, not
quietly re-pinned. The record is only ever written when none exists; deleting it is how a user accepts a
republished file.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from explorer.weights.checksums import Checksum, file_digest, mark_verified
from explorer.weights.errors import WeightsError

_RECORD_LINE = re.compile(r"^([0-9a-f]{64})  ([0-9]+)  (.+)\n?$")


class RecordError(WeightsError):
    """A first-download record that cannot be read (so the cached file cannot be checked against it)."""


@dataclass(frozen=True)
class Recorded:
    """The size and sha256 a file had when it was first downloaded."""

    sha256: str
    size: int

    @property
    def checksum(self) -> Checksum:
        return Checksum("sha256", self.sha256)

    def problem(self, path: Path) -> str | None:
        """Why `path` is not the recorded file (size first: it needs no hashing), or None when it is."""
        size = path.stat().st_size
        if size != self.size:
            return f"is {size} bytes, not the {self.size} recorded at its first download"
        return None


def record_path(path: Path) -> Path:
    """Where the record of the cached file ``path`` is kept: ``<file>.sha256`` beside it."""
    return path.with_name(path.name + ".sha256")


def record_text(recorded: Recorded, filename: str) -> str:
    """One line, ``<sha256>  <size>  <file name>``, in the spirit of ``sha256sum``'s output."""
    return f"{recorded.sha256}  {recorded.size}  {filename}\n"


def read_record(path: Path) -> Recorded | None:
    """The record kept beside ``path``; None when there is none; RecordError when it is there but unreadable."""
    sidecar = record_path(path)
    try:
        text = sidecar.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(f"The download record {sidecar} cannot be read ({err}); delete it to record "
                          f"{path.name} afresh.") from err
    match = _RECORD_LINE.match(text)
    if match is None:
        raise RecordError(f"The download record {sidecar} is not a '<sha256>  <size>  <file>' line; delete it to "
                          f"record {path.name} afresh.")
    return Recorded(match.group(1), int(match.group(2)))


def write_record(path: Path, recorded: Recorded) -> None:
    """Keep the record beside ``path`` (atomically; see `explorer.weights.transport.write_atomic`)."""
    from explorer.weights.transport import write_atomic

    write_atomic(record_path(path), record_text(recorded, path.name).encode("utf-8"))


def record_file(path: Path) -> Recorded:
    """Hash ``path`` and keep its record beside it; the file counts as verified for this process."""
    recorded = Recorded(file_digest(path, "sha256"), path.stat().st_size)
    with contextlib.suppress(OSError):  # a read-only cache only loses the later re-checks
        write_record(path, recorded)
    mark_verified(path, recorded.checksum)
    return recorded
