"""Bytes over HTTP into the cache: one download, streamed, bounded and atomic, with errors a user can act on.

* A download goes to ``<file>.part-<random>`` in the cache directory, is hashed while it streams, fsynced, and only
  then renamed onto ``<file>`` (atomic on one file system). Any failure, Ctrl-C included, deletes the part file.
* ``timeout`` bounds connecting and each read, ``max_seconds`` the whole download (urllib has no deadline), and
  ``max_bytes`` the file's size, from Content-Length up front or while streaming (urllib has no size cap).
* HTTP errors, unreachable hosts, timeouts and truncated bodies become :class:`DownloadError`, whose message names
  the URL and what went wrong; a full or read-only disk says so, naming the file it could not save.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import IO, BinaryIO

from explorer import __version__
from explorer.weights.checksums import Checksum, checksum_error, mark_verified, md5sum_url, parse_md5sum
from explorer.weights.errors import DownloadError

#: ``progress(bytes_done, bytes_total_or_None)``; the last call of a finished download always has done == total.
ProgressCallback = Callable[[int, int | None], None]

DEFAULT_TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_PROGRESS_EVERY_S = 0.1
_MD5SUM_MAX_BYTES = 4096
_USER_AGENT = f"detectron-zoo-explorer/{__version__} (+urllib)"
_MB = 1_000_000


def _timeout_message(url: str, timeout: float) -> str:
    return f"Timed out after {timeout:g} s (timeout) waiting for {url}."


def _open(url: str, timeout: float) -> IO[bytes]:
    """urlopen with our errors: HTTP status, unreachable host and timeouts become :class:`DownloadError`."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(f"HTTP {err.code} for {url}", url, status=err.code) from err
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise DownloadError(_timeout_message(url, timeout), url) from err
        raise DownloadError(f"Could not reach {url}: {err.reason}", url) from err
    except TimeoutError as err:
        raise DownloadError(_timeout_message(url, timeout), url) from err
    except (OSError, HTTPException) as err:
        raise DownloadError(f"Could not download {url}: {err}", url) from err


def _read_call(url: str, timeout: float, read: Callable[[], bytes]) -> bytes:
    """One read from the response, with socket errors turned into :class:`DownloadError`."""
    try:
        return read()
    except TimeoutError as err:
        raise DownloadError(_timeout_message(url, timeout), url) from err
    except (OSError, HTTPException) as err:
        raise DownloadError(f"Download of {url} failed: {err}", url) from err


def _content_length(response: IO[bytes]) -> int | None:
    value = getattr(response, "headers", {}).get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _too_large(url: str, size: int, max_bytes: int) -> DownloadError:
    return DownloadError(
        f"{url} is larger than the checkpoint size limit ({size / _MB:.1f} MB > {max_bytes / _MB:.1f} MB); "
        f"refusing to download it.", url,
    )


def _stream(
    response: IO[bytes],
    out: BinaryIO,
    url: str,
    *,
    hasher: hashlib._Hash | None,
    progress: ProgressCallback | None,
    timeout: float,
    max_bytes: int | None,
    deadline: float | None,
) -> int:
    """Copy the body to ``out``, hashing as it goes; returns the byte count after checking it is complete."""
    total = _content_length(response)
    if max_bytes is not None and total is not None and total > max_bytes:
        raise _too_large(url, total, max_bytes)
    read = getattr(response, "read1", response.read)  # read1: what is there now, so deadlines are honoured
    done, last_report = 0, time.monotonic()
    if progress:
        progress(0, total)
    while chunk := _read_call(url, timeout, lambda: read(_CHUNK)):
        done += len(chunk)
        if max_bytes is not None and done > max_bytes:
            raise _too_large(url, done, max_bytes)
        out.write(chunk)
        if hasher:
            hasher.update(chunk)
        now = time.monotonic()
        if deadline is not None and now > deadline:
            raise DownloadError(
                f"Download of {url} ran past max_seconds (stopped after {done / _MB:.1f} MB).", url
            )
        if progress and now - last_report >= _PROGRESS_EVERY_S:
            progress(done, total)
            last_report = now
    if total is not None and done != total:
        raise DownloadError(f"Download of {url} was cut off: got {done} of {total} bytes.", url)
    if done == 0:
        raise DownloadError(f"{url} sent an empty file.", url)
    if progress:
        progress(done, done)
    return done


def _write_error(url: str, dest: Path, err: OSError) -> DownloadError:
    return DownloadError(f"Could not save {url} as {dest}: {err.strerror or err}", url)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; not possible on every OS, so best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def download(
    url: str,
    dest: Path,
    *,
    checksum: Checksum | None,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``checksum`` on the streamed bytes.

    ``timeout`` bounds connecting and each read; ``max_seconds`` bounds the whole download; ``max_bytes`` refuses
    files larger than that (from Content-Length up front, or while streaming). Until the final rename the bytes
    live in ``<dest>.part-<random>``, which is deleted on any failure, KeyboardInterrupt included, so ``dest``
    either does not change or is a complete, verified file.
    """
    if timeout <= 0 or (max_seconds is not None and max_seconds <= 0):
        raise ValueError("timeout and max_seconds must be positive")
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    connect_timeout = min(timeout, max_seconds) if max_seconds is not None else timeout
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{dest.name}.part-", dir=dest.parent)
    except OSError as err:
        raise _write_error(url, dest, err) from err
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            hasher = checksum.hasher() if checksum else None
            with _open(url, connect_timeout) as response:
                _stream(response, out, url, hasher=hasher, progress=progress, timeout=timeout,
                        max_bytes=max_bytes, deadline=deadline)
            if checksum and hasher and not checksum.matches(actual := hasher.hexdigest()):
                raise checksum_error(dest, checksum, actual, f"The file downloaded from {url}", "; not saved")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache file is an ordinary file
        os.replace(tmp, dest)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):  # network errors are DownloadErrors by now: this is the disk (full, read-only)
            raise _write_error(url, dest, err) from err
        raise
    _fsync_dir(dest.parent)
    if checksum:
        mark_verified(dest, checksum)
    return dest


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it: readers see the old file or the new, never a
    part (sidecars here, uploaded weights in explorer.weights.uploads)."""
    write_atomic_with(path, lambda file: file.write(data))


def write_atomic_with(path: Path, write: Callable[[BinaryIO], object], *, durable: bool = False) -> Path:
    """Let `write` fill a temporary file beside `path`, then rename it into place: the one way a weights file is
    written (downloads stream through `download`; converted checkpoints pass `torch.save` here).

    `durable` also flushes the bytes to disk before the rename (a file that is expensive to make again).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{path.name}.part-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def fetch_md5sum(url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Fetch and parse the md5 published for ``url`` (the weights URL, not the .md5sum URL)."""
    return fetch_md5_file(md5sum_url(url), timeout)


def fetch_md5_file(sum_url: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Fetch and parse the md5sum file at ``sum_url`` itself; a page that is no md5sum is a :class:`DownloadError`."""
    with _open(sum_url, timeout) as response:
        text = _read_call(sum_url, timeout, lambda: response.read(_MD5SUM_MAX_BYTES + 1))
    if len(text) > _MD5SUM_MAX_BYTES:
        raise DownloadError(f"{sum_url} is too large to be an md5sum file.", sum_url)
    try:
        return parse_md5sum(text.decode("utf-8", errors="replace"))
    except ValueError:
        raise DownloadError(f"{sum_url} does not contain an md5 checksum.", sum_url) from None
