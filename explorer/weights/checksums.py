"""How a weights file is trusted: published checksums, file digests, and the md5sum files Detectron publishes.

* torchvision names its files ``<name>-<sha256 prefix>.pth``; the prefix is checked exactly as ``torch.hub`` does
  (``HASH_REGEX`` below is torch.hub's), so we accept what torch would accept.
* Detectron publishes an md5 beside each file at ``<url>.md5sum``; `explorer.weights.cache` fetches it before the
  download and keeps it as ``<file>.md5sum`` (the "sidecar") next to the cached file so the cached copy can be
  re-checked offline.

A file is hashed once per process per file version (path, size, mtime, inode), so a Streamlit rerun does not re-hash
a 170 MB checkpoint every time while a rewritten file is always checked again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from explorer.weights.errors import ChecksumError

Algorithm = Literal["sha256-prefix", "sha256", "md5"]

#: torch.hub's own pattern for the sha256 prefix in a checkpoint's file name (torch/hub.py, ``HASH_REGEX``).
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")

_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Checksum:
    """A published checksum. ``sha256-prefix`` is torchvision's: the file's sha256 hex digest starts with ``value``."""

    algorithm: Algorithm
    value: str

    def __post_init__(self) -> None:
        value = self.value.strip().lower()
        if not value or not re.fullmatch(r"[0-9a-f]+", value):
            raise ValueError(f"checksum value must be hex digits, got {self.value!r}")
        if self.algorithm not in ("sha256-prefix", "sha256", "md5"):
            raise ValueError(f"unknown checksum algorithm {self.algorithm!r}")
        object.__setattr__(self, "value", value)

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object to feed the file's bytes to while they stream."""
        return _new_hasher(self.algorithm)

    def matches(self, hexdigest: str) -> bool:
        if self.algorithm == "sha256-prefix":
            return hexdigest.startswith(self.value)
        return hexdigest == self.value

    @property
    def label(self) -> str:
        return {"sha256-prefix": "sha256 prefix", "sha256": "sha256", "md5": "md5"}[self.algorithm]


def _new_hasher(algorithm: Algorithm) -> hashlib._Hash:
    # md5 here detects corruption, not tampering; saying so keeps FIPS-mode Pythons from refusing it.
    return hashlib.md5(usedforsecurity=False) if algorithm == "md5" else hashlib.sha256()


def checksum_from_filename(filename: str) -> Checksum | None:
    """torchvision's check: the hex after ``-`` and before ``.`` (torch.hub's ``HASH_REGEX.search``), if any."""
    match = HASH_REGEX.search(filename)
    # torch treats an empty group as a prefix every digest has; we say "no checksum" instead, which is the same.
    return Checksum("sha256-prefix", match.group(1)) if match and match.group(1) else None


def checksum_error(path: Path, checksum: Checksum, actual: str, subject: str, outcome: str = "") -> ChecksumError:
    """The error for bytes that fail `checksum`: ``<subject> failed its <label> check (expected …, got …)<outcome>.``"""
    return ChecksumError(
        f"{subject} failed its {checksum.label} check (expected {checksum.value}, got {actual}){outcome}.",
        path=path, expected=checksum.value, actual=actual, algorithm=checksum.algorithm,
    )


def file_digest(path: Path, algorithm: Algorithm) -> str:
    """Hex digest of a file, read in chunks so a 500 MB checkpoint never sits in memory."""
    hasher = _new_hasher(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(_READ_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def verify(path: Path, checksum: Checksum) -> None:
    """Raise :class:`ChecksumError` (with ``expected`` and ``actual``) unless ``path``'s bytes match ``checksum``."""
    actual = file_digest(path, checksum.algorithm)
    if not checksum.matches(actual):
        raise checksum_error(path, checksum, actual, f"File {path}")


#: Files already verified in this process, keyed by identity and checksum, so a Streamlit rerun does not re-hash
#: a 170 MB file every time. A rewrite changes size/mtime/inode and so forces a new check.
_verified: set[tuple[str, int, int, int, Checksum]] = set()


def _verified_key(path: Path, checksum: Checksum) -> tuple[str, int, int, int, Checksum]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino, checksum)


def verify_cached(path: Path, checksum: Checksum) -> None:
    """:func:`verify`, skipped for a file version already verified in this process."""
    key = _verified_key(path, checksum)
    if key not in _verified:
        verify(path, checksum)
        _verified.add(key)


def mark_verified(path: Path, checksum: Checksum) -> None:
    """Record that `path` matched `checksum` (its bytes were hashed while they were written)."""
    _verified.add(_verified_key(path, checksum))


#: sha256 of local files already hashed in this process, by identity (as `_verified`), for `content_digest`.
_digests: dict[tuple[str, int, int, int], str] = {}


def content_digest(path: Path) -> str:
    """The sha256 of a local file, hashed once per file version: what a weights file *is*, whatever its name.

    The model cache keys a user's weights file by it, so a file rewritten in place (or another file saved
    under the same name) is never served the model loaded from the old bytes.
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _digests:
        _digests[key] = file_digest(path, "sha256")
    return _digests[key]


def remember_digest(path: Path, digest: str) -> None:
    """Record a digest computed while writing `path` (an upload), so it is not hashed a second time."""
    st = path.stat()
    _digests[(str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)] = digest


def parse_md5sum(text: str) -> str:
    """The md5 in an ``md5sum`` line (``<md5>  <filename>``) or a bare hash; ValueError if there is none."""
    first = text.strip().split(maxsplit=1)[0].lower() if text.strip() else ""
    if not re.fullmatch(r"[0-9a-f]{32}", first):
        raise ValueError(f"not an md5sum: {text[:80]!r}")
    return first


def md5sum_url(url: str) -> str:
    """Detectron publishes each file's md5 at the same URL with ``.md5sum`` appended."""
    return url + ".md5sum"


def md5sum_text(md5: str, filename: str) -> str:
    """An ``md5sum`` line, as the tool writes it and `parse_md5sum` reads it."""
    return f"{md5}  {filename}\n"


def md5_sidecar(path: Path) -> Path:
    """Where a fetched md5 is kept beside the cached file ``path``, so the file can be re-checked offline."""
    return path.with_name(path.name + ".md5sum")


def read_md5_sidecar(path: Path) -> Checksum | None:
    """The md5 kept beside ``path``, or None when there is none (or it is unreadable: the file is then unchecked)."""
    try:
        return Checksum("md5", parse_md5sum(md5_sidecar(path).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
