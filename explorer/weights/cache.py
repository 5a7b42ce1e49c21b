"""The cache's promise: `ensure_weights` hands out a complete, verified file, or says exactly what to do instead.

* A user-given file wins and needs no network (it may rightly be fine-tuned or converted, so no zoo checksum).
* A cached file is re-checked (against its name's sha256 prefix, or the md5 kept beside it as ``<file>.md5sum``, or
  for a file published without a checksum the size and sha256 recorded at its first download, ``<file>.sha256``);
  one that fails is moved aside to ``<file>.corrupt`` (and the caller is told), then downloaded again when the
  network may be used (a recorded file's new copy must match the record).
* ``offline=True`` or ``EXPLORER_OFFLINE=1`` forbids the network: a cached or user-given file still works, and a
  missing one raises :class:`WeightsUnavailableError`, whose message says which URL to save where.
* The check-then-download runs under an inter-process lock (`cache_lock`, a `filelock` lock), so several sweep
  actors or app sessions asking for one checkpoint fetch it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock

from explorer.weights.checksums import Checksum, md5_sidecar, md5sum_text, read_md5_sidecar, verify_cached
from explorer.weights.errors import (
    ChecksumError,
    DownloadError,
    LocalWeightsError,
    WeightsError,
    WeightsUnavailableError,
)
from explorer.weights.recorded import Recorded, read_record, record_file, record_path
from explorer.weights.sources import ENV_OFFLINE, WeightsSource, explorer_cache_dir, offline_forced
from explorer.weights.transport import DEFAULT_TIMEOUT_S, ProgressCallback, download, fetch_md5_file, write_atomic

log = logging.getLogger(__name__)

#: Receives one user-facing sentence about something worth knowing that is not an error (a corrupt cache file).
NoticeCallback = Callable[[str], None]


def _known_checksum(source: WeightsSource) -> Checksum | None:
    """The published checksum, or for a file whose md5 is fetched at download time, the md5 kept beside it."""
    if source.checksum or not source.checksum_url:
        return source.checksum
    return read_md5_sidecar(source.path)


def _use_local(path: Path, source: WeightsSource) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise LocalWeightsError(f"Weights file {path} given for {source.description} does not exist or is not a file.")
    if path.stat().st_size == 0:
        raise LocalWeightsError(f"Weights file {path} given for {source.description} is empty.")
    return path


def _cached_problem(path: Path, checksum: Checksum | None, recorded: Recorded | None = None) -> str | None:
    """Why a cached file must not be used, or None if it is good."""
    if path.stat().st_size == 0:
        return "is empty"
    if recorded is not None:
        checksum = recorded.checksum
        problem = recorded.problem(path)
        if problem:
            return problem
        try:
            verify_cached(path, checksum)
        except ChecksumError as err:
            return (f"failed its sha256 check against the record of its first download (expected {err.expected}, "
                    f"got {err.actual})")
        return None
    if checksum:
        try:
            verify_cached(path, checksum)
        except ChecksumError as err:
            return f"failed its {checksum.label} check (expected {err.expected}, got {err.actual})"
    return None


def _check_cached(source: WeightsSource, notice: NoticeCallback) -> tuple[bool, str | None]:
    """(usable, why not): a cached file is usable if non-empty and matching its checksum; a bad one is moved aside."""
    path = source.path
    if not path.is_file():
        return False, None
    recorded = read_record(path) if source.record_digest else None
    problem = _cached_problem(path, _known_checksum(source), recorded)
    if problem is None:
        if source.record_digest and recorded is None:  # put in the cache by hand (as WeightsUnavailableError asks)
            record_file(path)
            notice(f"Recorded the size and sha256 of {path} (Detectron2 publishes no checksum); later reads are "
                   f"checked against {record_path(path).name}.")
        return True, None
    corrupt = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, corrupt)
    except OSError as err:
        raise WeightsError(f"The cached weights {path} {problem}, and could not be moved aside ({err}).") from err
    notice(f"The cached weights {path} {problem}; moved it to {corrupt.name} and will not use it.")
    return False, f"the cached copy {problem} and was moved to {corrupt.name}"


def _download_source(
    source: WeightsSource,
    *,
    progress: ProgressCallback | None,
    timeout: float,
    max_bytes: int | None,
    max_seconds: float | None,
    notice: NoticeCallback,
) -> Path:
    if source.record_digest:
        return _download_recorded(source, progress=progress, timeout=timeout, max_bytes=max_bytes,
                                  max_seconds=max_seconds)
    checksum = source.checksum
    if checksum is None and source.checksum_url:
        try:
            checksum = Checksum("md5", fetch_md5_file(source.checksum_url, timeout))
        except DownloadError as err:
            if err.status != 404:
                raise
            notice(f"No md5sum is published at {source.checksum_url}; the download cannot be verified.")
            md5_sidecar(source.path).unlink(missing_ok=True)  # an older md5 must not judge the new, unverified file
    path = download(source.url, source.path, checksum=checksum, progress=progress, timeout=timeout,
                    max_bytes=max_bytes, max_seconds=max_seconds)
    if checksum and source.checksum is None:
        with contextlib.suppress(OSError):  # only costs the offline re-check; the file itself was verified
            write_atomic(md5_sidecar(source.path), md5sum_text(checksum.value, source.filename).encode())
    return path


def _download_recorded(
    source: WeightsSource,
    *,
    progress: ProgressCallback | None,
    timeout: float,
    max_bytes: int | None,
    max_seconds: float | None,
) -> Path:
    """Download a file published without a checksum: verified against its record if one exists, else recorded."""
    recorded = read_record(source.path)
    try:
        path = download(source.url, source.path, checksum=recorded.checksum if recorded else None,
                        progress=progress, timeout=timeout, max_bytes=max_bytes, max_seconds=max_seconds)
    except ChecksumError as err:
        raise ChecksumError(
            f"{str(err).rstrip('.')}: the expected sha256 is the one recorded at this file's first download "
            f"({record_path(source.path)}), as its publisher gives no checksum. If the file was republished, "
            "delete that record to accept the new one.",
            path=err.path, expected=err.expected, actual=err.actual, algorithm=err.algorithm) from err
    if recorded is None:
        record_file(path)
    return path


def ensure_weights(
    source: WeightsSource,
    *,
    local_path: Path | str | None = None,
    progress: ProgressCallback | None = None,
    offline: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
    notice: NoticeCallback | None = None,
    local_hint: str = "pass --weights FILE",
) -> Path:
    """Return a path to usable weights for ``source``, downloading them if needed and allowed.

    * ``local_path`` (the user's ``--weights FILE``) wins and needs no network. It is used as-is, not checked
      against the zoo's checksum, because a user may rightly pass fine-tuned or converted weights; it must exist
      and be non-empty, else :class:`LocalWeightsError`.
    * A cached file is verified (once per process per file version) and used; one that fails is moved to
      ``<file>.corrupt``, ``notice`` is told (default: a logging warning), and it is downloaded again.
    * Otherwise it is downloaded unless ``offline`` or ``EXPLORER_OFFLINE`` is set. When that is not possible
      :class:`WeightsUnavailableError` says which URL to save where (``local_hint`` ends that sentence; pass ""
      to drop it). A download whose bytes fail the checksum raises :class:`ChecksumError`.
    """
    say = notice or log.warning
    if local_path is not None:
        return _use_local(Path(local_path), source)
    with cache_lock(source.path):
        usable, why_not = _check_cached(source, say)
        if usable:
            return source.path
        if offline or offline_forced():
            reason = f"offline mode is on ({ENV_OFFLINE}=1)" if offline_forced() else "offline mode is on"
            raise WeightsUnavailableError(source, f"{why_not}; {reason}" if why_not else reason, local_hint)
        try:
            return _download_source(source, progress=progress, timeout=timeout, max_bytes=max_bytes,
                                    max_seconds=max_seconds, notice=say)
        except DownloadError as err:
            raise WeightsUnavailableError(source, str(err).rstrip("."), local_hint) from err


@contextlib.contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold an inter-process lock on `path` for a check-then-create (download, conversion), so one process does it.

    Several sweep actors on one machine (or several app sessions) asking for the same checkpoint would
    each fetch (or convert) all of it; with the lock the others wait and then find it cached. Lock files live in
    `<explorer cache>/locks/`, not beside the checkpoint (so a read-only checkpoint folder still locks). Where no
    lock can be taken (a read-only cache) it goes on without one: concurrent downloads are still safe (atomic
    renames), only wasteful.
    """
    lock = _acquired_lock(path)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _acquired_lock(path: Path) -> FileLock | None:
    """A fresh lock on `path`, held; None where none can be taken. Named by the path's hash (any length, any
    character)."""
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32] + ".lock"
    lock = FileLock(explorer_cache_dir() / "locks" / name)
    try:
        lock.acquire()
    except OSError:
        return None
    return lock
