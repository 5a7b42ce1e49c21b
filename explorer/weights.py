"""Weights manager: find, download and verify model checkpoints, never handing out a partial or corrupt file.

Where files go
    * torchvision checkpoints live in torch.hub's cache, ``$TORCH_HOME/hub/checkpoints`` (``TORCH_HOME`` defaults to
      ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``), under the same name ``torch.hub.load_state_dict_from_url``
      gives them, so a file torchvision already downloaded is reused and the other way round.
    * Detectron (and other non-torchvision) files live in ``$EXPLORER_CACHE`` (default
      ``~/.cache/detectron-zoo-explorer``), as ``<zoo>/<model id>/<file name>``: every Detectron checkpoint is called
      ``model_final.pkl``, so the model id keeps them apart.

How a file is trusted
    * torchvision names its files ``<name>-<sha256 prefix>.pth``; the prefix is checked exactly as ``torch.hub`` does
      (``HASH_REGEX`` below is torch.hub's), so we accept what torch would accept.
    * Detectron publishes an md5 beside each file at ``<url>.md5sum``; it is fetched before the download, checked
      against the streamed bytes, and kept as ``<file>.md5sum`` next to the cached file so the cached copy can be
      re-checked offline.
    * A download goes to ``<file>.part-<random>`` in the cache directory, is hashed while it streams, fsynced, and only
      then renamed onto ``<file>`` (atomic on one file system). Any failure, Ctrl-C included, deletes the part file.
    * A cached file that fails its check is moved aside to ``<file>.corrupt`` (and the caller is told), then
      downloaded again when the network may be used.

Offline
    ``offline=True`` or ``EXPLORER_OFFLINE=1`` forbids the network: a cached or user-given file still works, and a
    missing one raises :class:`WeightsUnavailableError`, whose message says which URL to save where.

Every error raised here derives from :class:`WeightsError`, and its ``str()`` is a complete sentence meant for the
user (the page and the CLI show it instead of a traceback).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import IO, BinaryIO, Literal
from urllib.parse import unquote, urlparse

from explorer import __version__
from explorer.errors import ExplorerError

log = logging.getLogger(__name__)

#: ``progress(bytes_done, bytes_total_or_None)``; the last call of a finished download always has done == total.
ProgressCallback = Callable[[int, int | None], None]
#: Receives one user-facing sentence about something worth knowing that is not an error (a corrupt cache file).
NoticeCallback = Callable[[str], None]

Algorithm = Literal["sha256-prefix", "sha256", "md5"]

#: torch.hub's own pattern for the sha256 prefix in a checkpoint's file name (torch/hub.py, ``HASH_REGEX``).
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")

ENV_CACHE = "EXPLORER_CACHE"
ENV_OFFLINE = "EXPLORER_OFFLINE"
DEFAULT_TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_PROGRESS_EVERY_S = 0.1
_MD5SUM_MAX_BYTES = 4096
_USER_AGENT = f"detectron-zoo-explorer/{__version__} (+urllib)"
_MB = 1_000_000


# --------------------------------------------------------------------------------------------------- errors


class WeightsError(ExplorerError):
    """Base of every error here; ``str(error)`` is a complete, user-facing sentence."""


class DownloadError(WeightsError):
    """The download itself failed: HTTP error, unreachable host, timeout, truncated body, size limit."""

    def __init__(self, message: str, url: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status  # the HTTP status when the server answered with an error


class ChecksumError(WeightsError):
    """A file's bytes do not match the published checksum."""

    def __init__(self, message: str, *, path: Path, expected: str, actual: str, algorithm: str) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual
        self.algorithm = algorithm


class WeightsUnavailableError(WeightsError):
    """No usable file: not cached and the network is off or the download failed. Says which file to put where."""

    def __init__(self, source: WeightsSource, reason: str, local_hint: str = "pass --weights FILE") -> None:
        self.source = source
        self.reason = reason
        hint = f", or {local_hint}" if local_hint else ""
        super().__init__(
            f"Weights for {source.description} are not cached and could not be downloaded ({reason}). "
            f"Download {source.url} and save it as {source.path}{hint}."
        )


class LocalWeightsError(WeightsError):
    """A user-given weights file is missing, not a file, or empty."""


# --------------------------------------------------------------------------------------------------- checksums


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


def _checksum_error(path: Path, checksum: Checksum, actual: str, subject: str, outcome: str = "") -> ChecksumError:
    return ChecksumError(
        f"{subject} failed its {checksum.label} check (expected {checksum.value}, got {actual}){outcome}.",
        path=path, expected=checksum.value, actual=actual, algorithm=checksum.algorithm,
    )


def file_digest(path: Path, algorithm: Algorithm) -> str:
    """Hex digest of a file, read in chunks so a 500 MB checkpoint never sits in memory."""
    hasher = _new_hasher(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def verify(path: Path, checksum: Checksum) -> None:
    """Raise :class:`ChecksumError` (with ``expected`` and ``actual``) unless ``path``'s bytes match ``checksum``."""
    actual = file_digest(path, checksum.algorithm)
    if not checksum.matches(actual):
        raise _checksum_error(path, checksum, actual, f"File {path}")


#: Files already verified in this process, keyed by identity and checksum, so a Streamlit rerun does not re-hash
#: a 170 MB file every time. A rewrite changes size/mtime/inode and so forces a new check.
_verified: set[tuple[str, int, int, int, Checksum]] = set()


def _verified_key(path: Path, checksum: Checksum) -> tuple[str, int, int, int, Checksum]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino, checksum)


def _verify_cached(path: Path, checksum: Checksum) -> None:
    key = _verified_key(path, checksum)
    if key not in _verified:
        verify(path, checksum)
        _verified.add(key)


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


def fetch_md5sum(url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Fetch and parse the md5 published for ``url`` (the weights URL, not the .md5sum URL)."""
    return _fetch_md5_at(md5sum_url(url), timeout)


def _fetch_md5_at(sum_url: str, timeout: float) -> str:
    with _open(sum_url, timeout) as response:
        text = _read_call(sum_url, timeout, lambda: response.read(_MD5SUM_MAX_BYTES + 1))
    if len(text) > _MD5SUM_MAX_BYTES:
        raise DownloadError(f"{sum_url} is too large to be an md5sum file.", sum_url)
    try:
        return parse_md5sum(text.decode("utf-8", errors="replace"))
    except ValueError:
        raise DownloadError(f"{sum_url} does not contain an md5 checksum.", sum_url) from None


# --------------------------------------------------------------------------------------------------- cache dirs


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def offline_forced() -> bool:
    """``EXPLORER_OFFLINE=1`` (or true/yes/on) forbids every download, whatever the caller asks."""
    return _truthy(os.environ.get(ENV_OFFLINE))


def torch_hub_checkpoint_dir() -> Path:
    """torch.hub's checkpoint directory, computed exactly as torch.hub's ``_get_torch_home`` (without importing torch).

    Like torch, a variable set to "" counts as set; matching torch matters more here than tidiness.
    """
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def explorer_cache_dir() -> Path:
    """Cache for files torch.hub does not manage: ``$EXPLORER_CACHE``, else ``~/.cache/detectron-zoo-explorer``."""
    return Path(os.path.expanduser(os.environ.get(ENV_CACHE) or "~/.cache/detectron-zoo-explorer"))


def checkpoint_limit_bytes() -> int:
    """Largest checkpoint accepted, from EXPLORER_MAX_CHECKPOINT_MB (default 2000 MB; the X-152 is ~600 MB)."""
    return int(float(os.environ.get("EXPLORER_MAX_CHECKPOINT_MB", "2000")) * 1e6)


# --------------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class WeightsSource:
    """Where one model's weights come from and where they are cached.

    ``checksum`` is known up front (torchvision: from the file name; Detectron: when the caller has the md5).
    ``checksum_url``, when set and ``checksum`` is None, is an md5sum file fetched before downloading.
    """

    url: str
    filename: str
    cache_dir: Path
    checksum: Checksum | None
    description: str
    checksum_url: str | None = None

    @property
    def path(self) -> Path:
        return self.cache_dir / self.filename


def torchvision_source(url: str, description: str) -> WeightsSource:
    """A torchvision checkpoint: torch.hub's file name and directory, sha256 prefix from the name."""
    filename = os.path.basename(urlparse(url).path)  # the name torch.hub.load_state_dict_from_url uses
    if not filename:
        raise ValueError(f"no file name in URL {url!r}")
    return WeightsSource(url, filename, torch_hub_checkpoint_dir(), checksum_from_filename(filename), description)


def detectron_source(
    url: str, model_id: str, description: str, md5: str | None = None, *, zoo: str = "detectron"
) -> WeightsSource:
    """A Detectron-style checkpoint in ``$EXPLORER_CACHE/<zoo>/<model_id>/``, checked against its md5.

    Without ``md5`` the published ``<url>.md5sum`` is fetched at download time.
    """
    filename = unquote(os.path.basename(urlparse(url).path))
    for part in (zoo, model_id, filename):
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise ValueError(f"unusable cache path component {part!r} for {url!r}")
    checksum = Checksum("md5", md5) if md5 else None
    return WeightsSource(
        url, filename, explorer_cache_dir() / zoo / model_id, checksum, description,
        checksum_url=None if md5 else md5sum_url(url),
    )


# --------------------------------------------------------------------------------------------------- download


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
                raise _checksum_error(dest, checksum, actual, f"The file downloaded from {url}", "; not saved")
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
        _verified.add(_verified_key(dest, checksum))
    return dest


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it: readers see the old file or the new, never a
    part (sidecars here, uploaded weights in explorer.inputs.uploads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{path.name}.part-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------- ensure


def _sidecar(source: WeightsSource) -> Path:
    """Where a fetched md5 is kept beside the cached file, so the file can be re-checked offline."""
    return source.path.with_name(source.filename + ".md5sum")


def _known_checksum(source: WeightsSource) -> Checksum | None:
    if source.checksum or not source.checksum_url:
        return source.checksum
    try:
        return Checksum("md5", parse_md5sum(_sidecar(source).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _use_local(path: Path, source: WeightsSource) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise LocalWeightsError(f"Weights file {path} given for {source.description} does not exist or is not a file.")
    if path.stat().st_size == 0:
        raise LocalWeightsError(f"Weights file {path} given for {source.description} is empty.")
    return path


def _cached_problem(path: Path, checksum: Checksum | None) -> str | None:
    """Why a cached file must not be used, or None if it is good."""
    if path.stat().st_size == 0:
        return "is empty"
    if checksum:
        try:
            _verify_cached(path, checksum)
        except ChecksumError as err:
            return f"failed its {checksum.label} check (expected {err.expected}, got {err.actual})"
    return None


def _check_cached(source: WeightsSource, notice: NoticeCallback) -> tuple[bool, str | None]:
    """(usable, why not): a cached file is usable if non-empty and matching its checksum; a bad one is moved aside."""
    path = source.path
    if not path.is_file():
        return False, None
    problem = _cached_problem(path, _known_checksum(source))
    if problem is None:
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
    checksum = source.checksum
    if checksum is None and source.checksum_url:
        try:
            checksum = Checksum("md5", _fetch_md5_at(source.checksum_url, timeout))
        except DownloadError as err:
            if err.status != 404:
                raise
            notice(f"No md5sum is published at {source.checksum_url}; the download cannot be verified.")
            _sidecar(source).unlink(missing_ok=True)  # an older md5 must not judge the new, unverified file
    path = download(source.url, source.path, checksum=checksum, progress=progress, timeout=timeout,
                    max_bytes=max_bytes, max_seconds=max_seconds)
    if checksum and source.checksum is None:
        with contextlib.suppress(OSError):  # only costs the offline re-check; the file itself was verified
            write_atomic(_sidecar(source), f"{checksum.value}  {source.filename}\n".encode())
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
    `<explorer cache>/locks/`, not beside the checkpoint. Where no lock can be taken (no `fcntl`, a
    read-only cache) it goes on without one: concurrent downloads are still safe (atomic renames), only
    wasteful.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32] + ".lock"
    try:
        locks = explorer_cache_dir() / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        handle = open(locks / name, "a+b")  # noqa: SIM115 - held across the yield, closed below
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------------- CLI progress


class _CliProgress:
    """The callback :func:`cli_progress` returns; a class so its drawing state is explicit."""

    def __init__(self, out: IO[str], label: str, width: int) -> None:
        self.out, self.width = out, width
        self.prefix = f"{label} " if label else ""
        self.is_tty = bool(getattr(out, "isatty", lambda: False)())
        self.last_draw = 0.0
        self.last_decile = -1
        self.finished = False

    def line(self, done: int, total: int | None) -> str:
        if not total:
            return f"{self.prefix}{done / _MB:.1f} MB"
        frac = min(done / total, 1.0)
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        return f"{self.prefix}[{bar}] {frac * 100:3.0f}%  {done / _MB:.1f}/{total / _MB:.1f} MB"

    def __call__(self, done: int, total: int | None) -> None:
        if self.finished and done == 0:  # the next file of the same load (a proposal model's checkpoint)
            self.finished, self.last_decile, self.last_draw = False, -1, 0.0
        if self.finished:
            return
        self.finished = total is not None and done >= total
        if self.is_tty:
            now = time.monotonic()
            if self.finished or now - self.last_draw >= _PROGRESS_EVERY_S:
                self.out.write("\r" + self.line(done, total) + ("\n" if self.finished else ""))
                self.last_draw = now
        else:
            decile = done * 10 // total if total else -1
            if not (self.finished or decile > self.last_decile):
                return
            self.out.write(self.line(done, total) + "\n")
            self.last_decile = decile
        self.out.flush()


def cli_progress(stream: IO[str] | None = None, *, label: str = "", width: int = 30) -> ProgressCallback:
    """A progress callback that draws ``label [#####-----]  52%  88.0/170.0 MB`` on ``stream`` (default stderr).

    On a terminal it redraws one line in place (at most 10 times a second) and ends it when the download completes;
    elsewhere (a log file, CI) it prints a line at every 10 %, so logs stay short. No tqdm needed.
    """
    return _CliProgress(stream if stream is not None else sys.stderr, label, width)
