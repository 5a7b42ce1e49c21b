"""A throwaway HTTP server on 127.0.0.1 for download tests, and per-test weights caches.

Tests never reach the network: each serves its own files (good, truncated, slow, failing) from here.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from explorer.weights import checksums


class LocalServer(ThreadingHTTPServer):
    """A threaded server on a free loopback port; `stopping` lets slow handlers give up at shutdown."""

    stopping: threading.Event

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path.lstrip('/')}"

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-body is what several tests do on purpose; anything else is still printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


@contextmanager
def serving(server_class: type[LocalServer], handler: type[BaseHTTPRequestHandler]) -> Iterator[LocalServer]:
    """Run `server_class` with `handler` in a thread for the duration of the block."""
    server = server_class(("127.0.0.1", 0), handler)
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if not server.stopping.is_set():
            server.stop()
        thread.join(5)


def private_weights_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Private caches per test, online, and no memory of files verified by an earlier test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "explorer"))
    monkeypatch.delenv("EXPLORER_OFFLINE", raising=False)
    monkeypatch.setattr(checksums, "_verified", set())
