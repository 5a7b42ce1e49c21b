"""Download faults against a local HTTP server: each ends in a clear WeightsError, leaves nothing in the cache that
could pass for a good file, and a retry once the fault is gone yields a file whose checksum verifies."""

from __future__ import annotations

import errno
import hashlib
import os
import random
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from explorer.weights import checksums, transport
from explorer.weights.cache import ensure_weights
from explorer.weights.checksums import verify
from explorer.weights.errors import WeightsError
from explorer.weights.sources import torchvision_source
from tests.local_http import LocalServer, private_weights_caches, serving

PAYLOAD = random.Random(1).randbytes(200_000)
NAME = f"tiny_fault-{hashlib.sha256(PAYLOAD).hexdigest()[:8]}.pth"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.close_connection = True
        fault = self.server.fault
        if fault == "http500":
            self.send_error(500)
            return
        if fault == "slow" and self.server.stopping.wait(3):
            return
        body = PAYLOAD[: len(PAYLOAD) // 2] if fault == "interrupted" else PAYLOAD
        if fault == "wrong bytes":
            body = bytes(reversed(PAYLOAD))
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class _Server(LocalServer):
    fault: str | None


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server, _Handler) as srv:
        srv.fault = None
        yield srv


@pytest.fixture(autouse=True)
def _caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private_weights_caches(tmp_path, monkeypatch)


def _root_ignores_chmod(directory: Path) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o500)
    try:
        (directory / "probe").write_bytes(b"x")
    except PermissionError:
        return False
    finally:
        directory.chmod(0o700)
    (directory / "probe").unlink()
    return True


def _disk_full(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Callable[[], None]:
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, file: Any) -> None:
            self.file = file

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.file, name)

    monkeypatch.setattr(transport.os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    return lambda: monkeypatch.setattr(transport.os, "fdopen", real_fdopen)


def _read_only(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Callable[[], None]:
    if not _root_ignores_chmod(directory):
        directory.chmod(0o500)
        return lambda: directory.chmod(0o700)
    real_replace = os.replace

    def replace(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(transport.os, "replace", replace)
    return lambda: monkeypatch.setattr(transport.os, "replace", real_replace)


#: fault -> (how the server misbehaves, or how to break the disk; words the message must contain)
FAULTS: dict[str, tuple[str | None, Callable[..., Callable[[], None]] | None, str]] = {
    "interrupted halfway": ("interrupted", None, f"cut off: got {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"),
    "wrong bytes": ("wrong bytes", None, "failed its sha256 prefix check"),
    "HTTP 500": ("http500", None, "HTTP 500"),
    "slow server": ("slow", None, "Timed out after 0.5 s"),
    "read-only cache": (None, _read_only, "Permission denied"),
    "disk full": (None, _disk_full, "No space left on device"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_clear_leaves_nothing_and_retry_works(fault: str, server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                       capsys) -> None:
    serve, break_disk, words = FAULTS[fault]
    source = torchvision_source(server.url(f"/m/{NAME}"), "tiny fault model")
    cache = source.cache_dir
    server.fault = serve
    repair = break_disk(monkeypatch, cache) if break_disk else None
    with pytest.raises(WeightsError) as caught:
        ensure_weights(source, timeout=0.5, notice=lambda message: None)
    message = str(caught.value)
    assert words in message and str(source.url) in message, message
    if repair:
        repair()
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert left == [], f"{fault} left {left} in the cache"
    server.fault = None
    path = ensure_weights(source, timeout=5)
    assert path == source.path and path.read_bytes() == PAYLOAD
    assert source.checksum is not None
    checksums._verified.clear()
    verify(path, source.checksum)
    assert sorted(p.name for p in cache.iterdir()) == [NAME]
    with capsys.disabled():
        print(f"\nfault {fault!r}: {type(caught.value).__name__}: {message[:110]}...; retry verified")
