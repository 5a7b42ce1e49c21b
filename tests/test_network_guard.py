"""The suite's network guard itself: outside addresses fail, loopback works."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.conftest import NetworkAccessError


def test_outside_address_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(NetworkAccessError):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        thread = threading.Thread(target=lambda: server.accept()[0].close())
        thread.start()
        with socket.socket() as client:
            client.connect(server.getsockname())
        thread.join(timeout=5)
